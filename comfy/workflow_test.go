package comfy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseWorkflowQwen(t *testing.T) {
	w, err := ParseWorkflow(readFile(t, "testdata/qwen_image_t2i_api.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 10 {
		t.Fatalf("got %d nodes, want 10", len(w))
	}
	ks := w["3"]
	if ks.ClassType != "KSampler" || ks.Inputs["seed"] != json.Number("42") || ks.Inputs["cfg"] != json.Number("4.0") {
		t.Errorf("node 3 = %+v", ks)
	}
	if got := w.Links("3"); !cmp.Equal(got, []string{"6", "7", "58", "66"}) {
		t.Errorf("Links(3) = %v", got)
	}
	if got := w.Links("37"); got != nil {
		t.Errorf("Links(37) = %v, want none", got)
	}
	if w["37"].Title() != "Load Diffusion Model" {
		t.Errorf("title = %q", w["37"].Title())
	}
}

func TestParseWorkflowWrapperAndBigSeed(t *testing.T) {
	in := `{"prompt": {"1": {"class_type": "KSampler", "inputs": {"seed": 18446744073709551615, "model": ["2", 0]}},
	                   "2": {"class_type": "UNETLoader", "inputs": {}}}, "client_id": "x"}`
	w, err := ParseWorkflow([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := w["1"].Inputs["seed"]; got != json.Number("18446744073709551615") {
		t.Errorf("seed = %#v", got)
	}
	out, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"seed":18446744073709551615`) {
		t.Errorf("re-encoded seed lost precision: %s", out)
	}
}

func TestParseWorkflowNodeCalledPrompt(t *testing.T) {
	// A node whose id is "prompt" is a node, not the wrapper.
	w, err := ParseWorkflow([]byte(`{"prompt": {"class_type": "SaveImage", "inputs": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if w["prompt"].ClassType != "SaveImage" {
		t.Errorf("got %+v", w)
	}
}

func TestParseWorkflowErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings of the message
	}{
		{"malformed", "{\n  \"1\": {\"class_type\": \"A\",,}\n}", []string{"malformed JSON at line 2, column 27"}},
		{"truncated", `{"1": {"class_type": "A"`, []string{"malformed JSON", "unexpected end"}},
		{"trailing", `{"1": {"class_type": "A", "inputs": {}}} x`, []string{"malformed JSON", "after the JSON value"}},
		{"array", `[1, 2]`, []string{"top level is a JSON array"}},
		{"string", `"hello"`, []string{"top level is a JSON string"}},
		{"null", `null`, []string{"null"}},
		{"empty", `{}`, []string{"no nodes"}},
		{"ui format", `{"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": [[1, 4, 0, 3, 0, "MODEL"]]}`,
			[]string{"graph-editor (UI) format", "export it with 'Save (API)' (enable dev mode options) in ComfyUI"}},
		{"ui format wrapped", `{"prompt": {"nodes": [], "links": []}}`, []string{"graph-editor (UI) format"}},
		{"node not object", `{"1": [1, 2]}`, []string{`node "1" is an array`}},
		{"no class_type", `{"1": {"inputs": {}}}`, []string{`node "1" has no class_type`}},
		{"class_type not string", `{"1": {"class_type": 5, "inputs": {}}}`, []string{`node "1" has no class_type`}},
		{"inputs not object", `{"1": {"class_type": "A", "inputs": [1]}}`, []string{"inputs is an array"}},
		{"dangling link", `{"1": {"class_type": "SaveImage", "inputs": {"images": ["9", 0]}}}`,
			[]string{`node 1 (SaveImage) input "images" links to node "9", which is not in the workflow`}},
		{"cycle", `{"1": {"class_type": "A", "inputs": {"x": ["2", 0]}}, "2": {"class_type": "B", "inputs": {"y": ["3", 0]}}, "3": {"class_type": "C", "inputs": {"z": ["1", 0]}}, "4": {"class_type": "D", "inputs": {"z": ["1", 0]}}}`,
			[]string{"cycle", "1 → 3 → 2 → 1"}},
		{"self loop", `{"7": {"class_type": "A", "inputs": {"x": ["7", 0]}}}`, []string{"cycle: 7 → 7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWorkflow([]byte(tt.in))
			var we *WorkflowError
			if !errors.As(err, &we) {
				t.Fatalf("err = %v (%T), want *WorkflowError", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestIsLink(t *testing.T) {
	tests := []struct {
		v      any
		src    string
		out    int
		wantOK bool
	}{
		{[]any{"4", json.Number("0")}, "4", 0, true},
		{[]any{"4", json.Number("2")}, "4", 2, true},
		{[]any{"4", float64(1)}, "4", 1, true},
		{[]any{"4", 1}, "4", 1, true},
		{[]any{"4", json.Number("1.5")}, "", 0, false},
		{[]any{"4", json.Number("-1")}, "", 0, false},
		{[]any{4, json.Number("0")}, "", 0, false},
		{[]any{"4"}, "", 0, false},
		{[]any{"4", json.Number("0"), json.Number("0")}, "", 0, false},
		{"4", "", 0, false},
		{json.Number("4"), "", 0, false},
	}
	for _, tt := range tests {
		src, out, ok := IsLink(tt.v)
		if src != tt.src || out != tt.out || ok != tt.wantOK {
			t.Errorf("IsLink(%#v) = %q, %d, %v; want %q, %d, %v", tt.v, src, out, ok, tt.src, tt.out, tt.wantOK)
		}
	}
}

func TestCloneIsDeep(t *testing.T) {
	w, err := ParseWorkflow(readFile(t, "testdata/qwen_image_t2i_api.json"))
	if err != nil {
		t.Fatal(err)
	}
	before := w.SHA256()
	c := w.Clone()
	if !cmp.Equal(c, w) || c.SHA256() != before {
		t.Fatal("clone differs from original")
	}
	c["3"].Inputs["seed"] = json.Number("7")
	c["3"].Inputs["model"].([]any)[0] = "99"
	c["37"].Meta["title"] = "changed"
	if w["3"].Inputs["seed"] != json.Number("42") || w["3"].Inputs["model"].([]any)[0] != "66" || w["37"].Title() != "Load Diffusion Model" {
		t.Error("changing the clone changed the original")
	}
	if c.SHA256() == before {
		t.Error("SHA256 did not change with the seed")
	}
}

func TestSHA256Canonical(t *testing.T) {
	a, err := ParseWorkflow([]byte(`{"1": {"class_type": "A", "inputs": {"b": 1, "a": "x"}}, "2": {"inputs": {}, "class_type": "B"}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseWorkflow([]byte("{\n \"2\": {\"class_type\": \"B\", \"inputs\": {}},\n \"1\": {\"inputs\": {\"a\": \"x\", \"b\": 1}, \"class_type\": \"A\"}\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if a.SHA256() != b.SHA256() {
		t.Error("key order or white space changed the hash")
	}
	canonical := `{"1":{"class_type":"A","inputs":{"a":"x","b":1}},"2":{"class_type":"B","inputs":{}}}`
	sum := sha256.Sum256([]byte(canonical))
	if got, want := a.SHA256(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("SHA256 = %s, want %s (of %s)", got, want, canonical)
	}
	c, _ := ParseWorkflow([]byte(`{"1": {"class_type": "A", "inputs": {"b": 2, "a": "x"}}, "2": {"inputs": {}, "class_type": "B"}}`))
	if c.SHA256() == a.SHA256() {
		t.Error("a different value gave the same hash")
	}
}
