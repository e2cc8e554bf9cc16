package comfysim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMessageOrderFirstRunAndCache(t *testing.T) {
	ts := newTestSim(t, Config{})
	ws := ts.dial("cli")
	ts.prompt("cli", "p1", blurGraph(0x336699, 1))
	got := sigs(ws.until("p1"))
	want := []string{"status 1", "status 1", "execution_start", "execution_cached []",
		"progress_state 1:running", "executing 1", "progress_state 1:finished",
		"progress_state 1:finished,2:running", "executing 2", "progress_state 1:finished,2:finished",
		"progress_state 1:finished,2:finished,3:running", "executing 3", "executed 3",
		"progress_state 1:finished,2:finished,3:finished", "execution_success", "status 0", "executing null"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("first run:\n got %q\nwant %q", got, want)
	}

	// identical rerun: everything cached, executed re-sent with the old file, no new file
	files := func() []string {
		es, _ := os.ReadDir(ts.s.OutputDir())
		var n []string
		for _, e := range es {
			n = append(n, e.Name())
		}
		return n
	}
	before := files()
	ts.prompt("cli", "p2", blurGraph(0x336699, 1))
	msgs := ws.until("p2")
	got = sigs(msgs)
	want = []string{"status 1", "status 1", "execution_start", `execution_cached ["1","2","3"]`, "executed 3",
		"progress_state 3:finished", "execution_success", "status 0", "executing null"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cached rerun:\n got %q\nwant %q", got, want)
	}
	if !reflect.DeepEqual(files(), before) || len(before) != 1 || before[0] != "t_00001_.png" {
		t.Fatalf("files before %v after %v", before, files())
	}
	img := msgs[4].Data["output"].(map[string]any)["images"].([]any)[0].(map[string]any)
	if img["filename"] != "t_00001_.png" {
		t.Errorf("cached executed names %v", img)
	}
	if !strings.Contains(string(msgs[5].raw), `"value": 1, "max": 1`) {
		t.Errorf("cached progress_state should carry ints: %s", msgs[5].raw)
	}
	if !strings.Contains(ts.log.String(), "Prompt executed in 0.00 seconds") {
		t.Errorf("log lacks the cached timing line:\n%s", ts.log.String())
	}

	// new sigma: EmptyImage cached, the rest runs
	ts.prompt("cli", "p3", blurGraph(0x336699, 2))
	got = sigs(ws.until("p3"))
	if got[3] != `execution_cached ["1"]` || !contains(got, "executing 2") || contains(got, "executing 1") {
		t.Fatalf("partial cache: %q", got)
	}
	if n := files(); len(n) != 2 || n[1] != "t_00002_.png" {
		t.Fatalf("files %v", n)
	}
}

