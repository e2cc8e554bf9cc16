package comfysim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

const (
	v0364 = "0.3.64"
	v0210 = "0.21.0"

	maxHistory    = 10000
	maxUploadSize = 100 * 1024 * 1024
)

// Server is one simulated ComfyUI server: HTTP + WebSocket front, prompt queue and a
// single worker that executes prompts, as ComfyUI's prompt_worker thread does.
type Server struct {
	cfg      Config
	log      *logger
	defs     map[string]*nodeDef
	defOrder []*nodeDef
	hub      *hub
	outDir   string
	inDir    string
	tempDir  string
	ownDir   string // removed by Close when the simulator created it
	faults   faults
	exit     func(int)
	handler  http.Handler

	rngMu sync.Mutex
	rng   *mrand.Rand

	interrupt atomic.Bool
	dropDone  atomic.Bool

	ctx       context.Context
	cancel    context.CancelFunc
	workerWG  sync.WaitGroup
	closeOnce sync.Once

	mu               sync.Mutex
	number           int64
	seq              int
	pending          []*queueItem
	running          *queueItem
	historyOrder     []string
	history          map[string]obj
	cache            map[string]*cacheEntry
	loaded           map[string]float64 // model class -> MB loaded in VRAM
	currentClient    string
	hasCurrentClient bool
	lastNode         string
	freeUnload       bool
	freeMemory       bool
	wake             chan struct{}
	lastStall        time.Time
}

// New builds a server from cfg and starts its prompt worker. Call Close (or let Serve's
// context end) to stop it.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	f, err := parseFaults(cfg.Faults)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: &logger{w: cfg.Log}, hub: newHub(), faults: f, exit: os.Exit,
		defs: map[string]*nodeDef{}, history: map[string]obj{}, cache: map[string]*cacheEntry{},
		loaded: map[string]float64{}, wake: make(chan struct{}, 1),
		rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 0x51)),
	}
	for _, d := range append(nodeDefs(cfg.ComfyVersion), fillerDefs(cfg.ComfyVersion, cfg.ExtraNodes)...) {
		s.defs[d.class] = d
		s.defOrder = append(s.defOrder, d)
	}
	base, err := os.MkdirTemp("", "comfysim-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	s.ownDir = base
	s.outDir = cfg.OutputDir
	if s.outDir == "" {
		s.outDir = filepath.Join(base, "output")
	}
	if s.outDir, err = filepath.Abs(s.outDir); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	s.inDir, s.tempDir = filepath.Join(base, "input"), filepath.Join(base, "temp")
	for _, d := range []string{s.outDir, s.inDir, s.tempDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			_ = os.RemoveAll(base)
			return nil, fmt.Errorf("create directory: %w", err)
		}
	}
	s.handler = s.routes()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.workerWG.Add(1)
	go s.worker()
	return s, nil
}

// OutputDir is the directory SaveImage writes into.
func (s *Server) OutputDir() string { return s.outDir }

// Handler serves every route of the simulated server (for httptest in other packages).
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the worker, closes every WebSocket and removes the directories the simulator
// created itself (not a --output-directory it was given).
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.workerWG.Wait()
		s.hub.closeAll()
		_ = os.RemoveAll(s.ownDir)
	})
	return nil
}

// Serve answers on ln until ctx is done, then shuts down and closes the server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	case err := <-errc:
		_ = s.Close()
		return fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.hub.closeAll()
	_ = hs.Shutdown(sctx)
	_ = s.Close()
	return nil
}

