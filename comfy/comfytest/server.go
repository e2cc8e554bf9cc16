// Package comfytest is a small scripted fake of a ComfyUI server for tests: an httptest
// server on 127.0.0.1 that answers /system_stats, /object_info, /prompt, /history/{id},
// /interrupt, /free, /view and /ws, and plays a scripted sequence of WebSocket messages for
// each prompt — including messages sent before the POST reply, binary frames, dropped
// sockets and hangs.
//
// It is a test double, not a simulator: it validates nothing and runs nothing. It must not
// listen beyond loopback; everything it starts ends with the test (t.Cleanup).
package comfytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/qwenlab/qwenlab/comfy"
)

// Prompt is a POST /prompt the fake received.
type Prompt struct {
	ID, ClientID string
	Number       int64
	Raw          json.RawMessage // the "prompt" member as sent
	Workflow     comfy.Workflow  // nil when Raw does not parse
}

// Step is one thing the fake does while playing a prompt. Exactly one field is meant to be set.
type Step struct {
	Type string // send the text message {"type": Type, "data": Data}
	Data any    // comfy.*Msg values with a zero Timestamp get the current time
	Raw  []byte // send this text frame as is

	Binary []byte // send this binary frame

	Reply         bool          // send the POST /prompt reply now (default: before the first step)
	History       bool          // store the /history entry now, from what was played so far
	Drop          bool          // close the client's socket abruptly
	WaitReconnect bool          // wait until the client has opened a new socket
	Hang          bool          // send nothing until POST /interrupt (this prompt or global)
	Delay         time.Duration // sleep
}

// Msg is a Step that sends one text message.
func Msg(typ string, data any) Step { return Step{Type: typ, Data: data} }

// Script says how the fake behaves. The zero Script accepts every prompt and plays
// [Success].
type Script struct {
	// Reject, when it returns a non-zero status, answers POST /prompt with it and body.
	Reject func(p Prompt) (status int, body any)
	// Steps returns what to play for an accepted prompt; nil means Success(p).
	Steps func(p Prompt) []Step
	// ObjectInfo and SystemStats are the raw replies; nil means a small default.
	ObjectInfo, SystemStats []byte
}

// Server is a running fake.
type Server struct {
	URL string

	script Script
	srv    *httptest.Server
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu         sync.Mutex
	conns      map[string]*peer // current socket per client id
	connects   int
	origins    []string
	events     []string
	prompts    []Prompt
	interrupts []string
	frees      []string
	history    map[string][]byte
	images     map[string]bool
	intr       chan struct{} // closed and replaced on every /interrupt
	number     int64
}

type peer struct {
	conn *websocket.Conn
	wmu  sync.Mutex
}

func (p *peer) write(mt int, data []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return p.conn.WriteMessage(mt, data)
}

// NewServer starts a fake on 127.0.0.1; it stops when the test ends.
func NewServer(t testing.TB, script Script) *Server {
	t.Helper()
	s := &Server{
		script:  script,
		closed:  make(chan struct{}),
		conns:   map[string]*peer{},
		history: map[string][]byte{},
		images:  map[string]bool{},
		intr:    make(chan struct{}),
	}
	mux := http.NewServeMux()
	for _, prefix := range []string{"", "/api"} {
		mux.HandleFunc("GET "+prefix+"/system_stats", s.systemStats)
		mux.HandleFunc("GET "+prefix+"/object_info", s.objectInfo)
		mux.HandleFunc("POST "+prefix+"/prompt", s.prompt)
		mux.HandleFunc("GET "+prefix+"/history/{id}", s.historyEntry)
		mux.HandleFunc("POST "+prefix+"/interrupt", s.interrupt)
		mux.HandleFunc("POST "+prefix+"/free", s.free)
		mux.HandleFunc("GET "+prefix+"/view", s.view)
		mux.HandleFunc("GET "+prefix+"/ws", s.ws)
	}
	s.srv = httptest.NewServer(mux) // listens on 127.0.0.1
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops the fake: sockets, players and the HTTP server.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed)
		s.mu.Lock()
		for id, p := range s.conns {
			_ = p.conn.Close()
			delete(s.conns, id)
		}
		s.mu.Unlock()
		s.srv.CloseClientConnections()
		s.srv.Close()
		s.wg.Wait()
	})
}