func TestQwenT2IOrderSeedAndFirstUseLoads(t *testing.T) {
	ts := newTestSim(t, Config{ModelsDir: qwenModels(t)})
	ws := ts.dial("c")
	post := func(pid string, seed int) []wsMsg {
		code, data := ts.post("/prompt", qwenBody(t, "c", pid, seed))
		if code != 200 {
			t.Fatalf("POST: %d %s", code, data)
		}
		return ws.until(pid)
	}
	msgs := post("a", 42)
	var order []string
	progress := 0
	for _, m := range msgs {
		if m.Type == "executing" && m.Data["node"] != nil {
			order = append(order, m.Data["node"].(string))
		}
		if m.Type == "progress" {
			progress++
		}
	}
	if want := []string{"39", "58", "38", "7", "6", "37", "66", "3", "8", "60"}; !reflect.DeepEqual(order, want) {
		t.Errorf("node order %v, want %v", order, want)
	}
	if progress != 25 {
		t.Errorf("%d progress messages, want 25", progress)
	}
	log := ts.log.String()
	for _, line := range []string{"Requested to load QwenImageTEModel_", "Requested to load QwenImage\n", "Requested to load WanVAE",
		"Model QwenImage prepared for dynamic VRAM loading.", "25/25 [", "model_type FLUX"} {
		if strings.Count(log, line) != 1 {
			t.Errorf("log has %d × %q, want 1:\n%s", strings.Count(log, line), line, log)
		}
	}
	// a new seed re-runs sampler, decode and save only; models stay loaded
	msgs = post("b", 43)
	if got := sigs(msgs)[3]; got != `execution_cached ["37","38","39","66","6","7","58"]` {
		t.Errorf("new seed cached %s", got)
	}
	if strings.Count(ts.log.String(), "Requested to load") != 3 {
		t.Errorf("warm run reloaded a model:\n%s", ts.log.String())
	}
	// the picture depends on the seed
	a, _ := os.ReadFile(filepath.Join(ts.s.OutputDir(), "ComfyUI_00001_.png"))
	b, _ := os.ReadFile(filepath.Join(ts.s.OutputDir(), "ComfyUI_00002_.png"))
	if len(a) == 0 || len(b) == 0 || string(a) == string(b) {
		t.Fatalf("seed 42 and 43 images: %d and %d bytes, equal=%v", len(a), len(b), string(a) == string(b))
	}
	// unload_models: loaders stay cached but the next sampler run loads QwenImage again
	if code, _ := ts.post("/free", map[string]any{"unload_models": true}); code != 200 {
		t.Fatal(code)
	}
	post("c", 44)
	if n := strings.Count(ts.log.String(), "Requested to load QwenImage\n"); n != 2 {
		t.Errorf("after /free unload_models: %d QwenImage loads, want 2", n)
	}
	// free_memory also resets the cache: everything runs again
	ts.post("/free", map[string]any{"free_memory": true})
	if got := sigs(post("d", 44))[3]; got != "execution_cached []" {
		t.Errorf("after free_memory cached %s", got)
	}
}

func TestRoutingByClientID(t *testing.T) {
	ts := newTestSim(t, Config{})
	a := ts.dial("a")
	b := ts.dial("b")
	// with client_id "a": execution messages only to a; b sees only status broadcasts
	ts.prompt("a", "p1", blurGraph(1, 1))
	a.until("p1")
	// untilIdle reads up to the final status (queue 0) of a prompt.
	untilIdle := func(w *wsConn) []string {
		var types []string
		for {
			m := w.next()
			types = append(types, m.Type)
			if sig(m) == "status 0" {
				return types
			}
		}
	}
	if seen := untilIdle(b); !reflect.DeepEqual(seen, []string{"status", "status", "status"}) {
		t.Errorf("other client saw %v", seen)
	}
	// without client_id: no execution messages at all, progress_state broadcast to both
	ts.prompt("", "p2", blurGraph(2, 1))
	for _, w := range []*wsConn{a, b} {
		types := untilIdle(w)
		for _, typ := range types {
			if typ != "status" && typ != "progress_state" {
				t.Errorf("no-client prompt sent %s: %v", typ, types)
			}
		}
		if !contains(types, "progress_state") {
			t.Errorf("progress_state not broadcast: %v", types)
		}
	}
	var h map[string]map[string]any
	_, _, body := ts.get("/history/p2")
	if err := json.Unmarshal(body, &h); err != nil || h["p2"]["status"].(map[string]any)["status_str"] != "success" {
		t.Errorf("history of the no-client prompt: %s", body)
	}
}

