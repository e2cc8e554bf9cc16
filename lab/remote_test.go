package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/report"
)

// TestRemoteMerge: the cold start comes from the engine's create/start events and the
// measuring container's ready time and first prompt; the first warm-up is that first prompt.
func TestRemoteMerge(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ready := t0.Add(3 * time.Second)
	cfg := Defaults()
	cfg.RunID = "r1"
	rr := &remoteRun{run: newRun(cfg, Deps{}), comfyID: "c1", agentID: "a1", network: "qwenlab-r1", agentRef: "qwenlab-sim:x"}
	rr.events = []docker.Event{
		{ContainerID: "c1", Action: "create", Time: t0},
		{ContainerID: "c1", Action: "start", Time: t0.Add(500 * time.Millisecond)},
		{ContainerID: "a1", Action: "create", Time: t0.Add(600 * time.Millisecond)},
		{ContainerID: "c1", Action: "die", Time: t0.Add(9 * time.Second), ExitCode: "137"},
		// An earlier matrix entry's container under the same run id: the engine replays it.
		{ContainerID: "c0", Action: "destroy", Time: t0.Add(-time.Second)},
	}
	rr.docker = &docker.Info{Name: "gpu1", OS: "Debian", NCPU: 64, Arch: "x86_64"}
	rr.agent = &report.Report{
		Target: report.Target{ReadyAt: &ready, ComfyUIVersion: "0.21.0"},
		GPU:    report.GPUSection{Available: false, Reason: "NVML not found"},
		Warm: &report.Warm{
			Warmups: []report.Run{{Kind: "warmup", Seed: "42", LatencyS: report.Seconds(2)}, {Kind: "warmup", Seed: "43", LatencyS: report.Seconds(0.5)}},
			Runs:    []report.Run{{Kind: "warm", Seed: "44", LatencyS: report.Seconds(0.4)}},
		},
	}
	rep := &report.Report{Missing: map[string]string{}}
	rr.merge(rep)
	cs := rep.ColdStart
	if cs == nil {
		t.Fatal("no cold start")
	}
	check := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || *got < want-1e-9 || *got > want+1e-9 {
			t.Errorf("%s = %v, want %g", name, got, want)
		}
	}
	check("start_s", cs.Phases.StartS, 0.5)
	check("ready_s", cs.Phases.ReadyS, 2.5)
	check("first_prompt_s", cs.Phases.FirstPromptS, 2)
	if cs.TotalS == nil || *cs.TotalS < 5-1e-9 || *cs.TotalS > 5+1e-9 {
		t.Errorf("total %v, want 5", cs.TotalS)
	}
	if cs.FirstPrompt == nil || cs.FirstPrompt.Seed != "42" || len(rep.Warm.Warmups) != 1 || rep.Warm.Warmups[0].Seed != "43" {
		t.Errorf("first prompt %+v, warmups %+v", cs.FirstPrompt, rep.Warm.Warmups)
	}
	if !strings.HasPrefix(rep.GPU.Reason, "remote host") || !strings.Contains(rep.GPU.Reason, "NVML not found") {
		t.Errorf("gpu reason %q", rep.GPU.Reason)
	}
	if rep.Host.Hostname != "gpu1" || rep.Host.CPUs != 64 {
		t.Errorf("host %+v", rep.Host)
	}
	r := rep.Target.Remote
	if r == nil || len(r.Events) != 4 || r.Events[2].Container != "agent" || r.Events[3].ExitCode != "137" {
		t.Errorf("remote %+v", r)
	}
}

func TestRemoteAgentArgs(t *testing.T) {
	cfg := Defaults()
	cfg.Runs, cfg.Warmup, cfg.ContainerPort = 7, 2, 8189
	cfg.Params = map[string]string{"steps": "4", "height": "64"}
	rr := &remoteRun{run: newRun(cfg, Deps{})}
	got := strings.Join(rr.agentArgs(), " ")
	for _, want := range []string{"bench --url http://comfy:8189 --json --out=", "--wait-ready 10m0s", "--same-host --private-network", "--runs 7", "--warmup 3", "--set height=64 --set steps=4"} {
		if !strings.Contains(got, want) {
			t.Errorf("agent args %q lack %q", got, want)
		}
	}
	if slices.Contains(rr.agentArgs(), "--port") {
		t.Error("the measuring container must publish nothing")
	}

	// A matrix's round before the last (Runs and Warmup 0): the cold start only, in the
	// bench command's own mode, since it refuses --runs 0.
	cfg.Runs, cfg.Warmup = 0, 0
	rr = &remoteRun{run: newRun(cfg, Deps{})}
	args := rr.agentArgs()
	if !slices.Contains(args, "--cold-start-only") || slices.Contains(args, "--runs") || slices.Contains(args, "--warmup") {
		t.Errorf("cold-start-only agent args %q", args)
	}
}

