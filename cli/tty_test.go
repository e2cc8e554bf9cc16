package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// qwenlabBin is this test binary under the name "qwenlab" (testscript.Main put it on PATH).
func qwenlabBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("qwenlab")
	if err != nil {
		t.Fatalf("qwenlab is not on PATH (testscript.Main puts it there): %v", err)
	}
	return p
}

// tmux runs tmux on a server of this test's own.
type tmux struct {
	t      *testing.T
	socket string
}

func (x tmux) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", x.socket}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is what the pane shows now (with history when withHistory).
func (x tmux) screen(withHistory bool) string {
	args := []string{"capture-pane", "-p", "-t", "q"}
	if withHistory {
		args = append(args, "-S", "-500")
	}
	return x.run(args...)
}

// TestLiveStatusInATerminal drives up-and-bench in a real pseudo-terminal (a tmux pane) and
// checks, while it runs, that the live area shows the stage, `run i/N` and `step k/K`, and at
// the end that the live area is gone and the screen holds the summary.
func TestLiveStatusInATerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("QWENLAB_REQUIRE_DOCKER") == "1" {
			t.Fatal("tmux is missing (.ci/run installs it)")
		}
		t.Skip("no tmux")
	}
	if !dockerReachable(t) {
		t.Skip("no Docker engine")
	}
	t.Setenv("QWENLAB_SIM_REPO", simRepo)
	prebuildSimImage(t)
	bin := qwenlabBin(t)
	dir := t.TempDir()
	x := tmux{t: t, socket: fmt.Sprintf("qwenlab-test-%d", os.Getpid())}
	// 60 steps of 40 ms (the simulator's default profile): each prompt is seconds long.
	cmd := fmt.Sprintf("cd %s && QWENLAB_SIM_REPO=%s %s up-and-bench --runs 3 --warmup 0 --set steps=60 -o r.json; echo EXIT=$?; sleep 300", dir, simRepo, bin)
	x.run("new-session", "-d", "-s", "q", "-x", "100", "-y", "60", cmd)
	t.Cleanup(func() { exec.Command("tmux", "-L", x.socket, "kill-server").Run() })

	seen := map[string]string{}
	want := map[string]*regexp.Regexp{
		"stage":     regexp.MustCompile(`(?m)^● (first prompt|warm runs) \d+\.\ds`),
		"run i/N":   regexp.MustCompile(`(?m)^  run [123]/3 \d`),
		"step k/K":  regexp.MustCompile(`step \d+/60`),
		"waiting":   regexp.MustCompile(`(?m)^✓ waiting for ComfyUI +\S+ \S+`),
		"first run": regexp.MustCompile(`(?m)^✓ first prompt +\S+ \S+  first image`),
	}
	var final string
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		s := x.screen(false)
		for name, re := range want {
			if _, ok := seen[name]; !ok && re.MatchString(s) {
				seen[name] = s
			}
		}
		if strings.Contains(s, "EXIT=") {
			final = x.screen(true)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if final == "" {
		t.Fatalf("up-and-bench did not finish in time; the screen:\n%s", x.screen(true))
	}
	for name := range want {
		if _, ok := seen[name]; !ok {
			t.Errorf("the live area never showed %s; the last screen:\n%s", name, final)
		}
	}
	if !strings.Contains(final, "EXIT=0") {
		t.Errorf("up-and-bench failed:\n%s", final)
	}
	for _, w := range []string{"Cold start  total", "Warm runs  3 valid", "Report: r.json"} {
		if !strings.Contains(final, w) {
			t.Errorf("the final screen lacks the summary's %q:\n%s", w, final)
		}
	}
	if strings.Contains(final, "● ") {
		t.Errorf("the live area is still on the screen after the run:\n%s", final)
	}
	if t.Failed() {
		for name, s := range seen {
			t.Logf("screen when %s was seen:\n%s", name, s)
		}
	}
}

// TestPipedJSON: with stdout piped and --json, stdout is exactly one JSON report and stderr
// holds timestamped progress lines without escape sequences or carriage returns.
func TestPipedJSON(t *testing.T) {
	stdout, stderr := upAndBenchPiped(t, "--runs", "2", "--json", "-o", filepath.Join(t.TempDir(), "r.json"))
	dec := json.NewDecoder(stdout)
	var rep map[string]any
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is no JSON report: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Errorf("stdout holds more than one JSON document (next token: %v)", err)
	}
	if rep["schema_version"] == nil || rep["warm"] == nil {
		t.Errorf("stdout's JSON is not the report: %v", rep)
	}
	errOut := stderr.String()
	if strings.ContainsAny(errOut, "\x1b\r") {
		t.Errorf("stderr holds control characters: %q", errOut)
	}
	stamped := regexp.MustCompile(`^\d\d:\d\d:\d\d \S`)
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if !stamped.MatchString(l) {
			t.Errorf("progress line without a timestamp: %q", l)
		}
	}
	for _, w := range []string{"waiting for ComfyUI done in", "run 2/2: e2e", "teardown done in"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
}

// TestQuietRun: --quiet leaves stderr empty on success; stdout has the summary and where the
// report went.
func TestQuietRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	stdout, stderr := upAndBenchPiped(t, "--runs", "1", "--quiet", "-o", out)
	if stderr.Len() != 0 {
		t.Errorf("--quiet wrote on stderr:\n%s", stderr.String())
	}
	if s := stdout.String(); !strings.Contains(s, "Warm runs  1 valid") || !strings.HasSuffix(s, "Report: "+out+"\n") {
		t.Errorf("stdout:\n%s", s)
	}
}

// upAndBenchPiped runs up-and-bench on the simulator's instant profile with stdout and
// stderr piped (a terminal-capable TERM, so that only the pipe keeps escape codes out) and
// returns both; it fails the test if the run fails and skips it without an engine.
func upAndBenchPiped(t *testing.T, args ...string) (stdout, stderr *bytes.Buffer) {
	t.Helper()
	if !dockerReachable(t) {
		t.Skip("no Docker engine")
	}
	t.Setenv("QWENLAB_SIM_REPO", simRepo)
	prebuildSimImage(t)
	stdout, stderr = new(bytes.Buffer), new(bytes.Buffer)
	cmd := exec.Command(qwenlabBin(t), append([]string{"up-and-bench", "--sim-profile", "instant"}, args...)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "COLORTERM=truecolor")
	if err := cmd.Run(); err != nil {
		t.Fatalf("up-and-bench %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout, stderr
}
