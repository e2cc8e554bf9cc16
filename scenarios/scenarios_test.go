package scenarios

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbeddedScenariosAreComplete(t *testing.T) {
	for _, s := range List() {
		var graph map[string]any
		if err := json.Unmarshal(s.Workflow, &graph); err != nil {
			t.Fatalf("%s: workflow is not JSON: %v", s.Name, err)
		}
		if p, ok := graph["prompt"].(map[string]any); ok {
			graph = p
		}
		for name, tg := range s.Params {
			node, ok := graph[tg.Node].(map[string]any)
			if !ok {
				t.Errorf("%s: param %s points at missing node %s", s.Name, name, tg.Node)
				continue
			}
			if _, ok := node["inputs"].(map[string]any)[tg.Input]; !ok {
				t.Errorf("%s: param %s points at missing input %s.%s", s.Name, name, tg.Node, tg.Input)
			}
		}
		if _, ok := s.Params["seed"]; !ok {
			t.Errorf("%s: no seed parameter: warm runs would be served from the cache", s.Name)
		}
		if len(s.Models) == 0 {
			t.Errorf("%s: lists no model files", s.Name)
		}
	}
}

func TestLookup(t *testing.T) {
	s, err := Lookup("qwen-image-t2i")
	if err != nil || s.Name != "qwen-image-t2i" || !strings.Contains(string(s.Workflow), "UNETLoader") {
		t.Fatalf("Lookup(qwen-image-t2i) = %v, %v", s.Name, err)
	}
	s, err = Lookup("seed-plan")
	if err != nil || !strings.Contains(string(s.Workflow), "QwenT2IWrapper") {
		t.Fatalf("Lookup(seed-plan) = %v, %v", s.Name, err)
	}
	_, err = Lookup("nope")
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "qwen-image-t2i") {
		t.Fatalf("Lookup(nope) error %v should be ErrUnknown and list the scenarios", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("g.json", `{"1": {"class_type": "EmptyImage", "inputs": {}}}`)
	p := write("s.json", `{"name": "mine", "workflow": "g.json", "params": {"seed": {"node": "1", "input": "seed"}}, "budgets": {"ready": "60s", "model_load": "30s"}}`)
	s, err := Lookup(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "mine" || !strings.Contains(string(s.Workflow), "EmptyImage") || s.Params["seed"].Node != "1" {
		t.Fatalf("loaded %+v", s)
	}
	if strings.Join(s.Budgets, ",") != "model_load=30s,ready=60s" {
		t.Fatalf("budgets %v", s.Budgets)
	}

	inline := write("inline.json", `{"workflow": {"1": {"class_type": "X", "inputs": {}}}}`)
	s, err = Load(inline)
	if err != nil || s.Name != "inline" {
		t.Fatalf("inline: %v %v", s.Name, err)
	}

	bad := map[string]string{
		"broken.json":  `{"workflow": `,
		"syntax.json":  "{\n  \"workflow\": x}",
		"array.json":   `[1,2]`,
		"unknown.json": `{"workflow": {}, "bogus": 1}`,
		"nowf.json":    `{"name": "x"}`,
		"missing.json": `{"workflow": "nothere.json"}`,
		"param.json":   `{"workflow": {}, "params": {"seed": {"node": "1"}}}`,
		// Paths from a downloaded file may not leave their folder (placeholders are written
		// from model entries; the workflow is read from beside the file).
		"dotdot.json":   `{"workflow": {}, "models": ["vae/../../../escaped.txt"]}`,
		"abs.json":      `{"workflow": {}, "models": ["/etc/qwenlab-escaped"]}`,
		"backsl.json":   `{"workflow": {}, "models": ["..\\x"]}`,
		"wfdotdot.json": `{"workflow": "../outside.json"}`,
		"wfabs.json":    `{"workflow": "/etc/passwd"}`,
	}
	for name, body := range bad {
		_, err := Load(write(name, body))
		var fe *FileError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: want a FileError naming the file, got %v", name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("absent file: %v", err)
	}
	_, err = Load(write("syntax2.json", "{\n  \"workflow\": x}"))
	if !strings.Contains(err.Error(), "line 2") {
		t.Errorf("syntax error should give the line: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"name": "a", "workflow": {"1": {}}, "params": {"seed": {"node": "1", "input": "seed"}}}`))
	f.Add([]byte(`{"workflow": "x.json"}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(filepath.Join(t.TempDir(), "f.json"), data)
		if err == nil && len(s.Workflow) == 0 {
			t.Fatal("accepted a scenario without a workflow")
		}
	})
}

// TestStdlibOnly keeps this package a leaf: it may import nothing outside the standard library
// but qwenlab's internal helpers, which must themselves import only the standard library (the
// list is of every dependency, so a non-stdlib import of theirs shows too).
func TestStdlibOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasSuffix(p, "/scenarios") && !strings.HasPrefix(p, "github.com/qwenlab/qwenlab/internal/") {
			t.Errorf("scenarios imports non-stdlib package %s", p)
		}
	}
}