func TestValidationShapes(t *testing.T) {
	for _, tc := range []struct {
		version, body string
		code          int
		want          string
	}{
		{v0210, `{"prompt": {"1": {"class_type": "Nope", "inputs": {}}}}`, 400,
			`{"error": {"type": "missing_node_type", "message": "Node 'Nope' not found. The custom node may not be installed.", "details": "Node ID '#1'", "extra_info": {"node_id": "1", "class_type": "Nope", "node_title": "Nope"}}, "node_errors": {}}`},
		{v0364, `{"prompt": {"1": {"class_type": "Nope", "inputs": {}}}}`, 400,
			`{"error": {"type": "invalid_prompt", "message": "Cannot execute because node Nope does not exist.", "details": "Node ID '#1'", "extra_info": {}}, "node_errors": {}}`},
		{v0210, `{"prompt": {"1": {"inputs": {}, "_meta": {"title": "T"}}}}`, 400,
			`{"error": {"type": "missing_node_type", "message": "Node 'T' has no class_type. The workflow may be corrupted or a custom node is missing.", "details": "Node ID '#1'", "extra_info": {"node_id": "1", "class_type": null, "node_title": "T"}}, "node_errors": {}}`},
		{v0210, `{"prompt": {}}`, 400,
			`{"error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}}, "node_errors": {}}`},
		{v0210, `{"client_id": "x"}`, 400,
			`{"error": {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {}}, "node_errors": {}}`},
		{v0210, `{"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1, "color": 0}}, "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}}`, 400,
			`{"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}}, "node_errors": {"1": {"errors": [{"type": "value_smaller_than_min", "message": "Value 0 smaller than min of 1", "details": "width", "extra_info": {"input_name": "width", "input_config": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}], "received_value": 0}}], "dependent_outputs": ["2"], "class_type": "EmptyImage"}}}`},
		{v0210, `{"prompt": {"2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}, "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}}`, 400,
			`{"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "Required input is missing: filename_prefix", "extra_info": {}}, "node_errors": {"2": {"errors": [{"type": "required_input_missing", "message": "Required input is missing", "details": "filename_prefix", "extra_info": {"input_name": "filename_prefix"}}], "dependent_outputs": ["2"], "class_type": "SaveImage"}}}`},
		{v0210, `{"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": "abc", "height": 8, "batch_size": 1, "color": 0}}, "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}}`, 400,
			`"details": "width, abc, invalid literal for int() with base 10: 'abc'"`},
		{v0210, `{"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}, "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 3], "filename_prefix": "x"}}}}`, 400,
			`"details": "tuple index out of range", "extra_info": {"exception_type": "IndexError"`},
		{v0210, `this is {not json`, 500, "500 Internal Server Error\n\nServer got itself in trouble"},
	} {
		ts := newTestSim(t, Config{ComfyVersion: tc.version})
		code, body := ts.post("/prompt", tc.body)
		if code != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %s:\n got %d %s\nwant %d %s", tc.version, tc.body, code, body, tc.code, tc.want)
		}
		if code == 400 && !strings.Contains(tc.body, "client_id") && !strings.Contains(ts.log.String(), "invalid prompt: {'type': ") {
			t.Errorf("no 'invalid prompt:' log line:\n%s", ts.log.String())
		}
	}
}

func TestPromptNumberAndDeadBranch(t *testing.T) {
	ts := newTestSim(t, Config{})
	ws := ts.dial("c")
	numbers := func(body string) (int, string) {
		code, data := ts.post("/prompt", body)
		var r map[string]json.RawMessage
		_ = json.Unmarshal(data, &r)
		return code, string(r["number"])
	}
	dead := `{"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
		"2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
		"10": {"class_type": "UNETLoader", "inputs": {"unet_name": "missing.safetensors", "weight_dtype": "default"}}},
		"client_id": "c", "prompt_id": "d1"}`
	if code, n := numbers(dead); code != 200 || n != "0" {
		t.Fatalf("dead branch: %d number %s", code, n)
	}
	ws.until("d1")
	ts.post("/prompt", `not json`)           // 500: counter unchanged
	ts.post("/prompt", `{"client_id": "c"}`) // 400 no_prompt: counter advances
	if _, n := numbers(`{"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 1}}, "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}, "client_id": "c", "prompt_id": "d2"}`); n != "2" {
		t.Errorf("number after a 500 and a 400: %s, want 2", n)
	}
	ws.until("d2")
	if _, n := numbers(`{"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 2}}, "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}, "number": 5, "client_id": "c", "prompt_id": "d3"}`); n != "5.0" {
		t.Errorf("client number comes back as %s, want 5.0", n)
	}
	ws.until("d3")
}