// Prompts returns the prompts received so far.
func (s *Server) Prompts() []Prompt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Prompt(nil), s.prompts...)
}

// Interrupts returns the prompt ids of POST /interrupt calls ("" for a global one).
func (s *Server) Interrupts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.interrupts...)
}

// Frees returns the bodies of POST /free calls.
func (s *Server) Frees() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.frees...)
}

// Connects is the number of WebSocket connections opened so far.
func (s *Server) Connects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects
}

// Origins returns the Origin header of every WebSocket handshake ("" when absent).
func (s *Server) Origins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.origins...)
}

// Events is the order of "ws <clientId>" connections and "prompt <id>" submissions.
func (s *Server) Events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) systemStats(w http.ResponseWriter, r *http.Request) {
	body := s.script.SystemStats
	if body == nil {
		body = []byte(DefaultSystemStats)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

func (s *Server) objectInfo(w http.ResponseWriter, r *http.Request) {
	body := s.script.ObjectInfo
	if body == nil {
		body = []byte(DefaultObjectInfo)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

func (s *Server) historyEntry(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	entry, ok := s.history[id]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	writeJSON(w, http.StatusOK, map[string]json.RawMessage{id: entry})
}

func (s *Server) interrupt(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PromptID string `json:"prompt_id"`
	}
	data, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(data, &body)
	s.mu.Lock()
	s.interrupts = append(s.interrupts, body.PromptID)
	close(s.intr)
	s.intr = make(chan struct{})
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *Server) free(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.frees = append(s.frees, string(data))
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *Server) view(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("filename")
	key := r.URL.Query().Get("type") + "/" + r.URL.Query().Get("subfolder") + "/" + name
	s.mu.Lock()
	ok := s.images[key]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "404: Not Found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Disposition", fmt.Sprintf("filename=%q", name))
	_, _ = w.Write(ImageBytes(name))
}

// ImageBytes is what /view serves for an image the fake "saved".
func ImageBytes(name string) []byte { return []byte("\x89PNG fake image " + name) }

func (s *Server) ws(w http.ResponseWriter, r *http.Request) {
	cid := r.URL.Query().Get("clientId")
	origin := r.Header.Get("Origin")
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }} // record Origin, refuse nothing
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	p := &peer{conn: conn}
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		_ = conn.Close()
		return
	default:
	}
	if old := s.conns[cid]; old != nil {
		_ = old.conn.Close()
	}
	s.conns[cid] = p
	s.connects++
	s.origins = append(s.origins, origin)
	s.events = append(s.events, "ws "+cid)
	s.mu.Unlock()
	hello, _ := encodeMessage(comfy.MsgStatus, comfy.StatusMsg{SID: cid})
	_ = p.write(websocket.TextMessage, hello)
	for { // read until the client goes; this also answers pings and close frames
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
	}
	s.mu.Lock()
	if s.conns[cid] == p {
		delete(s.conns, cid)
	}
	s.mu.Unlock()
	_ = conn.Close()
}

