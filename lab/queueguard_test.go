package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/comfysim"
	"github.com/qwenlab/qwenlab/report"
)

// lockedBuf collects progress lines from several goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// sharedBench benches the simulator at url with the client options the CLI sets.
func sharedBench(t *testing.T, url string, cfg Config) (*report.Report, error, *lockedBuf, *comfy.Client) {
	t.Helper()
	return sharedBenchCtx(context.Background(), t, url, cfg)
}

func sharedBenchCtx(ctx context.Context, t *testing.T, url string, cfg Config) (*report.Report, error, *lockedBuf, *comfy.Client) {
	t.Helper()
	progress := &lockedBuf{}
	cfg.URL = url
	cfg.Params = map[string]string{"width": "64", "height": "64"}
	dial := func(u string) (Comfy, error) {
		return comfy.NewClient(u, comfy.Options{ClientID: "qwenlab-" + cfg.RunID, IdleTimeout: cfg.PromptTimeout,
			QueueTimeout: cfg.QueueTimeout, InterruptWait: cfg.InterruptWait,
			Notify: func(s string) { fmt.Fprintln(progress, s) }})
	}
	rep, err := Bench(ctx, cfg, Deps{Dial: dial, Progress: lineTo(progress)})
	probe, perr := comfy.NewClient(url, comfy.Options{ClientID: "probe"})
	if perr != nil {
		t.Fatal(perr)
	}
	t.Cleanup(func() { probe.Close() })
	return rep, err, progress, probe
}

// assertNothingOfOurs checks that no prompt of the run is queued or running on the server.
func assertNothingOfOurs(t *testing.T, probe *comfy.Client, runID string) {
	t.Helper()
	q, err := probe.Queue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range append(q.Running, q.Pending...) {
		if it.ClientID == "qwenlab-"+runID {
			t.Errorf("prompt %s of ours is still on the server after the run: %+v", it.PromptID, q)
		}
	}
}

func simConfig(runID string) Config {
	cfg := testConfig()
	cfg.RunID = runID
	cfg.Warmup = 0
	cfg.InterruptWait = 10 * time.Second
	return cfg
}

// TestForeignPromptAheadIsWaitedFor: another client's prompt occupies the server when the
// benchmark starts; qwenlab says so, waits for the server to go idle and measures only its
// own work.
func TestForeignPromptAheadIsWaitedFor(t *testing.T) {
	url := startSim(t, comfysim.Config{StepTime: time.Millisecond, Faults: []string{"slow-node=" + comfysim.ForeignNode + ":1500ms"}})
	if _, err := comfysim.ForeignPrompt(context.Background(), url, "colleague"); err != nil {
		t.Fatal(err)
	}
	cfg := simConfig("wait")
	cfg.Runs = 2
	cfg.IdleWait = 20 * time.Second
	rep, err, progress, probe := sharedBench(t, url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "busy with 1 prompt(s) of other clients") {
		t.Errorf("progress does not say it waits for the server:\n%s", progress)
	}
	for _, r := range append(rep.Warm.Runs, rep.Warm.Warmups...) {
		if r.Contention != "" || !r.Valid {
			t.Errorf("run %d: contention %q valid %v: it should have waited for idle", r.Index, r.Contention, r.Valid)
		}
		if r.QueueS != nil && *r.QueueS > 0.5 {
			t.Errorf("run %d queued %.2fs: the foreign prompt leaked into it", r.Index, *r.QueueS)
		}
	}
	assertNothingOfOurs(t, probe, cfg.RunID)
}

// TestForeignPromptAheadIsFlaggedAndExcluded: when qwenlab may not wait (--idle-wait 0),
// a run queued behind a foreign prompt is flagged and left out of the statistics, and the
// summary warns; with --allow-contention it counts, and the warning says so.
func TestForeignPromptAheadIsFlaggedAndExcluded(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			url := startSim(t, comfysim.Config{StepTime: time.Millisecond, Faults: []string{"slow-node=" + comfysim.ForeignNode + ":1s"}})
			if _, err := comfysim.ForeignPrompt(context.Background(), url, "colleague"); err != nil {
				t.Fatal(err)
			}
			cfg := simConfig("flag")
			cfg.Runs = 2
			cfg.IdleWait = 0
			cfg.AllowContention = allow
			rep, err, _, probe := sharedBench(t, url, cfg)
			if err != nil {
				t.Fatal(err)
			}
			first := rep.Warm.Runs[0]
			if !strings.HasPrefix(first.Contention, "queued behind 1 foreign prompt(s) for ") || first.QueueS == nil || *first.QueueS < 0.5 {
				t.Fatalf("first run: contention %q queue %v", first.Contention, first.QueueS)
			}
			if first.Valid == !allow {
				t.Errorf("first run valid=%v with --allow-contention=%v", first.Valid, allow)
			}
			if rep.Warm.Runs[1].Contention != "" || !rep.Warm.Runs[1].Valid {
				t.Errorf("second run: %+v", rep.Warm.Runs[1])
			}
			want := "left out of the statistics"
			if allow {
				want = "they are counted (--allow-contention)"
			}
			if !hasWarning(rep.Warnings, "waited behind other clients' prompts") || !hasWarning(rep.Warnings, want) {
				t.Errorf("warnings %q", rep.Warnings)
			}
			if n := rep.Warm.Summaries["e2e_s"].N; (allow && n != 2) || (!allow && n != 1) {
				t.Errorf("e2e statistics over %d runs", n)
			}
			assertNothingOfOurs(t, probe, cfg.RunID)
		})
	}
}