func TestObjectInfoShapes(t *testing.T) {
	ts := newTestSim(t, Config{ModelsDir: qwenModels(t)})
	_, hdr, body := ts.get("/api/object_info/KSampler")
	if hdr.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("content type %q", hdr.Get("Content-Type"))
	}
	if !strings.Contains(string(body), `"max": 18446744073709551615`) {
		t.Errorf("seed max not exact: %s", body)
	}
	if !strings.Contains(string(body), `"sampler_name": [["euler", `) {
		t.Errorf("sampler_name is not a bare-list combo: %s", body)
	}
	_, _, body = ts.get("/object_info/UNETLoader")
	if !strings.Contains(string(body), `"unet_name": [["qwen_image_fp8_e4m3fn.safetensors"]]`) {
		t.Errorf("unet list from --models: %s", body)
	}
	_, _, body = ts.get("/object_info/EmptySD3LatentImage")
	if !strings.Contains(string(body), `"output_tooltips": null`) {
		t.Errorf("V3 node lacks NodeInfoV1 fields: %s", body)
	}
	_, _, body = ts.get("/object_info/NoSuchNode")
	if string(body) != "{}" {
		t.Errorf("unknown class: %s", body)
	}
	_, _, body = ts.get("/models/diffusion_models")
	if string(body) != `["qwen_image_fp8_e4m3fn.safetensors"]` {
		t.Errorf("/models/diffusion_models: %s", body)
	}
	if code, _, _ := ts.get("/models/nope"); code != 404 {
		t.Errorf("/models/nope: %d", code)
	}
}

func TestViewRules(t *testing.T) {
	ts := newTestSim(t, Config{})
	ws := ts.dial("c")
	ts.prompt("c", "p", map[string]any{"1": emptyNode(0xff0000, 4, 4), "2": saveNode("1", "sub/v")})
	ws.until("p")
	for _, tc := range []struct {
		q    string
		code int
	}{
		{"filename=v_00001_.png&subfolder=sub&type=output", 200},
		{"filename=v_00001_.png%20[output]&subfolder=sub", 200},
		{"filename=v_00001_.png&subfolder=sub&type=input", 404},
		{"filename=v_00001_.png", 404},
		{"filename=", 400},
		{"filename=/etc/passwd", 400},
		{"filename=../x.png", 400},
		{"filename=x.png&type=bogus", 400},
		{"filename=x.png&subfolder=../..", 403},
		{"filename=x.png&subfolder=/etc", 403},
		{"", 404},
	} {
		code, hdr, body := ts.get("/view?" + tc.q)
		if code != tc.code {
			t.Errorf("/view?%s: %d, want %d", tc.q, code, tc.code)
		}
		if code == 200 && (hdr.Get("Content-Type") != "image/png" || hdr.Get("Content-Disposition") != `filename="v_00001_.png"` || !strings.HasPrefix(string(body), "\x89PNG")) {
			t.Errorf("/view?%s headers %v", tc.q, hdr)
		}
		if code != 200 && hdr.Get("Content-Type") != "" {
			t.Errorf("/view?%s: error reply has a content type %q", tc.q, hdr.Get("Content-Type"))
		}
	}
	if _, _, body := ts.get("/view?filename=v_00001_.png&subfolder=sub"); !strings.Contains(string(body), "tEXtprompt") {
		t.Errorf("PNG lacks the prompt text chunk")
	}
}

