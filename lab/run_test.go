package lab

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/scenarios"
)

func qwenWorkflow(t *testing.T) comfy.Workflow {
	t.Helper()
	p, err := newPlan(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	return p.wf
}

func TestUpAndBenchHappyPath(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	c.readyIn = 3
	cfg := testConfig()
	cfg.Env = []string{"HF_TOKEN=hunter2", "PLAIN=1"}
	rep, err := UpAndBench(context.Background(), cfg, testDeps(e, c))
	if err != nil {
		t.Fatalf("UpAndBench: %v", err)
	}
	if len(e.specs) != 1 {
		t.Fatalf("created %d containers, want 1", len(e.specs))
	}
	s := e.specs[0]
	if s.Labels[docker.LabelRun] != "run1" || s.HostIP != "127.0.0.1" || !s.Init || s.GPUs.Kind != "none" {
		t.Errorf("unsafe or unlabelled spec: %+v", s)
	}
	if len(s.Mounts) != 1 || !s.Mounts[0].ReadOnly || s.Mounts[0].Target != "/models" {
		t.Errorf("models mount: %+v", s.Mounts)
	}
	if e.called("stop c1") != 1 || e.called("remove c1") != 1 {
		t.Errorf("teardown calls: %v", e.calls)
	}
	if !rep.Teardown.Removed || rep.Teardown.StopS == nil || len(rep.Teardown.Leftovers) != 0 {
		t.Errorf("teardown report: %+v", rep.Teardown)
	}
	cs := rep.ColdStart
	if cs == nil || cs.Phases.CreateS == nil || cs.Phases.StartS == nil || cs.Phases.FirstPromptS == nil || cs.Phases.ReadyS == nil {
		t.Fatalf("cold start phases missing: %+v", cs)
	}
	if cs.FirstPrompt == nil || !cs.FirstPrompt.Valid {
		t.Errorf("first prompt: %+v", cs.FirstPrompt)
	}
	// The top-level timeline phases add up to the total, with gaps named.
	var sum float64
	for _, te := range cs.Timeline {
		if te.Parent == "" {
			sum += te.EndS - te.StartS
		}
	}
	if d := *cs.TotalS - sum; d > 0.001 || d < -0.001 {
		t.Errorf("phases sum to %.4fs, total %.4fs", sum, *cs.TotalS)
	}
	w := rep.Warm
	if w == nil || len(w.Runs) != 3 || len(w.Warmups) != 1 || w.Invalid != 0 || w.Summary.N != 3 {
		t.Fatalf("warm: %+v", w)
	}
	seeds := map[string]bool{cs.FirstPrompt.Seed: true}
	for _, r := range append(w.Warmups, w.Runs...) {
		if seeds[r.Seed] {
			t.Errorf("seed %s used twice", r.Seed)
		}
		seeds[r.Seed] = true
		if r.ServerS == nil || r.QueueS == nil || r.ImageS == nil || r.LagS == nil || r.StepsPerS == nil || r.Steps != 4 {
			t.Errorf("run %d lacks measurements: %+v", r.Index, r)
		}
		if r.Nodes["3"].ClassType != "KSampler" || r.Nodes["3"].DurationS == nil {
			t.Errorf("run %d node 3: %+v", r.Index, r.Nodes["3"])
		}
	}
	if w.Runs[0].Seed != "44" || w.Runs[2].Seed != "46" {
		t.Errorf("seeds: base 42 → cold 42, warmup 43, runs 44..46; got %s..%s", w.Runs[0].Seed, w.Runs[2].Seed)
	}
	if rep.Target.Config["env"] != "HF_TOKEN=<redacted> PLAIN=1" {
		t.Errorf("env not redacted: %q", rep.Target.Config["env"])
	}
	if rep.GPU.Available || rep.GPU.Reason == "" {
		t.Errorf("gpu section: %+v", rep.GPU)
	}
	if rep.Container == nil || rep.Container.CPUPercentMax != 50 {
		t.Errorf("container stats: %+v", rep.Container)
	}
	if rep.Error != nil {
		t.Errorf("error in a good run: %+v", rep.Error)
	}
}

func TestCachedRunsAreInvalid(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	c.ignoreSeed = true // every prompt after the first is served from the cache
	rep, err := UpAndBench(context.Background(), testConfig(), testDeps(e, c))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Warm.Invalid != 3 || rep.Warm.Runs[0].Valid || !strings.Contains(rep.Warm.Runs[0].Invalid, "cache") {
		t.Fatalf("cached runs counted: %+v", rep.Warm.Runs[0])
	}
	if !hasWarning(rep.Warnings, "execution cache") {
		t.Errorf("no cache warning in %q", rep.Warnings)
	}
}

func TestContainerExitDuringPromptIsExplained(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	c.block = true
	e.logLines = append(e.logLines, "got prompt", "Killed")
	go func() {
		time.Sleep(100 * time.Millisecond)
		e.exit <- docker.State{ExitCode: 137, OOMKilled: true}
	}()
	start := time.Now()
	rep, err := UpAndBench(context.Background(), testConfig(), testDeps(e, c))
	var ce *ContainerExitError
	if !errors.As(err, &ce) || !ce.State.OOMKilled {
		t.Fatalf("want a ContainerExitError with OOMKilled, got %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("exit noticed after %s", time.Since(start))
	}
	if !strings.Contains(err.Error(), "OOM-killed") || !strings.Contains(err.Error(), "Killed") {
		t.Errorf("message lacks the reason or the last log lines: %v", err)
	}
	if rep.Error == nil || rep.Error.Phase != "first prompt" || len(rep.Logs.Tail) == 0 {
		t.Errorf("report: error %+v, tail %d lines", rep.Error, len(rep.Logs.Tail))
	}
	if e.called("remove c1") != 1 {
		t.Errorf("container not removed after the failure: %v", e.calls)
	}
}

func TestStartFailureRemovesTheContainer(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	e.startErr = &docker.GPUError{Driver: "nvidia", Err: errors.New(`could not select device driver "nvidia" with capabilities: [[gpu]]`)}
	rep, err := UpAndBench(context.Background(), testConfig(), testDeps(e, c))
	var ge *docker.GPUError
	if !errors.As(err, &ge) {
		t.Fatalf("want the GPU error, got %v", err)
	}
	if e.called("remove c1") != 1 || !rep.Teardown.Removed {
		t.Errorf("failed container left: calls %v, teardown %+v", e.calls, rep.Teardown)
	}
	if rep.Error == nil || rep.Error.Phase != "start" {
		t.Errorf("error phase: %+v", rep.Error)
	}
}

func TestTeardownErrorsAreJoinedNotHidden(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	c.failAt[2] = &comfy.ExecutionError{NodeID: "3", NodeType: "KSampler", ExceptionType: "torch.OutOfMemoryError", ExceptionMessage: "CUDA out of memory"}
	e.removeErr = errors.New("engine went away")
	rep, err := UpAndBench(context.Background(), testConfig(), testDeps(e, c))
	var ee *comfy.ExecutionError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "engine went away") {
		t.Fatalf("want both the execution error and the teardown error, got %v", err)
	}
	if rep.Teardown.Removed || len(rep.Teardown.Leftovers) == 0 {
		t.Errorf("teardown should report the leftover: %+v", rep.Teardown)
	}
	if len(rep.Warm.Runs) != 1 {
		t.Errorf("--on-error stop: %d runs after the failure, want it to stop at the first", len(rep.Warm.Runs))
	}
	r := rep.Warm.Runs[0]
	if r.ErrorType != "torch.OutOfMemoryError" || r.ErrorNode != "3" || r.Valid {
		t.Errorf("failed run: %+v", r)
	}
}

func TestOnErrorContinue(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	c.failAt[3] = &comfy.ExecutionError{NodeID: "3", ExceptionType: "RuntimeError"}
	cfg := testConfig()
	cfg.OnError = "continue"
	rep, err := UpAndBench(context.Background(), cfg, testDeps(e, c))
	if err == nil || !strings.Contains(err.Error(), "1 of 3 runs failed") {
		t.Fatalf("want a summary error, got %v", err)
	}
	if len(rep.Warm.Runs) != 3 || rep.Warm.Invalid != 1 || rep.Warm.Summary.N != 2 {
		t.Errorf("runs %d invalid %d n %d", len(rep.Warm.Runs), rep.Warm.Invalid, rep.Warm.Summary.N)
	}
}

func TestInterruptTearsDownAndKeepsWhatWasMeasured(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	ctx, cancel := context.WithCancel(context.Background())
	cfg := testConfig()
	cfg.Runs = 1000
	c.failAt[0] = nil
	go func() {
		for {
			c.mu.Lock()
			n := len(c.prompts)
			c.mu.Unlock()
			if n >= 5 {
				c.mu.Lock()
				c.block = true
				c.mu.Unlock()
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	rep, err := UpAndBench(ctx, cfg, testDeps(e, c))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if e.called("remove c1") != 1 {
		t.Errorf("not torn down after the interrupt: %v", e.calls)
	}
	if rep.Warm == nil || len(rep.Warm.Runs) == 0 || rep.Error == nil || !strings.Contains(rep.Error.Phase, "interrupted") {
		t.Errorf("partial report: warm %v error %+v", rep.Warm != nil, rep.Error)
	}
}

func TestPlaceholderNodeRefusedBeforeAnythingStarts(t *testing.T) {
	e := newFakeEngine()
	cfg := testConfig()
	var err error
	cfg.Scenario, err = lookup("seed-plan")
	if err != nil {
		t.Fatal(err)
	}
	wf, err := comfy.ParseWorkflow(cfg.Scenario.Workflow)
	if err != nil {
		t.Fatal(err)
	}
	c := newFakeComfy(wf)
	delete(c.info, "QwenT2IWrapper") // as a real server: the node does not exist
	rep, err := UpAndBench(context.Background(), cfg, testDeps(e, c))
	if err == nil || !strings.Contains(err.Error(), "QwenT2IWrapper") || !strings.Contains(err.Error(), "6") {
		t.Fatalf("want a preflight error naming QwenT2IWrapper and node 6, got %v", err)
	}
	if len(c.prompts) != 0 {
		t.Errorf("%d prompts sent despite the preflight failure", len(c.prompts))
	}
	if rep.Error.Phase != "preflight" || len(e.specs) != 0 || rep.ColdStart != nil {
		t.Errorf("phase %q, containers %d: a placeholder node must be refused before anything starts", rep.Error.Phase, len(e.specs))
	}
	if rep.Scenario.WorkflowSHA256 == "" {
		t.Error("the refused workflow's hash is not in the report")
	}
}

func TestDeliveryLagIsFlagged(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	c.server = 100 * time.Millisecond
	c.lag = 300 * time.Millisecond
	rep, err := UpAndBench(context.Background(), testConfig(), testDeps(e, c))
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Warm.Runs[0]
	if !r.LagFlagged || r.LagS == nil || *r.LagS < 0.29 {
		t.Fatalf("lag not flagged: %+v", r)
	}
	if rep.Warm.LagFlagged != 3 || !hasWarning(rep.Warnings, "delivery lag") {
		t.Errorf("flag count %d, warnings %q", rep.Warm.LagFlagged, rep.Warnings)
	}
	srv := rep.Warm.Summaries["server_s"]
	if srv.MedianS < 0.099 || srv.MedianS > 0.101 {
		t.Errorf("server_s median %.3f, want 0.100 (lag must not leak into it)", srv.MedianS)
	}
}

func TestSeveralColdStarts(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	cfg := testConfig()
	cfg.ColdStarts = 3
	rep, err := UpAndBench(context.Background(), cfg, testDeps(e, c))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.specs) != 3 || e.called("remove") != 3 {
		t.Fatalf("want 3 fresh containers, each removed: %v", e.calls)
	}
	if len(rep.ColdStart.Runs) != 3 || rep.ColdStart.Summary["create_s"].N != 3 {
		t.Errorf("cold runs %d, summary %+v", len(rep.ColdStart.Runs), rep.ColdStart.Summary["create_s"])
	}
	if e.specs[0].Name == e.specs[1].Name {
		t.Errorf("containers share a name: %s", e.specs[0].Name)
	}
}

func TestBenchAgainstURL(t *testing.T) {
	c := newFakeComfy(qwenWorkflow(t))
	cfg := testConfig()
	cfg.URL = "http://127.0.0.1:8188"
	rep, err := Bench(context.Background(), cfg, Deps{Dial: func(string) (Comfy, error) { return c, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Target.Kind != "url" || rep.ColdStart != nil || len(rep.Warm.Runs) != 3 || rep.Host.Docker != nil {
		t.Fatalf("bench report: %+v", rep.Target)
	}
	if !c.closed {
		t.Error("client not closed")
	}
}

// bench --cold-start-only (Runs 0, Warmup 1: the measuring container in a remote matrix's
// earlier rounds) sends the one prompt and no "warm runs" stage.
func TestBenchColdStartOnly(t *testing.T) {
	c := newFakeComfy(qwenWorkflow(t))
	cfg := testConfig()
	cfg.URL, cfg.Runs, cfg.Warmup = "http://127.0.0.1:8188", 0, 1
	var stages []string
	progress := func(ev Event) {
		if ev.Kind == EventStage {
			stages = append(stages, ev.Stage.String())
		}
	}
	rep, err := Bench(context.Background(), cfg, Deps{Dial: func(string) (Comfy, error) { return c, nil }, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.prompts) != 1 || rep.Warm == nil || len(rep.Warm.Warmups) != 1 || len(rep.Warm.Runs) != 0 {
		t.Fatalf("%d prompts, warm %+v", len(c.prompts), rep.Warm)
	}
	if slices.Contains(stages, StageWarm.String()) {
		t.Errorf("stages %q: a warm-runs stage without warm runs", stages)
	}
}

func TestSetParams(t *testing.T) {
	cfg := testConfig()
	cfg.Params = map[string]string{"steps": "8", "prompt": "a cat", "width": "768"}
	p, err := newPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.wf["3"].Inputs["steps"]; got != comfyNumber("8") {
		t.Errorf("steps = %#v", got)
	}
	if p.wf["6"].Inputs["text"] != "a cat" || p.params["width"] != comfyNumber("768") {
		t.Errorf("params not applied: %v", p.params)
	}
	cfg.Params = map[string]string{"bogus": "1"}
	if _, err := newPlan(cfg); err == nil || !strings.Contains(err.Error(), "--set bogus") || !errors.Is(err, ErrUsage) {
		t.Errorf("unknown param: %v", err)
	}
	w := p.withSeed(18446744073709551615)
	if w["3"].Inputs["seed"] != comfyNumber("18446744073709551615") || p.wf["3"].Inputs["seed"] == w["3"].Inputs["seed"] {
		t.Errorf("seed copy: %v / %v", w["3"].Inputs["seed"], p.wf["3"].Inputs["seed"])
	}
}

func hasWarning(ws []string, sub string) bool {
	for _, w := range ws {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func TestPreferCDIWhenAdvertised(t *testing.T) {
	cdi := []string{"nvidia.com/gpu=0", "nvidia.com/gpu=1", "nvidia.com/gpu=all"}
	test := func(in string, advertised []string, want string) {
		t.Helper()
		req, err := docker.ParseGPUs(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := preferCDI(req, advertised).String(); got != want {
			t.Errorf("preferCDI(%s) = %s, want %s", in, got, want)
		}
	}
	test("all", cdi, "cdi:nvidia.com/gpu=all")
	test("device=1", cdi, "cdi:nvidia.com/gpu=1")
	test("device=0,2", cdi, "device=0,2") // gpu=2 not advertised: keep the nvidia driver
	test("all", nil, "all")
	test("2", cdi, "2")
	test("none", cdi, "none")
}

func TestWarnsAboutLeftoversOfCrashedRuns(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	e.foreign = []docker.Resource{{Kind: "container", ID: "old1", RunID: "crashed42", State: "running"}}
	rep, err := UpAndBench(context.Background(), testConfig(), testDeps(e, c))
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(rep.Warnings, "crashed42") || !hasWarning(rep.Warnings, "qwenlab cleanup") {
		t.Errorf("no warning about the crashed run's container: %q", rep.Warnings)
	}
	if !rep.Teardown.Removed {
		t.Errorf("another run's leftovers count against this one: %+v", rep.Teardown)
	}
}

func TestComfyArgsExtendTheImageCommand(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	e.images["comfy:1"] = docker.Image{Ref: "comfy:1", ID: "sha256:c", Cmd: []string{"python", "main.py", "--listen"}}
	cfg := testConfig()
	cfg.Image = "comfy:1"
	cfg.GPUs = "all"
	cfg.ComfyArgs = []string{"--highvram"}
	if _, err := UpAndBench(context.Background(), cfg, testDeps(e, c)); err != nil {
		t.Fatal(err)
	}
	s := e.specs[0]
	if strings.Join(s.Cmd, " ") != "python main.py --listen --highvram" {
		t.Errorf("Cmd = %q, want the image's CMD with --highvram appended", s.Cmd)
	}
	if s.GPUs.Kind != "all" || len(s.Mounts) != 0 {
		t.Errorf("gpus %+v, mounts %+v", s.GPUs, s.Mounts)
	}
}

func TestParamsInferredFromAUserWorkflow(t *testing.T) {
	cfg := testConfig()
	cfg.WorkflowPath = "../scenarios/workflows/qwen-image-t2i.json"
	cfg.Params = map[string]string{"steps": "3", "prompt": "a lighthouse", "width": "256"}
	p, err := newPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.seed != (scenarios.Target{Node: "3", Input: "seed"}) {
		t.Errorf("seed target %+v", p.seed)
	}
	if p.wf["3"].Inputs["steps"] != comfyNumber("3") || p.wf["6"].Inputs["text"] != "a lighthouse" || p.wf["58"].Inputs["width"] != comfyNumber("256") {
		t.Errorf("params not applied to the inferred inputs: %v", p.params)
	}
	if p.params["negative"] != "ugly, blurry, low quality" {
		t.Errorf("negative prompt not found behind the sampler's negative input: %v", p.params)
	}
}