func (s *Server) prompt(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(r.Body)
	var req struct {
		Prompt   json.RawMessage `json:"prompt"`
		ClientID string          `json:"client_id"`
		PromptID string          `json:"prompt_id"`
	}
	if err != nil || json.Unmarshal(data, &req) != nil {
		http.Error(w, "500 Internal Server Error\n\nServer got itself in trouble", http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	number := s.number
	s.number++
	s.mu.Unlock()
	if len(req.Prompt) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":       map[string]any{"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": map[string]any{}},
			"node_errors": map[string]any{},
		})
		return
	}
	p := Prompt{ID: req.PromptID, ClientID: req.ClientID, Number: number, Raw: req.Prompt}
	if p.ID == "" {
		p.ID = fmt.Sprintf("fake-%d", number)
	}
	p.Workflow, _ = comfy.ParseWorkflow(req.Prompt)
	s.mu.Lock()
	s.prompts = append(s.prompts, p)
	s.events = append(s.events, "prompt "+p.ID)
	s.mu.Unlock()
	if s.script.Reject != nil {
		if status, body := s.script.Reject(p); status != 0 {
			writeJSON(w, status, body)
			return
		}
	}
	steps := Success(p)
	if s.script.Steps != nil {
		steps = s.script.Steps(p)
	}
	reply := map[string]any{"prompt_id": p.ID, "number": p.Number, "node_errors": map[string]any{}}
	replyAt := make(chan struct{})
	replied := make(chan struct{})
	deferred := false
	for _, st := range steps {
		deferred = deferred || st.Reply
	}
	if !deferred {
		writeJSON(w, http.StatusOK, reply)
		close(replyAt)
		close(replied)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.play(p, steps, replyAt, replied)
	}()
	if deferred {
		select {
		case <-replyAt:
		case <-s.closed:
			return
		}
		writeJSON(w, http.StatusOK, reply)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		close(replied)
	}
}

// play runs the steps of one prompt.
func (s *Server) play(p Prompt, steps []Step, replyAt, replied chan struct{}) {
	var messages [][2]any
	outputs := map[string]json.RawMessage{}
	success := false
	for _, st := range steps {
		select {
		case <-s.closed:
			return
		default:
		}
		switch {
		case st.Reply:
			select {
			case <-replyAt:
			default:
				close(replyAt)
			}
			select {
			case <-replied:
			case <-s.closed:
				return
			}
		case st.Delay > 0:
			select {
			case <-time.After(st.Delay):
			case <-s.closed:
				return
			}
		case st.Hang:
			s.mu.Lock()
			intr := s.intr
			s.mu.Unlock()
			select {
			case <-intr:
			case <-s.closed:
				return
			}
		case st.Drop:
			s.mu.Lock()
			if c := s.conns[p.ClientID]; c != nil {
				_ = c.conn.NetConn().Close()
				delete(s.conns, p.ClientID)
			}
			s.mu.Unlock()
		case st.WaitReconnect:
			deadline := time.Now().Add(10 * time.Second)
			for {
				s.mu.Lock()
				c := s.conns[p.ClientID]
				s.mu.Unlock()
				if c != nil || time.Now().After(deadline) {
					break
				}
				select {
				case <-time.After(2 * time.Millisecond):
				case <-s.closed:
					return
				}
			}
		case st.History:
			s.storeHistory(p, messages, outputs, success)
		case st.Binary != nil:
			s.send(p.ClientID, websocket.BinaryMessage, st.Binary)
		case st.Raw != nil:
			s.send(p.ClientID, websocket.TextMessage, st.Raw)
		case st.Type != "":
			data := stamp(st.Data)
			switch st.Type {
			case comfy.MsgExecutionStart, comfy.MsgExecutionCached, comfy.MsgExecutionSuccess, comfy.MsgExecutionError, comfy.MsgExecutionInterrupted:
				messages = append(messages, [2]any{st.Type, data})
				success = success || st.Type == comfy.MsgExecutionSuccess
			case comfy.MsgExecuted:
				if e, ok := data.(comfy.ExecutedMsg); ok {
					out, _ := json.Marshal(e.Output)
					outputs[e.Node] = out
					s.mu.Lock()
					for _, img := range e.Images() {
						s.images[img.Type+"/"+img.Subfolder+"/"+img.Filename] = true
					}
					s.mu.Unlock()
				}
			}
			frame, err := encodeMessage(st.Type, data)
			if err == nil {
				s.send(p.ClientID, websocket.TextMessage, frame)
			}
		}
	}
}

// encodeMessage builds a text frame {"type": typ, "data": data}, as ComfyUI sends it.
func encodeMessage(typ string, data any) ([]byte, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	return json.Marshal(comfy.Message{Type: typ, Data: raw})
}