func TestInterruptAtNextNodeAndBetweenSteps(t *testing.T) {
	ts := newTestSim(t, Config{PixelTime: 2 * time.Second})
	ws := ts.dial("c")
	g := map[string]any{
		"1": emptyNode(1, 512, 512),
		"2": map[string]any{"class_type": "ImageBlur", "inputs": map[string]any{"image": []any{"1", 0}, "blur_radius": 1, "sigma": 1.0}},
		"3": map[string]any{"class_type": "ImageBlur", "inputs": map[string]any{"image": []any{"2", 0}, "blur_radius": 1, "sigma": 1.0}},
		"4": saveNode("3", "i"),
	}
	ts.prompt("c", "p", g)
	var got []string
	for {
		m := ws.next()
		got = append(got, sig(m))
		if m.Type == "executing" && m.Data["node"] == "2" {
			ts.post("/interrupt", map[string]any{"prompt_id": "p"})
		}
		if m.Type == "execution_interrupted" {
			if m.Data["node_id"] != "3" || jsonText(m.Data["executed"]) != `["1","2"]` {
				t.Errorf("interrupted data %s", m.raw)
			}
		}
		if m.Type == "executing" && m.Data["node"] == nil {
			break
		}
	}
	if want := []string{"executing 3", "execution_interrupted", "status 0", "executing null"}; !reflect.DeepEqual(got[len(got)-4:], want) {
		t.Errorf("tail %q", got)
	}
	if !strings.Contains(ts.log.String(), "Processing interrupted") {
		t.Errorf("log: %s", ts.log.String())
	}
	// an idle interrupt does not poison the next prompt
	ts.post("/interrupt", nil)
	ts.prompt("c", "q", blurGraph(5, 1))
	if got := sigs(ws.until("q")); !contains(got, "execution_success") {
		t.Errorf("after idle interrupt: %q", got)
	}

	// between sampler steps
	ts2 := newTestSim(t, Config{ModelsDir: qwenModels(t), StepTime: 20 * time.Millisecond})
	ws2 := ts2.dial("c")
	ts2.post("/prompt", qwenBody(t, "c", "k", 1))
	for {
		m := ws2.next()
		if m.Type == "progress" && m.Data["value"] == 3.0 {
			ts2.post("/interrupt", nil)
		}
		if m.Type == "execution_interrupted" {
			if m.Data["node_id"] != "3" {
				t.Errorf("sampler interrupt at %v", m.Data["node_id"])
			}
			break
		}
		if m.Type == "execution_success" {
			t.Fatal("sampler ran to the end despite the interrupt")
		}
	}
}

func TestQueueAndHistoryControl(t *testing.T) {
	ts := newTestSim(t, Config{PixelTime: time.Second})
	ws := ts.dial("c")
	ts.prompt("c", "slow", map[string]any{"1": emptyNode(1, 1000, 1000), "2": map[string]any{"class_type": "ImageBlur", "inputs": map[string]any{"image": []any{"1", 0}, "blur_radius": 1, "sigma": 1.0}}, "3": saveNode("2", "q")})
	ts.prompt("c", "w1", blurGraph(7, 1))
	ts.prompt("c", "w2", blurGraph(8, 1))
	_, _, body := ts.get("/queue")
	var q struct {
		Running [][]any `json:"queue_running"`
		Pending [][]any `json:"queue_pending"`
	}
	if err := json.Unmarshal(body, &q); err != nil || len(q.Running) != 1 || len(q.Pending) != 2 || len(q.Pending[0]) != 5 {
		t.Fatalf("queue %s", body)
	}
	ts.post("/queue", map[string]any{"delete": []string{"w2"}})
	ts.post("/queue", map[string]any{"clear": true})
	ws.until("slow")
	_, _, body = ts.get("/history")
	if strings.Contains(string(body), "w1") || !strings.Contains(string(body), "slow") {
		t.Errorf("history after clearing the queue: %.200s", body)
	}
	ts.post("/history", map[string]any{"clear": true})
	if _, _, body = ts.get("/history?max_items=1"); string(body) != "{}" {
		t.Errorf("history after clear: %s", body)
	}
	if _, _, body = ts.get("/prompt"); string(body) != `{"exec_info": {"queue_remaining": 0}}` {
		t.Errorf("GET /prompt: %s", body)
	}
}