// sleep waits d, jittered by cfg.Jitter, unless the server is shutting down.
func (s *Server) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if s.cfg.Jitter > 0 {
		s.rngMu.Lock()
		f := 1 + s.cfg.Jitter*(2*s.rng.Float64()-1)
		s.rngMu.Unlock()
		d = time.Duration(float64(d) * max(f, 0))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ---------------------------------------------------------------- worker

func (s *Server) queueRemainingLocked() int {
	n := len(s.pending)
	if s.running != nil {
		n++
	}
	return n
}

func (s *Server) broadcastStatusLocked() {
	s.hub.send("status", obj{{"status", obj{{"exec_info", obj{{"queue_remaining", s.queueRemainingLocked()}}}}}}, "", false)
}

func (s *Server) applyFreeLocked() {
	if s.freeUnload || s.freeMemory {
		clear(s.loaded)
	}
	if s.freeMemory {
		clear(s.cache)
	}
	s.freeUnload, s.freeMemory = false, false
}

func (s *Server) worker() {
	defer s.workerWG.Done()
	for {
		s.mu.Lock()
		for len(s.pending) == 0 {
			s.applyFreeLocked()
			s.mu.Unlock()
			select {
			case <-s.ctx.Done():
				return
			case <-s.wake:
			}
			s.mu.Lock()
		}
		var it *queueItem
		it, s.pending = heapPop(s.pending)
		s.running = it
		s.broadcastStatusLocked()
		s.mu.Unlock()

		start := time.Now()
		st, status, alive := s.execute(s.ctx, it)
		if !alive {
			return
		}
		if s.cfg.PostPromptStall > 0 {
			s.mu.Lock()
			if s.lastStall.IsZero() || time.Since(s.lastStall) >= s.cfg.StallEvery {
				s.lastStall = time.Now()
				s.hub.stall(s.cfg.PostPromptStall)
			}
			s.mu.Unlock()
		}
		s.mu.Lock()
		s.taskDoneLocked(it, st, status)
		s.running = nil
		s.broadcastStatusLocked()
		if st.hasClient {
			s.hub.send("executing", obj{{"node", nil}, {"prompt_id", it.id}}, st.client, true)
		}
		s.currentClient, s.hasCurrentClient, s.lastNode = "", false, ""
		s.applyFreeLocked()
		s.mu.Unlock()
		s.logf("%s", executedIn(time.Since(start)))
	}
}

func (s *Server) taskDoneLocked(it *queueItem, st *execState, status string) {
	msgs := st.messages
	if msgs == nil {
		msgs = []any{}
	}
	entry := obj{
		{"prompt", it.view()},
		{"outputs", st.ui},
		{"status", obj{{"status_str", status}, {"completed", status == "success"}, {"messages", msgs}}},
		{"meta", st.meta},
	}
	if _, exists := s.history[it.id]; !exists {
		s.historyOrder = append(s.historyOrder, it.id)
	}
	s.history[it.id] = entry
	for len(s.historyOrder) > maxHistory {
		delete(s.history, s.historyOrder[0])
		s.historyOrder = s.historyOrder[1:]
	}
}

// ---------------------------------------------------------------- HTTP

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
		if origin := r.Header.Get("Origin"); origin != "" && isLoopbackHost(r.Host) {
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

func isLoopbackHost(hostport string) bool {
	h, _ := splitHostPort(hostport)
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
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

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>ComfyUI</title></head><body>ComfyUI simulator (qwenlab comfysim)</body></html>\n")
}

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

func (s *Server) features() obj {
	f := obj{{"supports_preview_metadata", true}, {"max_upload_size", maxUploadSize}}
	if s.cfg.ComfyVersion != v0364 {
		f = append(f, kv{"extension", obj{{"manager", obj{{"supports_v4", true}}}}},
			kv{"node_replacements", true}, kv{"assets", false})
	}
	return f
}

func (s *Server) handleFeatures(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.features())
}

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, []string{})
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, modelFolders(s.cfg.ComfyVersion))
}

func (s *Server) handleModelFolder(w http.ResponseWriter, r *http.Request) {
	folder := r.PathValue("folder")
	if !contains(modelFolders(s.cfg.ComfyVersion), folder) {
		w.WriteHeader(404)
		return
	}
	writeJSON(w, 200, s.modelFiles(folder))
}

// folderDirs maps a model folder to the directories under --models it reads, as
// folder_paths does (legacy names included).
func folderDirs(folder string) []string {
	switch folder {
	case "diffusion_models":
		return []string{"diffusion_models", "unet"}
	case "text_encoders":
		return []string{"text_encoders", "clip"}
	case "checkpoints", "vae":
		return []string{folder}
	}
	return []string{folder}
}

var modelExtensions = []string{".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft", ".gguf"}

// modelFiles lists the model files of a folder (relative paths with /, sorted), reading
// --models each time; a missing directory gives an empty list.
func (s *Server) modelFiles(folder string) []string {
	files := []string{}
	seen := map[string]bool{}
	for _, m := range s.cfg.DemoModels {
		dir, rel, ok := strings.Cut(m, "/")
		if ok && contains(folderDirs(folder), dir) && !seen[rel] {
			seen[rel] = true
			files = append(files, rel)
		}
	}
	if s.cfg.ModelsDir == "" {
		sort.Strings(files)
		return files
	}
	for _, sub := range folderDirs(folder) {
		root := filepath.Join(s.cfg.ModelsDir, sub)
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if !hasModelExt(p) {
				return nil
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return nil
			}
			rel = filepath.ToSlash(rel)
			if !seen[rel] {
				seen[rel] = true
				files = append(files, rel)
			}
			return nil
		})
	}
	sort.Strings(files)
	return files
}

func hasModelExt(p string) bool {
	ext := strings.ToLower(filepath.Ext(p))
	return contains(modelExtensions, ext)
}

func (s *Server) handleObjectInfo(w http.ResponseWriter, r *http.Request) {
	out := obj{}
	for _, d := range s.defOrder {
		out = append(out, kv{d.class, s.nodeInfo(d)})
	}
	writeJSON(w, 200, out)
}

func (s *Server) handleObjectInfoClass(w http.ResponseWriter, r *http.Request) {
	out := obj{}
	if d := s.defs[r.PathValue("class")]; d != nil {
		out = obj{{d.class, s.nodeInfo(d)}}
	}
	writeJSON(w, 200, out)
}

