package comfysim

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Handlers that change or read the prompt queue and its history: /prompt, /queue, /history,
// /interrupt, /free.

func (s *Server) handleGetPrompt(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := s.queueRemainingLocked()
	s.mu.Unlock()
	writeJSON(w, 200, obj{{"exec_info", obj{{"queue_remaining", n}}}})
}

func (s *Server) handlePostPrompt(w http.ResponseWriter, r *http.Request) {
	s.logf("got prompt")
	body, err := readBody(r)
	if err != nil || len(body) > maxUploadSize {
		writeServerError(w)
		return
	}
	v, err := decodeOrdered(body)
	if err != nil {
		writeServerError(w)
		return
	}
	jd, _ := v.(obj)
	var number any
	var key float64
	s.mu.Lock()
	if nv, ok := jd.get("number"); ok {
		f, ok := pyFloatOf(nv)
		if !ok {
			s.mu.Unlock()
			writeServerError(w)
			return
		}
		number, key = pyFloat(f), f
	} else {
		n := s.number
		if front, ok := jd.get("front"); ok && truthy(front) {
			n = -n
		}
		s.number++
		number, key = n, float64(n)
	}
	s.mu.Unlock()

	pv, ok := jd.get("prompt")
	if !ok {
		writeJSON(w, 400, obj{{"error", obj{{"type", "no_prompt"}, {"message", "No prompt provided"},
			{"details", "No prompt provided"}, {"extra_info", obj{}}}}, {"node_errors", obj{}}})
		return
	}
	g, err := parseGraph(pv)
	if err != nil {
		writeServerError(w)
		return
	}
	promptID := uuid.NewString()
	if idv, ok := jd.get("prompt_id"); ok {
		promptID = pyStrValue(idv)
	}
	var partial []string
	if pt, ok := jd.get("partial_execution_targets"); ok && pt != nil {
		list, ok := pt.([]any)
		if !ok {
			writeServerError(w)
			return
		}
		partial = []string{}
		for _, x := range list {
			partial = append(partial, pyStrValue(x))
		}
	}
	val := s.validatePrompt(g, partial)
	for _, line := range val.logs {
		s.logf("%s", line)
	}
	extra := obj{}
	if ev, ok := jd.get("extra_data"); ok {
		eo, ok := ev.(obj)
		if !ok {
			writeServerError(w)
			return
		}
		extra = append(extra, eo...)
	}
	if cid, ok := jd.get("client_id"); ok {
		extra.set("client_id", cid)
	}
	if !val.ok {
		s.logf("invalid prompt: %s", pyRepr(val.err))
		writeJSON(w, 400, obj{{"error", val.err}, {"node_errors", val.nodeErrors}})
		return
	}
	if s.cfg.ComfyVersion != v0364 {
		kept := obj{}
		for _, m := range extra {
			if m.K != "auth_token_comfy_org" && m.K != "api_key_comfy_org" {
				kept = append(kept, m)
			}
		}
		extra = append(kept, kv{"create_time", nowMillis()})
	}
	s.mu.Lock()
	s.seq++
	it := &queueItem{number: number, key: key, seq: s.seq, id: promptID, graph: g, extra: extra, outputs: val.outputs}
	s.pending = heapPush(s.pending, it)
	s.broadcastStatusLocked()
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	writeJSON(w, 200, obj{{"prompt_id", promptID}, {"number", number}, {"node_errors", val.nodeErrors}})
}

func pyFloatOf(v any) (float64, bool) {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		return f, err == nil || math.IsInf(f, 0)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func (s *Server) handleGetQueue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	running := []any{}
	if s.running != nil {
		running = append(running, s.running.view())
	}
	pending := []any{}
	for _, it := range s.pending {
		pending = append(pending, it.view())
	}
	b, err := marshalPy(obj{{"queue_running", running}, {"queue_pending", pending}})
	s.mu.Unlock()
	writeJSONBytes(w, b, err)
}

func (s *Server) handlePostQueue(w http.ResponseWriter, r *http.Request) {
	jd, err := readJSONBody(r)
	if err != nil {
		writeServerError(w)
		return
	}
	clear, ids := clearDelete(jd)
	s.mu.Lock()
	if clear {
		s.pending = nil
		s.broadcastStatusLocked()
	}
	for _, id := range ids {
		for i, it := range s.pending {
			if it.id == id {
				s.pending = append(s.pending[:i], s.pending[i+1:]...)
				heapify(s.pending)
				s.broadcastStatusLocked()
				break
			}
		}
	}
	s.mu.Unlock()
	w.WriteHeader(200)
}

func (s *Server) handleGetHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	maxItems, err1 := queryInt(q.Get("max_items"))
	offset, err2 := queryInt(q.Get("offset"))
	if err1 != nil || err2 != nil {
		writeServerError(w) // aiohttp's int() raises: a 500, as the real server answers
		return
	}
	s.mu.Lock()
	if offset < 0 && maxItems >= 0 {
		offset = len(s.historyOrder) - maxItems
	}
	out := obj{}
	for i, id := range s.historyOrder {
		if i >= offset {
			out = append(out, kv{id, s.history[id]})
			if maxItems >= 0 && len(out) >= maxItems {
				break
			}
		}
	}
	b, err := marshalPy(out)
	s.mu.Unlock()
	writeJSONBytes(w, b, err)
}

func (s *Server) handleGetHistoryID(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	out := obj{}
	if e, ok := s.history[id]; ok {
		out = obj{{id, e}}
	}
	b, err := marshalPy(out)
	s.mu.Unlock()
	writeJSONBytes(w, b, err)
}

func (s *Server) handlePostHistory(w http.ResponseWriter, r *http.Request) {
	jd, err := readJSONBody(r)
	if err != nil {
		writeServerError(w)
		return
	}
	clear, ids := clearDelete(jd)
	s.mu.Lock()
	if clear {
		s.history = map[string]obj{}
		s.historyOrder = nil
	}
	for _, id := range ids {
		if _, ok := s.history[id]; ok {
			delete(s.history, id)
			s.historyOrder = slices.DeleteFunc(s.historyOrder, func(x string) bool { return x == id })
		}
	}
	s.mu.Unlock()
	w.WriteHeader(200)
}

func (s *Server) handleInterrupt(w http.ResponseWriter, r *http.Request) {
	jd, err := readJSONBody(r)
	if err != nil {
		jd = obj{}
	}
	if pid, ok := jd.get("prompt_id"); ok && pid != nil {
		id := pyStrValue(pid)
		s.mu.Lock()
		running := s.running != nil && s.running.id == id
		s.mu.Unlock()
		if running {
			s.logf("Interrupting prompt %s", id)
			s.interrupt.Store(true)
		} else {
			s.logf("Prompt %s is not currently running, skipping interrupt", id)
		}
	} else {
		s.logf("Global interrupt (no prompt_id specified)")
		s.interrupt.Store(true)
	}
	w.WriteHeader(200)
}

func (s *Server) handleFree(w http.ResponseWriter, r *http.Request) {
	jd, err := readJSONBody(r)
	if err != nil {
		writeServerError(w)
		return
	}
	s.mu.Lock()
	fm, _ := jd.get("free_memory")
	free := truthy(fm)
	unload := free
	if u, ok := jd.get("unload_models"); ok {
		unload = truthy(u)
	}
	s.freeUnload = s.freeUnload || unload
	s.freeMemory = s.freeMemory || free
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	w.WriteHeader(200)
}