func TestFaultOOMAtNode(t *testing.T) {
	ts := newTestSim(t, Config{Faults: []string{"oom-at-node=2"}})
	ws := ts.dial("c")
	ts.prompt("c", "p", blurGraph(1, 1))
	msgs := ws.until("p")
	var e wsMsg
	for _, m := range msgs {
		if m.Type == "execution_error" {
			e = m
		}
	}
	if e.Data["exception_type"] != "torch.OutOfMemoryError" || e.Data["node_id"] != "2" {
		t.Fatalf("error message %s", e.raw)
	}
	log := ts.log.String()
	if !strings.Contains(log, "!!! Exception during processing !!!") || !strings.Contains(log, "Got an OOM, unloading all loaded models.") {
		t.Errorf("log:\n%s", log)
	}
	// errors are not cached: the same prompt fails again at node 2, node 1 is cached
	ts.prompt("c", "p2", blurGraph(1, 1))
	got := sigs(ws.until("p2"))
	if got[3] != `execution_cached ["1"]` || !contains(got, "execution_error") {
		t.Errorf("rerun after error: %q", got)
	}
}

func TestFaultCrashAtStep(t *testing.T) {
	ts := newTestSim(t, Config{ModelsDir: qwenModels(t), Faults: []string{"crash-at-step=3"}})
	exited := make(chan int, 1)
	ts.s.exit = func(code int) { exited <- code }
	ws := ts.dial("c")
	ts.post("/prompt", qwenBody(t, "c", "p", 1))
	select {
	case code := <-exited:
		if code != 1 {
			t.Errorf("exit code %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit")
	}
	last := 0
	for {
		m, err := ws.read(200 * time.Millisecond)
		if err != nil {
			break
		}
		if m.Type == "progress" {
			last = int(m.Data["value"].(float64))
		}
	}
	if last != 3 {
		t.Errorf("last progress %d, want 3", last)
	}
	if !strings.Contains(ts.log.String(), "crash-at-step=3") {
		t.Errorf("no last log line:\n%s", ts.log.String())
	}
}

func TestFaultHangAtStep(t *testing.T) {
	ts := newTestSim(t, Config{ModelsDir: qwenModels(t), Faults: []string{"hang-at-step=2"}})
	ws := ts.dial("c")
	ts.post("/prompt", qwenBody(t, "c", "p", 1))
	var last wsMsg
	for {
		m, err := ws.read(500 * time.Millisecond)
		if err != nil {
			var ne interface{ Timeout() bool }
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("socket closed instead of hanging: %v", err)
			}
			break
		}
		last = m
	}
	if last.Type != "progress_state" && last.Type != "progress" {
		t.Errorf("last message before the hang: %s", last.raw)
	}
	if code, _, _ := ts.get("/history/p"); code != 200 {
		t.Errorf("HTTP stopped answering")
	}
	if _, _, body := ts.get("/history/p"); string(body) != "{}" {
		t.Errorf("hung prompt in history: %s", body)
	}
}

