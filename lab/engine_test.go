package lab

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/comfysim"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/report"
)

// TestMain lets this test binary serve as the simulator inside the image built from it
// (ENTRYPOINT ["/qwenlab", "sim"]).
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "qwenlab" && len(os.Args) > 1 && os.Args[1] == "sim" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := comfysim.Command(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		if err != nil {
			os.Stderr.WriteString("qwenlab: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// realEngine connects to the Docker Engine and builds the simulator image from this test
// binary in a repository of its own. Without an engine it skips, unless CI requires one.
func realEngine(t *testing.T) (*docker.Client, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("real engine tests are skipped with -short")
	}
	ctx := context.Background()
	dc, err := docker.New(ctx)
	if err != nil {
		if errors.Is(err, docker.ErrUnreachable) && os.Getenv("QWENLAB_REQUIRE_DOCKER") != "1" {
			t.Skipf("no Docker Engine: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := dc.SimImageIn(ctx, "qwenlab-sim-labtest", exe, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.RemoveImage(context.Background(), ref) })
	return dc, ref
}

func engineConfig(t *testing.T, name string) Config {
	cfg := testConfig()
	cfg.RunID = "labtest-" + name + "-" + time.Now().Format("150405.000")
	// Whatever a failed test left of this run is removed too (assertNoLeftovers only runs
	// when the run itself returned).
	runID := cfg.RunID
	t.Cleanup(func() {
		ctx := context.Background()
		dc, err := docker.New(ctx)
		if err != nil {
			return
		}
		defer dc.Close()
		left, _ := dc.ListLabelled(ctx, runID)
		for _, r := range left {
			dc.RemoveResource(ctx, r)
		}
	})
	cfg.Runs = 2
	cfg.Warmup = 0
	cfg.SimProfile = "instant"
	cfg.Params = map[string]string{"width": "64", "height": "64"}
	return cfg
}

func engineDeps(dc *docker.Client, ref string, cfg Config) Deps {
	return Deps{
		Engine:    dc,
		Dial:      realDial(cfg),
		SimImage:  func(context.Context) (string, error) { return ref, nil },
		GPUReason: "no NVML in tests",
	}
}

func assertNoLeftovers(t *testing.T, dc *docker.Client, runID string) {
	t.Helper()
	left, err := dc.ListLabelled(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range left {
		t.Errorf("left behind: %s %s", r.Kind, r.ID)
		dc.RemoveResource(context.Background(), r)
	}
}

// TestTeardownIsFastWithInit: a server that ignores SIGTERM (like python as PID 1) stops at
// once under the engine's init process, and only at the stop timeout without it.
func TestTeardownIsFastWithInit(t *testing.T) {
	dc, ref := realEngine(t)
	for _, init := range []bool{true, false} {
		cfg := engineConfig(t, "init")
		cfg.Init = init
		cfg.ComfyArgs = []string{"--ignore-sigterm"}
		// With init the stop must not wait out its grace period: a long one tells the two
		// apart on a loaded machine too (a stop under init took 2.5 s under CI load).
		cfg.StopTimeout = 3 * time.Second
		if init {
			cfg.StopTimeout = 15 * time.Second
		}
		rep, err := UpAndBench(context.Background(), cfg, engineDeps(dc, ref, cfg))
		if err != nil {
			t.Fatalf("init=%v: %v", init, err)
		}
		assertNoLeftovers(t, dc, cfg.RunID)
		stop := *rep.Teardown.StopS
		switch {
		case init && stop >= 7.5:
			t.Errorf("with --init the stop took %.2fs: it waited for its 15 s grace period", stop)
		case !init && stop < 2.5:
			t.Errorf("without --init a SIGTERM-ignoring server stopped in %.2fs: is --ignore-sigterm in effect?", stop)
		}
		if !rep.Teardown.Removed || rep.Warm.Summary.N != 2 {
			t.Errorf("init=%v: teardown %+v, %d valid runs", init, rep.Teardown, rep.Warm.Summary.N)
		}
		// The server log's own account was paired with every prompt.
		for _, r := range rep.Warm.Runs {
			if r.LogExecutedS == nil {
				t.Errorf("run %d: no 'Prompt executed in' from the logs", r.Index)
			}
		}
	}
}

// TestContainerCrashIsDetectedAtOnce: the simulator exits in the middle of the first prompt;
// the run fails within seconds (not at a timeout) with the exit code and the last log lines.
func TestContainerCrashIsDetectedAtOnce(t *testing.T) {
	dc, ref := realEngine(t)
	cfg := engineConfig(t, "crash")
	cfg.ComfyArgs = []string{"--fault", "crash-at-step=3"}
	start := time.Now()
	rep, err := UpAndBench(context.Background(), cfg, engineDeps(dc, ref, cfg))
	var ce *ContainerExitError
	if !errors.As(err, &ce) {
		t.Fatalf("want a ContainerExitError, got %v", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("crash noticed after %s", took)
	}
	if ce.State.ExitCode == 0 || len(ce.Tail) == 0 || rep.Error == nil || len(rep.Logs.Tail) == 0 {
		t.Errorf("exit %d, tail %d lines, report error %+v", ce.State.ExitCode, len(ce.Tail), rep.Error)
	}
	assertNoLeftovers(t, dc, cfg.RunID)
}

// TestSilentStallsAreSaidWithin30s: a simulator that fills its 150 MiB memory limit before
// its first log line and churns it in silence (--fault thrash-at-startup), as ComfyUI
// importing torch into a too-small --memory did, and one that sits idle and silent at startup
// (--startup-stall). qwenlab says what is probably wrong live and in the report within 30 s of
// the start, and --fail-on-slow stops the wait there (exit 3) instead of sitting out the start
// timeout.
func TestSilentStallsAreSaidWithin30s(t *testing.T) {
	dc, ref := realEngine(t)
	for _, tc := range []struct {
		name   string
		args   []string
		memory int64
		kind   report.SlowKind
		say    []string
	}{
		{"thrashing", []string{"--fault", "thrash-at-startup"}, 150 << 20, report.SlowThrashing,
			[]string{"150 MiB memory limit for", "it is probably thrashing; raise --memory"}},
		{"stuck", []string{"--startup-stall", "5m"}, 0, report.SlowStuck,
			[]string{"container used no CPU and logged nothing for", "it is probably stuck"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := engineConfig(t, tc.name)
			cfg.ComfyArgs = tc.args
			cfg.MemoryBytes = tc.memory
			cfg.StartTimeout = 2 * time.Minute
			cfg.FailOnSlow = true
			cfg.Stall.Window = 8 * time.Second // the default (20 s) is said within 30 s too; keep the test short
			progress := &lockedBuf{}
			deps := engineDeps(dc, ref, cfg)
			deps.Progress = lineTo(progress)
			start := time.Now()
			rep, err := UpAndBench(context.Background(), cfg, deps)
			took := time.Since(start)
			var se *StallError
			if !errors.As(err, &se) || !errors.Is(err, ErrSlow) || se.Kind != tc.kind {
				t.Fatalf("want a %s StallError, got %v\nprogress:\n%s", tc.kind, err, progress)
			}
			if took > 30*time.Second {
				t.Errorf("said after %s", took)
			}
			for _, want := range tc.say {
				if !strings.Contains(progress.String(), want) || !hasWarning(rep.Warnings, want) {
					t.Errorf("%q missing; progress:\n%s\nwarnings %q", want, progress, rep.Warnings)
				}
			}
			found := false
			for _, s := range rep.Logs.SlowSteps {
				found = found || s.Kind == tc.kind
			}
			if !found {
				t.Errorf("slow steps %+v", rep.Logs.SlowSteps)
			}
			assertNoLeftovers(t, dc, cfg.RunID)
		})
	}
}