func (s *Server) handleSystemStats(w http.ResponseWriter, r *http.Request) {
	const gib = 1 << 30
	vramTotal := int64(81079) * (1 << 20)
	s.mu.Lock()
	var used float64
	for _, mb := range s.loaded {
		used += mb
	}
	s.mu.Unlock()
	reserved := int64(used * (1 << 20))
	osName, frontend, templates, python := "posix", "1.27.10", "0.1.94", "3.12.3 (main, Aug 14 2025, 17:47:21) [GCC 13.3.0]"
	if s.cfg.ComfyVersion != v0364 {
		osName, frontend, templates, python = "linux", "1.42.11", "0.9.47", "3.12.11 (main, Jun  4 2025, 08:56:18) [GCC 12.2.0]"
	}
	host, port := s.cfg.Listen, strconv.Itoa(s.cfg.Port)
	writeJSON(w, 200, obj{
		{"system", obj{{"os", osName}, {"ram_total", int64(2003) * gib}, {"ram_free", int64(1900) * gib},
			{"comfyui_version", s.cfg.ComfyVersion}, {"required_frontend_version", frontend},
			{"installed_templates_version", nil}, {"required_templates_version", templates},
			{"python_version", python}, {"pytorch_version", "2.8.0+cu128"}, {"embedded_python", false},
			{"argv", []string{"main.py", "--listen", host, "--port", port}}}},
		{"devices", []any{obj{{"name", "cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync"}, {"type", "cuda"}, {"index", 0},
			{"vram_total", vramTotal}, {"vram_free", vramTotal - reserved}, {"torch_vram_total", reserved}, {"torch_vram_free", 0}}}},
	})
}

// handleView serves an image with ComfyUI's /view rules: 400 for an empty name, a leading
// "/" or "..", or an unknown type; 403 when the subfolder escapes the folder; 404 otherwise.
func (s *Server) handleView(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("filename") {
		w.WriteHeader(404)
		return
	}
	filename := q.Get("filename")
	var dir string
	for suffix, d := range map[string]string{" [output]": s.outDir, " [input]": s.inDir, " [temp]": s.tempDir} {
		if strings.HasSuffix(filename, suffix) {
			filename, dir = strings.TrimSuffix(filename, suffix), d
		}
	}
	if filename == "" || filename[0] == '/' || strings.Contains(filename, "..") {
		w.WriteHeader(400)
		return
	}
	if dir == "" {
		switch typ := q.Get("type"); typ {
		case "", "output":
			dir = s.outDir
		case "input":
			dir = s.inDir
		case "temp":
			dir = s.tempDir
		default:
			w.WriteHeader(400)
			return
		}
	}
	if q.Has("subfolder") {
		full := filepath.Join(dir, q.Get("subfolder"))
		if filepath.IsAbs(q.Get("subfolder")) {
			full = filepath.Clean(q.Get("subfolder"))
		}
		if commonPath(full, dir) != dir {
			w.WriteHeader(403)
			return
		}
		dir = full
	}
	name := filepath.Base(filename)
	file := filepath.Join(dir, name)
	fi, err := os.Stat(file)
	if err != nil || !fi.Mode().IsRegular() {
		w.WriteHeader(404)
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		w.WriteHeader(404)
		return
	}
	ctype := "application/octet-stream"
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png":
		ctype = "image/png"
	case ".jpg", ".jpeg":
		ctype = "image/jpeg"
	case ".webp":
		ctype = "image/webp"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf("filename=\"%s\"", name))
	_, _ = w.Write(data)
}

// ---------------------------------------------------------------- WebSocket

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(maxUploadSize)
	sid := r.URL.Query().Get("clientId")
	if sid == "" {
		sid = strings.ReplaceAll(uuid.NewString(), "-", "") // ComfyUI: uuid.uuid4().hex
	}
	c := &wsClient{id: sid, conn: conn, notify: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	s.hub.add(c)
	c.enqueue(encodeMessage("status", obj{{"status", obj{{"exec_info", obj{{"queue_remaining", s.queueRemainingLocked()}}}}}, {"sid", sid}}))
	if s.hasCurrentClient && s.currentClient == sid && s.lastNode != "" {
		c.enqueue(encodeMessage("executing", obj{{"node", s.lastNode}}))
	}
	s.mu.Unlock()
	go s.hub.writer(c)
	defer func() {
		s.hub.remove(c)
		c.close()
	}()
	first := true
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if first && mt == websocket.TextMessage {
			if v, err := decodeOrdered(data); err == nil {
				if m, ok := v.(obj); ok {
					if t, _ := m.get("type"); t == "feature_flags" {
						c.enqueue(encodeMessage("feature_flags", s.features()))
					}
				}
			}
		}
		first = false
	}
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
