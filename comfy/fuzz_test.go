package comfy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func FuzzParseWorkflow(f *testing.F) {
	f.Add(readFile(f, "testdata/qwen_image_t2i_api.json"))
	f.Add(readFile(f, "testdata/seed-plan.json"))
	f.Add([]byte(`{"nodes": [], "links": []}`))
	f.Add([]byte(`{"1": {"class_type": "A", "inputs": {"x": ["1", 0]}}}`))
	f.Add([]byte(`{"1": {"class_type": "A", "inputs": {"x": ["2", 0.5], "y": [["2", 0]]}}, "2": {"class_type": "B", "inputs": {}}}`))
	f.Add([]byte(`{"1": `))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ParseWorkflow(data)
		if err != nil {
			var we *WorkflowError
			if !errors.As(err, &we) || we.Reason == "" {
				t.Fatalf("error %v is not a *WorkflowError with a reason", err)
			}
			return
		}
		if len(w) == 0 {
			t.Fatal("parsed an empty workflow")
		}
		for id, n := range w {
			if strings.TrimSpace(n.ClassType) == "" {
				t.Fatalf("node %q without class_type", id)
			}
			for _, src := range w.Links(id) {
				if _, ok := w[src]; !ok {
					t.Fatalf("dangling link %s → %s accepted", src, id)
				}
			}
		}
		if w.cycle() != nil {
			t.Fatal("cycle accepted")
		}
		// Round trip: re-encoding and parsing again gives the same graph.
		out, err := json.Marshal(w)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		w2, err := ParseWorkflow(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if w2.SHA256() != w.SHA256() {
			t.Fatalf("round trip changed the graph: %s", out)
		}
		_ = w.Clone()
	})
}

func FuzzDecodeObjectInfo(f *testing.F) {
	f.Add(readFile(f, "testdata/object_info_qwen.json"))
	f.Add([]byte(`{"X": {"input": {"required": {"a": [["x", 1, null]], "b": ["COMBO", {"options": [2]}], "c": ["INT", {"min": "x", "max": 1e400}]}}}}`))
	f.Add([]byte(`{"X": {"input": {"required": {"a": []}}, "output": [5, null]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := DecodeObjectInfo(data)
		if err != nil {
			return
		}
		// Preflight over whatever was decoded must not panic.
		w := Workflow{}
		for class, n := range info {
			in := map[string]any{}
			for name := range n.Required {
				in[name] = json.Number("1")
			}
			w[class] = Node{ClassType: class, Inputs: in}
		}
		_ = Preflight(w, info)
	})
}

func FuzzDecodeHistory(f *testing.F) {
	f.Add([]byte(`{"p": {"prompt": [3, "p", {}, {"client_id": "c"}, ["9"]], "outputs": {"9": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}}, "status": {"status_str": "success", "completed": true, "messages": [["execution_start", {"prompt_id": "p", "timestamp": 1}], ["execution_success", {"prompt_id": "p", "timestamp": 5}]]}, "meta": {}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"p": {"prompt": [1.0], "status": {"messages": [[1], ["x"]]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, ok, err := decodeHistory(data, "p")
		if err != nil || !ok {
			return
		}
		tr := &tracker{res: &Result{PromptID: "p", Outputs: map[string][]ImageRef{}}, open: -1}
		tr.merge(h)
		_ = tr.outcome()
	})
}

func FuzzDecodeRejected(f *testing.F) {
	f.Add([]byte(`{"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}}, "node_errors": {"2": {"errors": [{"type": "value_not_in_list", "message": "Value not in list", "details": "x", "extra_info": {}}], "dependent_outputs": ["3"], "class_type": "ImageScale"}}}`))
	f.Add([]byte(`{"error": "no prompt", "node_errors": []}`))
	f.Add([]byte(`500 Internal Server Error`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := decodeRejected(400, data)
		if e == nil || !strings.HasPrefix(e.Error(), "prompt rejected (HTTP 400") {
			t.Fatalf("rejection = %v", e)
		}
	})
}

func FuzzDecodeSystemStats(f *testing.F) {
	f.Add([]byte(`{"system": {"os": "linux", "ram_total": 1, "argv": ["a"]}, "devices": [{"name": "cpu", "type": "cpu", "index": null, "vram_total": 1.5e9}]}`))
	f.Add([]byte(`{"devices": [{"index": 1e30}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeSystemStats(data)
	})
}
