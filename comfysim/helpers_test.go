package comfysim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// syncBuf is a goroutine-safe log sink.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testSim struct {
	t   testing.TB
	s   *Server
	ts  *httptest.Server
	log *syncBuf
}

func newTestSim(t testing.TB, cfg Config) *testSim {
	t.Helper()
	lb := &syncBuf{}
	cfg.Log = lb
	if cfg.OutputDir == "" {
		cfg.OutputDir = t.TempDir()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return &testSim{t: t, s: s, ts: ts, log: lb}
}

type wsMsg struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
	raw  []byte
}

type wsConn struct {
	t testing.TB
	c *websocket.Conn
}

func (ts *testSim) dial(clientID string) *wsConn {
	ts.t.Helper()
	url := "ws" + strings.TrimPrefix(ts.ts.URL, "http") + "/ws"
	if clientID != "" {
		url += "?clientId=" + clientID
	}
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { c.Close() })
	w := &wsConn{t: ts.t, c: c}
	if m := w.next(); m.Type != "status" {
		ts.t.Fatalf("first message %q, want status", m.Type)
	}
	return w
}

func (w *wsConn) next() wsMsg {
	w.t.Helper()
	m, err := w.read(10 * time.Second)
	if err != nil {
		w.t.Fatalf("read ws: %v", err)
	}
	return m
}

func (w *wsConn) read(d time.Duration) (wsMsg, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(d))
	_, data, err := w.c.ReadMessage()
	if err != nil {
		return wsMsg{}, err
	}
	var m wsMsg
	if err := json.Unmarshal(data, &m); err != nil {
		w.t.Fatalf("bad ws json %s: %v", data, err)
	}
	m.raw = data
	return m, nil
}

// until reads messages up to and including executing{node:null} for pid.
func (w *wsConn) until(pid string) []wsMsg {
	w.t.Helper()
	var out []wsMsg
	for {
		m := w.next()
		out = append(out, m)
		if m.Type == "executing" && m.Data["node"] == nil && m.Data["prompt_id"] == pid {
			return out
		}
	}
}

// sig is a compact signature of a message, like the probe's msg_sig.
func sig(m wsMsg) string {
	switch m.Type {
	case "executing", "executed", "progress":
		if m.Data["node"] == nil {
			return m.Type + " null"
		}
		return m.Type + " " + m.Data["node"].(string)
	case "status":
		st := m.Data["status"].(map[string]any)["exec_info"].(map[string]any)
		return "status " + jsonText(st["queue_remaining"])
	case "execution_cached":
		return "execution_cached " + jsonText(m.Data["nodes"])
	case "progress_state":
		nodes := m.Data["nodes"].(map[string]any)
		var parts []string
		for k, v := range nodes {
			parts = append(parts, k+":"+v.(map[string]any)["state"].(string))
		}
		sortStrings(parts)
		return "progress_state " + strings.Join(parts, ",")
	}
	return m.Type
}

func sigs(ms []wsMsg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = sig(m)
	}
	return out
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func (ts *testSim) post(path string, body any) (int, []byte) {
	ts.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	resp, err := http.Post(ts.ts.URL+path, "application/json", r)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func (ts *testSim) get(path string) (int, http.Header, []byte) {
	ts.t.Helper()
	resp, err := http.Get(ts.ts.URL + path)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

// prompt posts a graph with client_id and prompt_id and checks the 200.
func (ts *testSim) prompt(clientID, pid string, graph map[string]any) {
	ts.t.Helper()
	body := map[string]any{"prompt": graph, "prompt_id": pid}
	if clientID != "" {
		body["client_id"] = clientID
	}
	code, data := ts.post("/prompt", body)
	if code != 200 {
		ts.t.Fatalf("POST /prompt: %d %s", code, data)
	}
}

func emptyNode(color, w, h int) map[string]any {
	return map[string]any{"class_type": "EmptyImage", "inputs": map[string]any{"width": w, "height": h, "batch_size": 1, "color": color}}
}

func saveNode(src, prefix string) map[string]any {
	return map[string]any{"class_type": "SaveImage", "inputs": map[string]any{"images": []any{src, 0}, "filename_prefix": prefix}}
}

func blurGraph(color int, sigma float64) map[string]any {
	return map[string]any{
		"1": emptyNode(color, 64, 64),
		"2": map[string]any{"class_type": "ImageBlur", "inputs": map[string]any{"image": []any{"1", 0}, "blur_radius": 3, "sigma": sigma}},
		"3": saveNode("2", "t"),
	}
}

// qwenBody is a POST /prompt body with the reference Qwen-Image T2I graph (key order kept)
// and the given seed.
func qwenBody(t testing.TB, clientID, pid string, seed int) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "qwen_image_t2i_api.json"))
	if err != nil {
		t.Fatal(err)
	}
	g := strings.Replace(string(raw), `"seed": 42`, fmt.Sprintf(`"seed": %d`, seed), 1)
	return []byte(fmt.Sprintf(`{"prompt": %s, "client_id": %q, "prompt_id": %q}`, g, clientID, pid))
}

// qwenModels makes a --models dir with the three files the reference graph needs.
func qwenModels(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"diffusion_models/qwen_image_fp8_e4m3fn.safetensors", "text_encoders/qwen_2.5_vl_7b_fp8_scaled.safetensors", "vae/qwen_image_vae.safetensors"} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