// stamp fills a zero Timestamp with the current time, as ComfyUI does when it sends.
func stamp(v any) any {
	now := time.Now().UnixMilli()
	switch m := v.(type) {
	case comfy.ExecutionStartMsg:
		if m.Timestamp == 0 {
			m.Timestamp = now
		}
		return m
	case comfy.ExecutionCachedMsg:
		if m.Timestamp == 0 {
			m.Timestamp = now
		}
		if m.Nodes == nil {
			m.Nodes = []string{}
		}
		return m
	case comfy.ExecutionSuccessMsg:
		if m.Timestamp == 0 {
			m.Timestamp = now
		}
		return m
	case comfy.ExecutionErrorMsg:
		if m.Timestamp == 0 {
			m.Timestamp = now
		}
		return m
	case comfy.ExecutionInterruptedMsg:
		if m.Timestamp == 0 {
			m.Timestamp = now
		}
		return m
	}
	return v
}

func (s *Server) send(cid string, mt int, data []byte) {
	s.mu.Lock()
	p := s.conns[cid]
	s.mu.Unlock()
	if p == nil {
		return // no socket for this client: the message is lost, as on the real server
	}
	_ = p.write(mt, data)
}

func (s *Server) storeHistory(p Prompt, messages [][2]any, outputs map[string]json.RawMessage, success bool) {
	status := "error"
	if success {
		status = "success"
	}
	var outIDs []string
	for id := range outputs {
		outIDs = append(outIDs, id)
	}
	sort.Strings(outIDs)
	entry := map[string]any{
		"prompt":  []any{p.Number, p.ID, p.Raw, map[string]any{"client_id": p.ClientID}, outIDs},
		"outputs": outputs,
		"status":  map[string]any{"status_str": status, "completed": success, "messages": messages},
		"meta":    map[string]any{},
	}
	if messages == nil {
		entry["status"].(map[string]any)["messages"] = [][2]any{}
	}
	data, _ := json.Marshal(entry)
	s.mu.Lock()
	s.history[p.ID] = data
	s.mu.Unlock()
}

// Success is the message sequence of a normal, uncached run of p, in ComfyUI's order: two
// status messages, execution_start, execution_cached [], then per node (in id order)
// progress_state running, executing, [KSampler: a progress tick per step], [SaveImage:
// executed with one image], progress_state finished; then execution_success, the history
// entry, status 0 and the final executing null.
func Success(p Prompt) []Step {
	steps := Start(p)
	steps = append(steps, Nodes(p, ids(p.Workflow)...)...)
	return append(steps, End(p)...)
}

// Start is the head of a run: status ×2, execution_start, execution_cached [].
func Start(p Prompt) []Step {
	q1 := comfy.StatusMsg{Status: comfy.QueueStatus{ExecInfo: comfy.ExecInfo{QueueRemaining: 1}}}
	return []Step{
		Msg(comfy.MsgStatus, q1),
		Msg(comfy.MsgStatus, q1),
		Msg(comfy.MsgExecutionStart, comfy.ExecutionStartMsg{PromptID: p.ID}),
		Msg(comfy.MsgExecutionCached, comfy.ExecutionCachedMsg{Nodes: []string{}, PromptID: p.ID}),
	}
}

// End is the tail of a successful run: execution_success, history, status 0, executing null.
func End(p Prompt) []Step {
	return []Step{
		Msg(comfy.MsgExecutionSuccess, comfy.ExecutionSuccessMsg{PromptID: p.ID}),
		{History: true},
		Msg(comfy.MsgStatus, comfy.StatusMsg{}),
		Final(p),
	}
}

// Final is the end marker: executing with node null.
func Final(p Prompt) Step {
	return Msg(comfy.MsgExecuting, comfy.ExecutingMsg{PromptID: p.ID})
}

// Nodes plays the given nodes of p as executed (see Success).
func Nodes(p Prompt, ids ...string) []Step {
	var steps []Step
	for _, id := range ids {
		steps = append(steps, Node(p, id)...)
	}
	return steps
}

