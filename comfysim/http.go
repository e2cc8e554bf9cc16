package comfysim

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/qwenlab/qwenlab/internal/loopback"
)

// The HTTP front: routes, the origin check ComfyUI applies, and the JSON helpers the
// handlers share.

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern string, h http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+path, h)
		mux.HandleFunc(method+" /api"+path, h)
	}
	add("GET /{$}", s.handleIndex)
	add("GET /ws", s.handleWS)
	add("GET /prompt", s.handleGetPrompt)
	add("POST /prompt", s.handlePostPrompt)
	add("GET /queue", s.handleGetQueue)
	add("POST /queue", s.handlePostQueue)
	add("GET /history", s.handleGetHistory)
	add("GET /history/{id}", s.handleGetHistoryID)
	add("POST /history", s.handlePostHistory)
	add("GET /system_stats", s.handleSystemStats)
	add("GET /object_info", s.handleObjectInfo)
	add("GET /object_info/{class}", s.handleObjectInfoClass)
	add("GET /features", s.handleFeatures)
	add("GET /embeddings", s.handleEmbeddings)
	add("GET /extensions", s.handleEmbeddings)
	add("GET /models", s.handleModels)
	add("GET /models/{folder}", s.handleModelFolder)
	add("GET /view", s.handleView)
	add("POST /interrupt", s.handleInterrupt)
	add("POST /free", s.handleFree)
	return s.originOnly(mux)
}

// originOnly is ComfyUI's default origin check: on a loopback Host, an Origin whose host
// differs is refused with 403 (and, in 0.21, any Sec-Fetch-Site: cross-site request).
func (s *Server) originOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.ComfyVersion != v0364 && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && loopback.Host(r.Host) {
			if !sameHost(origin, r.Host) {
				w.WriteHeader(http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func splitHostPort(hp string) (string, string) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		return h, p
	}
	return strings.Trim(hp, "[]"), ""
}

func sameHost(origin, host string) bool {
	_, rest, ok := strings.Cut(origin, "://")
	if !ok {
		return false
	}
	rest, _, _ = strings.Cut(rest, "/")
	oh, op := splitHostPort(rest)
	hh, hp := splitHostPort(host)
	if oh != hh {
		return false
	}
	return op == "" || hp == "" || op == hp
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshalPy(v)
	if err != nil {
		writeServerError(w)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeServerError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, "500 Internal Server Error\n\nServer got itself in trouble")
}

func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, maxUploadSize+1))
}

// readJSONBody decodes an optional JSON object body; an empty body is an empty object.
func readJSONBody(r *http.Request) (obj, error) {
	b, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return obj{}, nil
	}
	v, err := decodeOrdered(b)
	if err != nil {
		return nil, err
	}
	o, ok := v.(obj)
	if !ok {
		return nil, errors.New("body is not a JSON object")
	}
	return o, nil
}

// writeJSONBytes answers with encoded JSON, or with the server's 500 when encoding failed.
func writeJSONBytes(w http.ResponseWriter, b []byte, err error) {
	if err != nil {
		writeServerError(w)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}

// clearDelete reads the body POST /queue and POST /history share: {"clear": true} and/or
// {"delete": [ids]}.
func clearDelete(jd obj) (clear bool, ids []string) {
	if c, ok := jd.get("clear"); ok && truthy(c) {
		clear = true
	}
	if d, ok := jd.get("delete"); ok {
		if list, ok := d.([]any); ok {
			for _, id := range list {
				ids = append(ids, pyStrValue(id))
			}
		}
	}
	return clear, ids
}

// queryInt reads an optional integer query parameter; -1 when absent.
func queryInt(v string) (int, error) {
	if v == "" {
		return -1, nil
	}
	return strconv.Atoi(v)
}