// The measuring container's report of a cold start only: its one prompt is the first prompt,
// and there is no warm section (as a local matrix's earlier rounds have none).
func TestRemoteMergeColdStartOnly(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ready := t0.Add(2 * time.Second)
	cfg := Defaults()
	cfg.RunID, cfg.Runs, cfg.Warmup = "r1", 0, 0
	rr := &remoteRun{run: newRun(cfg, Deps{}), comfyID: "c1", agentID: "a1"}
	rr.events = []docker.Event{{ContainerID: "c1", Action: "create", Time: t0}, {ContainerID: "c1", Action: "start", Time: t0.Add(time.Second)}}
	rr.agent = &report.Report{
		Target: report.Target{ReadyAt: &ready},
		Warm:   report.SummarizeWarm(nil, []report.Run{{Kind: "warmup", Seed: "42", LatencyS: report.Seconds(1.5)}}),
	}
	rep := &report.Report{Missing: map[string]string{"cold_start": "x"}}
	rr.merge(rep)
	if rep.Warm != nil {
		t.Errorf("warm section %+v for a cold start only", rep.Warm)
	}
	if cs := rep.ColdStart; cs == nil || cs.FirstPrompt == nil || cs.FirstPrompt.Seed != "42" || cs.TotalS == nil || *cs.TotalS != 3.5 {
		t.Errorf("cold start %+v", cs)
	}
}

// gone is a remote engine that stopped answering.
type goneRemote struct{ *fakeEngine }

func (goneRemote) ListLabelled(context.Context, string) ([]docker.Resource, error) {
	return nil, fmt.Errorf("list containers: no answer from the Docker Engine at ssh://gpu1 (EOF): %w", docker.ErrUnreachable)
}
func (goneRemote) CreateNetwork(context.Context, string, string) (string, error) { return "", nil }
func (goneRemote) WatchEvents(context.Context, string) <-chan docker.Event       { return nil }
func (goneRemote) RemoveResource(context.Context, docker.Resource) error         { return nil }
func (goneRemote) Name() string                                                  { return "gpu1" }
func (goneRemote) CopyFiles(context.Context, string, map[string][]byte) error    { return nil }

// A remote engine lost at teardown: the leftovers name what the run made, not the failed
// listing, and the error is in phase teardown with the cleanup command (issue 10, item 19).
func TestRemoteTeardownNamesWhatItMade(t *testing.T) {
	cfg := Defaults()
	cfg.RunID = "r1"
	rr := &remoteRun{run: newRun(cfg, Deps{}), e: goneRemote{newFakeEngine()}, comfyID: "0123456789abcdef", agentID: "fedcba9876543210", network: "qwenlab-r1"}
	err := rr.teardownRemote(context.Background())
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "teardown" || !strings.Contains(err.Error(), "qwenlab cleanup --run r1") {
		t.Errorf("error: %v", err)
	}
	want := []string{
		"container 0123456789ab (not confirmed removed: engine unreachable)",
		"container fedcba987654 (not confirmed removed: engine unreachable)",
		"network qwenlab-r1 (not confirmed removed: engine unreachable)",
	}
	if got := rr.td.section().Leftovers; !slices.Equal(got, want) {
		t.Errorf("leftovers = %q, want %q", got, want)
	}
}