// TestTimeoutOnRunningPromptIsInterruptedAndConfirmed: a node runs 1.5 s without progress
// (--fault slow-node) under --prompt-timeout 400ms: each run is interrupted by id, ComfyUI
// stops it at the next node, and the next run starts only after that; nothing of ours is
// left, and the report records each prompt's final state.
func TestTimeoutOnRunningPromptIsInterruptedAndConfirmed(t *testing.T) {
	url := startSim(t, comfysim.Config{StepTime: time.Millisecond, Faults: []string{"slow-node=8:1500ms"}})
	cfg := simConfig("intr")
	cfg.Runs = 2
	cfg.PromptTimeout = 400 * time.Millisecond
	cfg.OnError = "continue"
	rep, err, progress, probe := sharedBench(t, url, cfg)
	if err == nil {
		t.Fatal("runs that timed out did not fail the run")
	}
	for _, r := range rep.Warm.Runs {
		if r.Status != "timeout" || r.FinalState != "interrupted" {
			t.Errorf("run %d: status %q final %q (%s)", r.Index, r.Status, r.FinalState, r.Error)
		}
	}
	a, b := rep.Warm.Runs[0], rep.Warm.Runs[1]
	if b.StartedAtS < a.StartedAtS+1.4 {
		t.Errorf("run 2 submitted %.2fs after run 1: before the server stopped run 1", b.StartedAtS-a.StartedAtS)
	}
	if !strings.Contains(progress.String(), "waiting up to 10s for ComfyUI to stop it") {
		t.Errorf("progress:\n%s", progress)
	}
	assertNothingOfOurs(t, probe, cfg.RunID)
}

// TestUnconfirmedInterruptIsReportedAndNotOverlapped: the server does not stop the prompt
// within --interrupt-wait: the error names it as still running, the next run waits until it
// has left the server, and at exit nothing of ours is left (the final settle waits for it).
func TestUnconfirmedInterruptIsReportedAndNotOverlapped(t *testing.T) {
	url := startSim(t, comfysim.Config{StepTime: time.Millisecond, Faults: []string{"slow-node=8:1500ms"}})
	cfg := simConfig("stuck")
	cfg.Runs = 2
	cfg.PromptTimeout = 300 * time.Millisecond
	cfg.InterruptWait = 200 * time.Millisecond
	cfg.OnError = "continue"
	rep, err, progress, probe := sharedBench(t, url, cfg)
	if err == nil {
		t.Fatal("no error")
	}
	first := rep.Warm.Runs[0]
	if !strings.Contains(first.Error, "is still running on the server") {
		t.Errorf("run 1 error %q", first.Error)
	}
	// Looked up again before the report was written: by then ComfyUI had stopped it.
	if first.FinalState != "interrupted" {
		t.Errorf("run 1 final state %q", first.FinalState)
	}
	if !strings.Contains(progress.String(), "waiting for our earlier prompt") {
		t.Errorf("run 2 did not wait for run 1 to leave the server:\n%s", progress)
	}
	// The last run is still running when qwenlab exits: the report says so and names it.
	last := rep.Warm.Runs[1]
	if !hasWarning(rep.Warnings, "our prompt "+last.PromptID+" is still running on ComfyUI after qwenlab exits") || last.FinalState != "running" {
		t.Errorf("last run final %q, warnings %q", last.FinalState, rep.Warnings)
	}
	time.Sleep(1600 * time.Millisecond) // what still ran stops at its next node
	assertNothingOfOurs(t, probe, cfg.RunID)
}