// Node plays one node: progress_state running, executing, progress ticks for a sampler,
// executed for SaveImage/PreviewImage, progress_state finished.
func Node(p Prompt, id string) []Step {
	class := p.Workflow[id].ClassType
	steps := []Step{
		Msg(comfy.MsgProgressState, state(p, id, "running", 0, 1)),
		Msg(comfy.MsgExecuting, comfy.ExecutingMsg{Node: &id, DisplayNode: &id, PromptID: p.ID}),
	}
	if strings.HasPrefix(class, "KSampler") {
		n := 0
		if v, ok := p.Workflow[id].Inputs["steps"].(json.Number); ok {
			i, _ := v.Int64()
			n = int(min(max(i, 0), 1000))
		}
		for i := 1; i <= n; i++ {
			steps = append(steps,
				Msg(comfy.MsgProgressState, state(p, id, "running", float64(i), float64(n))),
				Msg(comfy.MsgProgress, comfy.ProgressMsg{Value: float64(i), Max: float64(n), PromptID: p.ID, Node: id}))
		}
	}
	if class == "SaveImage" || class == "PreviewImage" {
		kind := "output"
		if class == "PreviewImage" {
			kind = "temp"
		}
		img := comfy.ImageRef{Filename: fmt.Sprintf("ComfyUI_%05d_.png", p.Number+1), Subfolder: "", Type: kind}
		imgs, _ := json.Marshal([]comfy.ImageRef{img})
		steps = append(steps, Msg(comfy.MsgExecuted, comfy.ExecutedMsg{Node: id, DisplayNode: id,
			Output: map[string]json.RawMessage{"images": imgs}, PromptID: p.ID}))
	}
	return append(steps, Msg(comfy.MsgProgressState, state(p, id, "finished", 1, 1)))
}

func state(p Prompt, id, st string, v, m float64) comfy.ProgressStateMsg {
	return comfy.ProgressStateMsg{PromptID: p.ID, Nodes: map[string]comfy.NodeState{
		id: {Value: v, Max: m, State: st, NodeID: id, PromptID: p.ID, DisplayNodeID: &id, RealNodeID: &id},
	}}
}

func ids(w comfy.Workflow) []string {
	out := make([]string, 0, len(w))
	for id := range w {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) < len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// DefaultSystemStats is the /system_stats reply unless the script sets one.
const DefaultSystemStats = `{"system": {"os": "linux", "ram_total": 67108864000, "ram_free": 60000000000, "comfyui_version": "0.21.0", "required_frontend_version": "1.30.0", "installed_templates_version": null, "required_templates_version": "0.1.0", "python_version": "3.12.3 (main)", "pytorch_version": "2.8.0+cu128", "embedded_python": false, "argv": ["main.py", "--listen"]}, "devices": [{"name": "cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync", "type": "cuda", "index": 0, "vram_total": 85017755648, "vram_free": 84000000000, "torch_vram_total": 0, "torch_vram_free": 0}]}`

// DefaultObjectInfo is the /object_info reply unless the script sets one: EmptyImage and
// SaveImage, enough for a runnable two-node graph.
const DefaultObjectInfo = `{"EmptyImage": {"input": {"required": {"width": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}], "height": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}], "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}], "color": ["INT", {"default": 0, "min": 0, "max": 16777215, "step": 1, "display": "color"}]}}, "input_order": {"required": ["width", "height", "batch_size", "color"]}, "output": ["IMAGE"], "output_is_list": [false], "output_name": ["IMAGE"], "name": "EmptyImage", "display_name": "EmptyImage", "description": "", "python_module": "nodes", "category": "image", "output_node": false},
"SaveImage": {"input": {"required": {"images": ["IMAGE", {"tooltip": "The images to save."}], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}, "input_order": {"required": ["images", "filename_prefix"], "hidden": ["prompt", "extra_pnginfo"]}, "output": [], "output_is_list": [], "output_name": [], "name": "SaveImage", "display_name": "Save Image", "description": "Saves the input images to your ComfyUI output directory.", "python_module": "nodes", "category": "image", "output_node": true}}`
