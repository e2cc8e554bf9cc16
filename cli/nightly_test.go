package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/report"
)

func TestNightlyName(t *testing.T) {
	r := &report.Report{StartedAt: time.Date(2026, 9, 10, 2, 3, 4, 0, time.UTC)}
	r.Host.Hostname = "gpu box/1"
	r.Target.Image = &report.ImageInfo{Ref: "ghcr.io/example/comfyui-qwen:0.3.64"}
	if got := nightlyName(r); got != "20260910T020304Z_ghcr.io-example-comfyui-qwen-0.3.64_gpu-box-1.json" {
		t.Errorf("nightlyName = %q", got)
	}
	m := &report.Report{StartedAt: r.StartedAt, Sections: []report.Section{{Label: "sim:instant"}, {Label: "sim:default"}}}
	if got := nightlyName(m); got != "20260910T020304Z_sim-instant-sim-default_unknown.json" {
		t.Errorf("matrix nightlyName = %q", got)
	}
}

func TestRerunArgs(t *testing.T) {
	dir := t.TempDir()
	r := &report.Report{Invocation: &report.Invocation{Command: "up-and-bench", Args: []string{
		"--workflow=/gone/wf.json", "--set=steps=4", "--runs=6", "--env=HF_TOKEN=" + report.Redacted, "--env=PLAIN=1",
	}}}
	r.Scenario.Workflow = []byte(`{"3":{"class_type":"KSampler","inputs":{}}}`)
	r.Target.Image = &report.ImageInfo{Ref: "ghcr.io/example/comfy:1", Digest: "sha256:aaa", ID: "sha256:bbb"}
	args, notes, err := rerunArgs(r, "r.json", dir)
	if err != nil {
		t.Fatal(err)
	}
	wf := filepath.Join(dir, "workflow.json")
	want := "--runs=6 --env=PLAIN=1 --workflow=" + wf + " --image=ghcr.io/example/comfy@sha256:aaa"
	if got := strings.Join(args, " "); got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	if b, err := os.ReadFile(wf); err != nil || string(b) != string(r.Scenario.Workflow) {
		t.Errorf("workflow file: %q, %v", b, err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "--env HF_TOKEN was redacted") {
		t.Errorf("notes %q", notes)
	}

	// A local image is pinned to its ID, with a note; a scenario run keeps its --set.
	r.Invocation.Args = []string{"--set=steps=4"}
	r.Target.Image = &report.ImageInfo{Ref: "mine:dev", ID: "sha256:0123456789abcdef0123"}
	args, notes, err = rerunArgs(r, "r.json", dir)
	if err != nil || strings.Join(args, " ") != "--set=steps=4 --image=sha256:0123456789abcdef0123" || len(notes) != 1 {
		t.Errorf("local image: %q %q %v", args, notes, err)
	}
	r.Invocation = nil
	if _, _, err := rerunArgs(r, "old.json", dir); err == nil || !strings.Contains(err.Error(), "does not record its command") {
		t.Errorf("no invocation: %v", err)
	}
}

func TestRerunFlag(t *testing.T) {
	file, rest, ok, err := rerunFlag([]string{"--runs", "3", "--rerun", "r.json", "-o", "x.json"})
	if err != nil || !ok || file != "r.json" || strings.Join(rest, " ") != "--runs 3 -o x.json" {
		t.Errorf("got %q %q %v %v", file, rest, ok, err)
	}
	if _, _, ok, _ := rerunFlag([]string{"--rerun=r.json"}); !ok {
		t.Error("--rerun=FILE not found")
	}
	if _, _, _, err := rerunFlag([]string{"--rerun"}); err == nil {
		t.Error("--rerun without a file accepted")
	}
}