// A --workflow or scenario file reaches the measuring container as a copy in its own folder,
// the command line naming that copy.
func TestRemoteAgentInputs(t *testing.T) {
	dir := t.TempDir()
	wf := filepath.Join(dir, "mine.json")
	if err := os.WriteFile(wf, []byte(`{"1": {"class_type": "EmptyImage", "inputs": {}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.WorkflowPath = wf
	rr := &remoteRun{run: newRun(cfg, Deps{})}
	in, err := rr.agentInputs()
	if err != nil || len(in) != 1 || !strings.Contains(string(in[agentWorkflow]), "EmptyImage") {
		t.Fatalf("inputs %v, %v", in, err)
	}
	if got := strings.Join(rr.agentArgs(), " "); !strings.Contains(got, "--workflow "+agentWorkflow) {
		t.Errorf("agent args %q lack --workflow %s", got, agentWorkflow)
	}

	cfg = Defaults()
	cfg.Scenario.Source, cfg.Scenario.Name = filepath.Join(dir, "s.json"), "mine"
	if err := os.WriteFile(cfg.Scenario.Source, []byte(`{"name": "mine"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	rr = &remoteRun{run: newRun(cfg, Deps{})}
	if in, err := rr.agentInputs(); err != nil || string(in[agentScenario]) != `{"name": "mine"}` {
		t.Fatalf("inputs %v, %v", in, err)
	}
	args := rr.agentArgs()
	if i := slices.Index(args, "--scenario"); i < 0 || args[i+1] != agentScenario || slices.Contains(args, "--workflow") {
		t.Errorf("agent args %q: want --scenario %s", args, agentScenario)
	}

	cfg = Defaults() // an embedded scenario needs no file
	rr = &remoteRun{run: newRun(cfg, Deps{})}
	if in, err := rr.agentInputs(); err != nil || in != nil {
		t.Errorf("embedded scenario inputs %v, %v", in, err)
	}
}

// frozenRemote is a remote engine that answers its first answers calls and then freezes: a
// call blocks until its context ends. It records each call and the deadline it was given.
type frozenRemote struct {
	goneRemote
	answers int

	mu        sync.Mutex
	res       []docker.Resource
	calls     []string
	deadlines []time.Time
}

func (f *frozenRemote) call(ctx context.Context, what string) error {
	f.mu.Lock()
	f.calls = append(f.calls, what)
	dl, _ := ctx.Deadline()
	f.deadlines = append(f.deadlines, dl)
	frozen := len(f.calls) > f.answers
	f.mu.Unlock()
	if !frozen {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *frozenRemote) ListLabelled(ctx context.Context, _ string) ([]docker.Resource, error) {
	if err := f.call(ctx, "list"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.res), nil
}

func (f *frozenRemote) RemoveResource(ctx context.Context, x docker.Resource) error {
	if err := f.call(ctx, "remove "+x.ID); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.res = slices.DeleteFunc(f.res, func(y docker.Resource) bool { return y.ID == x.ID })
	return nil
}

// A remote engine that freezes during teardown costs --teardown-timeout once for the whole
// teardown, as the local teardown does: every call it makes has the one deadline, no call
// follows the one that went unanswered, a progress line says what it waits for and when it
// gives up, and the leftovers name what was not confirmed removed.
func TestRemoteFrozenEngineTeardownHasOneDeadline(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	for _, tc := range []struct {
		answers   int
		calls     string
		waitsTo   string
		leftovers []string
	}{
		{0, "list", "list the run's resources", []string{"container 0123456789ab", "container fedcba987654", "network qwenlab-r1"}},
		{1, "list remove 0123456789abcdef", "remove container 0123456789ab", []string{"container 0123456789ab", "container fedcba987654", "network qwenlab-r1"}},
		{2, "list remove 0123456789abcdef remove fedcba9876543210", "remove container fedcba987654", []string{"container fedcba987654", "network qwenlab-r1"}},
	} {
		cfg := Defaults()
		cfg.RunID, cfg.TeardownTimeout = "r1", timeout
		progress := &syncBuffer{}
		e := &frozenRemote{goneRemote: goneRemote{newFakeEngine()}, answers: tc.answers, res: []docker.Resource{
			{Kind: "container", ID: "0123456789abcdef", RunID: "r1"},
			{Kind: "container", ID: "fedcba9876543210", RunID: "r1"},
			{Kind: "network", ID: "9999999999999999", Name: "qwenlab-r1", RunID: "r1"},
		}}
		rr := &remoteRun{run: newRun(cfg, Deps{Progress: lineTo(progress)}), e: e, comfyID: "0123456789abcdef", agentID: "fedcba9876543210", network: "qwenlab-r1"}
		rr.td.noteAfter = 300 * time.Millisecond
		start := time.Now()
		err := rr.teardownRemote(context.Background())
		took := time.Since(start)

		name := fmt.Sprintf("frozen after %d answers", tc.answers)
		var pe *PhaseError
		if !errors.As(err, &pe) || pe.Phase != "teardown" {
			t.Fatalf("%s: want a teardown error, got %v", name, err)
		}
		for _, want := range []string{"no answer from the engine within --teardown-timeout 1.5s", "qwenlab cleanup --run r1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q lacks %q", name, err, want)
			}
		}
		e.mu.Lock()
		calls, deadlines := strings.Join(e.calls, " "), slices.Clone(e.deadlines)
		e.mu.Unlock()
		if calls != tc.calls {
			t.Errorf("%s: calls %q, want %q (none after the unanswered one)", name, calls, tc.calls)
		}
		for i, dl := range deadlines {
			if dl.IsZero() || !dl.Equal(deadlines[0]) {
				t.Errorf("%s: call %d had deadline %v, want the one deadline %v of the whole teardown", name, i, dl, deadlines[0])
			}
		}
		if took < timeout || took > timeout+5*time.Second {
			t.Errorf("%s: teardown took %s with --teardown-timeout %s", name, took, timeout)
		}
		if want := "teardown: waiting for the Docker Engine to " + tc.waitsTo + " (gives up in "; !strings.Contains(progress.String(), want) {
			t.Errorf("%s: no progress line %q while the teardown waited:\n%s", name, want, progress.String())
		}
		var want []string
		for _, l := range tc.leftovers {
			want = append(want, l+" (not confirmed removed: no answer from the engine within --teardown-timeout 1.5s)")
		}
		if sec := rr.td.section(); sec.Removed || !slices.Equal(sec.Leftovers, want) {
			t.Errorf("%s: teardown section %+v, want leftovers %q", name, sec, want)
		}
	}
}