func TestFaultDropWS(t *testing.T) {
	ts := newTestSim(t, Config{ModelsDir: qwenModels(t), Faults: []string{"drop-ws-at-step=2"}})
	ws := ts.dial("c")
	ts.post("/prompt", qwenBody(t, "c", "p", 1))
	for {
		if _, err := ws.read(5 * time.Second); err != nil {
			break // closed by the server
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, body := ts.get("/history/p")
		if strings.Contains(string(body), `"status_str": "success"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prompt did not complete after the drop: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// the drop happens once: a new socket sees a whole prompt
	ws2 := ts.dial("c")
	ts.post("/prompt", qwenBody(t, "c", "p2", 2))
	if got := sigs(ws2.until("p2")); !contains(got, "execution_success") {
		t.Errorf("second prompt: %q", got)
	}
}

func TestPostPromptStall(t *testing.T) {
	ts := newTestSim(t, Config{PostPromptStall: 300 * time.Millisecond, StallEvery: time.Hour})
	ws := ts.dial("c")
	begin := time.Now()
	ts.prompt("c", "p", blurGraph(1, 1))
	ws.until("p")
	if d := time.Since(begin); d < 300*time.Millisecond {
		t.Errorf("prompt end seen after %v, want ≥ the 300ms stall", d)
	}
	// the server's own timestamps stay true: start → success well under the stall
	_, _, body := ts.get("/history/p")
	var h map[string]struct {
		Status struct {
			Messages [][]json.RawMessage `json:"messages"`
		} `json:"status"`
	}
	_ = json.Unmarshal(body, &h)
	var ts0, ts1 struct{ Timestamp int64 }
	msgs := h["p"].Status.Messages
	_ = json.Unmarshal(msgs[0][1], &ts0)
	_ = json.Unmarshal(msgs[len(msgs)-1][1], &ts1)
	if ts1.Timestamp-ts0.Timestamp >= 300 {
		t.Errorf("server timestamps include the stall: %d ms", ts1.Timestamp-ts0.Timestamp)
	}
	// at most one stall per --stall-every
	ts.prompt("c", "q", blurGraph(2, 1))
	start := time.Now()
	ws.until("q")
	if time.Since(start) >= 300*time.Millisecond {
		t.Logf("second prompt took %v (a stall would be a bug, but the machine may be slow)", time.Since(start))
	}
}

func TestFeatureFlagsReplyAndOnConnect(t *testing.T) {
	ts := newTestSim(t, Config{ComfyVersion: v0364})
	ws := ts.dial("x")
	if err := ws.c.WriteMessage(1, []byte(`{"type":"feature_flags","data":{"supports_preview_metadata":true}}`)); err != nil {
		t.Fatal(err)
	}
	m := ws.next()
	if m.Type != "feature_flags" || string(m.raw) != `{"type": "feature_flags", "data": {"supports_preview_metadata": true, "max_upload_size": 104857600}}` {
		t.Errorf("reply %s", m.raw)
	}
	// Origin check: a foreign Origin on a loopback Host is refused
	req, _ := http.NewRequest("GET", ts.ts.URL+"/system_stats", nil)
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("foreign origin: %d", resp.StatusCode)
	}
}

// TestSlowNodeAndTargetedInterrupt is --fault slow-node: a node that works without progress
// runs to its end despite an interrupt of its prompt; the prompt stops at the next node. An
// interrupt naming a pending prompt does nothing, and deleting a running prompt from the
// queue does nothing: it runs on (ComfyUI's semantics, reference §8).
func TestSlowNodeAndTargetedInterrupt(t *testing.T) {
	ts := newTestSim(t, Config{Faults: []string{"slow-node=" + ForeignNode + ":600ms", "slow-node=2:600ms"}})
	ws := ts.dial("me")
	fid, err := ForeignPrompt(context.Background(), ts.ts.URL, "colleague")
	if err != nil {
		t.Fatal(err)
	}
	ts.prompt("me", "mine", blurGraph(3, 1))
	ts.post("/interrupt", map[string]any{"prompt_id": "mine"}) // pending: nothing happens
	ts.post("/queue", map[string]any{"delete": []string{fid}}) // running: nothing happens
	_, _, body := ts.get("/queue")
	if !strings.Contains(string(body), fid) || !strings.Contains(string(body), `"mine"`) {
		t.Fatalf("queue after a delete of the running prompt: %.300s", body)
	}
	var interruptedAt time.Time
	for {
		m := ws.next()
		if m.Type == "executing" && m.Data["node"] == "2" && m.Data["prompt_id"] == "mine" {
			interruptedAt = time.Now()
			ts.post("/interrupt", map[string]any{"prompt_id": "mine"})
		}
		if m.Type == "execution_success" && m.Data["prompt_id"] == "mine" {
			t.Fatal("the early interrupt of the pending prompt stuck, or the late one was lost")
		}
		if m.Type == "execution_interrupted" {
			if m.Data["node_id"] != "3" {
				t.Errorf("interrupted at node %v, want the next node after the slow one", m.Data["node_id"])
			}
			if d := time.Since(interruptedAt); d < 500*time.Millisecond {
				t.Errorf("the slow node was cut short after %s", d)
			}
			break
		}
	}
	_, _, body = ts.get("/history/" + fid)
	if !strings.Contains(string(body), `"success"`) {
		t.Errorf("the foreign prompt: %.300s", body)
	}
}