// TestQueueTimeoutDeletesPendingPrompt: our prompt waits behind a foreign one longer than
// --queue-timeout: it is deleted from the queue (never runs, even after qwenlab is gone), the
// report says "removed", and the silence while pending is not counted as a prompt timeout.
func TestQueueTimeoutDeletesPendingPrompt(t *testing.T) {
	url := startSim(t, comfysim.Config{StepTime: time.Millisecond, Faults: []string{"slow-node=" + comfysim.ForeignNode + ":1500ms"}})
	fid, err := comfysim.ForeignPrompt(context.Background(), url, "colleague")
	if err != nil {
		t.Fatal(err)
	}
	cfg := simConfig("queued")
	cfg.Runs = 1
	cfg.IdleWait = 0
	cfg.PromptTimeout = 200 * time.Millisecond // shorter than the wait: must not fire while pending
	cfg.QueueTimeout = 600 * time.Millisecond
	rep, err, _, probe := sharedBench(t, url, cfg)
	if err == nil {
		t.Fatal("no error")
	}
	r := rep.Warm.Runs[0]
	if r.Status != "timeout" || r.FinalState != "removed" || !strings.Contains(r.Error, "waited 600ms in ComfyUI's queue") {
		t.Errorf("run: status %q final %q error %q", r.Status, r.FinalState, r.Error)
	}
	assertNothingOfOurs(t, probe, cfg.RunID)
	time.Sleep(1500 * time.Millisecond)
	if st, err := probe.PromptState(context.Background(), r.PromptID); err != nil || st != comfy.PromptUnknown {
		t.Errorf("our deleted prompt: state %q (%v): it ran after all", st, err)
	}
	if st, _ := probe.PromptState(context.Background(), fid); st != "success" {
		t.Errorf("the foreign prompt: %q", st)
	}
}

// TestOthersPromptsAreNeverTouched: a colleague queues a prompt behind ours; ours times out
// and is interrupted by its id. The colleague's prompt then runs to success while qwenlab
// exits: no global /interrupt, no queue clear, no /free.
func TestOthersPromptsAreNeverTouched(t *testing.T) {
	url := startSim(t, comfysim.Config{StepTime: time.Millisecond, Faults: []string{"slow-node=8:1s", "slow-node=" + comfysim.ForeignNode + ":1s"}})
	cfg := simConfig("polite")
	cfg.Runs = 1
	cfg.PromptTimeout = 400 * time.Millisecond
	done := make(chan error, 1)
	var fid string
	go func() {
		// Queue the colleague's prompt while ours runs its slow node.
		time.Sleep(300 * time.Millisecond)
		id, err := comfysim.ForeignPrompt(context.Background(), url, "colleague")
		fid = id
		done <- err
	}()
	rep, err, _, probe := sharedBench(t, url, cfg)
	if ferr := <-done; ferr != nil {
		t.Fatal(ferr)
	}
	if err == nil || rep.Warm.Runs[0].FinalState != "interrupted" {
		t.Fatalf("our run: %v, final %q", err, rep.Warm.Runs[0].FinalState)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := probe.PromptState(context.Background(), fid)
		if err != nil {
			t.Fatal(err)
		}
		if st == "success" {
			break
		}
		if st != comfy.PromptRunning && st != comfy.PromptPending || time.Now().After(deadline) {
			t.Fatalf("the colleague's prompt ended %q: qwenlab touched it", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCtrlCLeavesNothingOfOurs: Ctrl-C while our prompt runs a node without progress, and
// while it waits in the queue behind a colleague's: the running one is interrupted by id and
// confirmed, the pending one deleted; nothing of ours is left and the report says so.
func TestCtrlCLeavesNothingOfOurs(t *testing.T) {
	for _, pending := range []bool{false, true} {
		t.Run(fmt.Sprintf("pending=%v", pending), func(t *testing.T) {
			url := startSim(t, comfysim.Config{StepTime: time.Millisecond, Faults: []string{"slow-node=8:1s", "slow-node=" + comfysim.ForeignNode + ":1500ms"}})
			if pending {
				if _, err := comfysim.ForeignPrompt(context.Background(), url, "colleague"); err != nil {
					t.Fatal(err)
				}
			}
			cfg := simConfig("ctrlc")
			cfg.Runs = 1
			cfg.IdleWait = 0
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond) // Ctrl-C
			defer cancel()
			rep, err, _, probe := sharedBenchCtx(ctx, t, url, cfg)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v", err)
			}
			r := rep.Warm.Runs[0]
			want := "" // the server confirmed the interrupt: final state = status
			if pending {
				want = "removed"
			}
			if r.Status != "interrupted" || r.FinalState != want {
				t.Errorf("run: status %q final %q", r.Status, r.FinalState)
			}
			assertNothingOfOurs(t, probe, cfg.RunID)
		})
	}
}
