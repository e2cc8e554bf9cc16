package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/report"
)

// comfyAlias is ComfyUI's name on a remote run's private network.
const comfyAlias = "comfy"

// LabelRole marks what a container of a remote run is: "comfyui" or "agent".
const LabelRole = "qwenlab.role"

// remoteRun is one up-and-bench on a remote engine. The WebSocket client must not cross the
// network between here and there (the latency would be the network's, not ComfyUI's) and no
// port may be opened there: qwenlab's own image runs on the engine as a short-lived
// measuring container on a private network beside ComfyUI (bench --url http://comfy:PORT
// --json), its report comes back over the engine API (its logs), and is merged with what the
// engine saw, on the engine's own clock.
type remoteRun struct {
	*run
	e        RemoteEngine
	agentRef string
	network  string
	comfyID  string
	agentID  string
	agent    *report.Report // the measuring container's report

	mu     sync.Mutex
	events []docker.Event
}

// UpAndBenchRemote is [UpAndBench] on a remote engine (deps.Engine must be a [RemoteEngine]).
func UpAndBenchRemote(ctx context.Context, cfg Config, deps Deps) (*report.Report, error) {
	r := newRun(cfg, deps)
	rr := &remoteRun{run: r}
	err := rr.do(ctx)
	r.close()
	rep := r.assemble(err)
	rr.merge(rep)
	return rep, err
}

func (rr *remoteRun) do(ctx context.Context) (err error) {
	e, ok := rr.deps.Engine.(RemoteEngine)
	if !ok {
		return inPhase("preflight", errors.New("this engine cannot run remote benchmarks"))
	}
	rr.e = e
	defer func() { err = errors.Join(err, rr.teardownRemote(ctx)) }()
	if rr.plan, err = newPlan(rr.cfg); err != nil {
		return inPhase("preflight", err)
	}
	inputs, err := rr.agentInputs()
	if err != nil {
		return inPhase("preflight", err)
	}
	if rr.cfg.ModelsDir != "" && !path.IsAbs(rr.cfg.ModelsDir) {
		return inPhase("preflight", fmt.Errorf("--models %s: on a remote engine give the absolute path of the models folder on that host", rr.cfg.ModelsDir))
	}
	info, err := e.Info(ctx)
	if err != nil {
		return inPhase("preflight", fmt.Errorf("docker info: %w", err))
	}
	rr.docker = &info
	gpuReq, err := docker.ParseGPUs(rr.cfg.GPUs)
	if err != nil {
		return inPhase("preflight", err)
	}
	gpuReq = preferCDI(gpuReq, info.CDIDevices)
	rr.gpuReason = "remote host"
	rr.progressf("engine %s at %s (%s): measuring on the remote", info.ServerVersion, e.Name(), info.Name)

	ref, err := rr.resolveImage(ctx)
	if err != nil {
		return inPhase("pull", err)
	}
	if rr.deps.SimImage == nil {
		return inPhase("preflight", errors.New("no measuring image: qwenlab cannot build its own image here"))
	}
	if rr.agentRef, err = rr.deps.SimImage(ctx); err != nil {
		return inPhase("preflight", fmt.Errorf("measuring image: %w", err))
	}

	evCtx, stopEvents := context.WithCancel(context.WithoutCancel(ctx))
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range e.WatchEvents(evCtx, rr.cfg.RunID) {
			rr.mu.Lock()
			rr.events = append(rr.events, ev)
			rr.mu.Unlock()
		}
	}()
	rr.closers = append(rr.closers, func() {
		rr.waitEvent("destroy", 2*time.Second)
		stopEvents()
		<-evDone
	})

	rr.network = "qwenlab-" + rr.cfg.RunID
	if _, err := e.CreateNetwork(ctx, rr.network, rr.cfg.RunID); err != nil {
		return inPhase("create", err)
	}
	var mounts []docker.Mount
	if rr.cfg.ModelsDir != "" {
		mounts = []docker.Mount{{Source: rr.cfg.ModelsDir, Target: rr.cfg.ModelsTarget, ReadOnly: true}}
	}
	spec := rr.spec(ref, mounts, gpuReq)
	var placeholders map[string][]byte
	if rr.image != nil && rr.image.Simulator && rr.cfg.Compose == nil {
		// The simulator lists its demo model files when given no --models folder; a workflow
		// or scenario file gets the placeholder files its loaders name, copied in as the
		// local run mounts them (no host folder can be mounted on a remote engine).
		spec.Cmd = []string{"--listen", "0.0.0.0", "--port", strconv.Itoa(rr.cfg.ContainerPort), "--profile", rr.cfg.SimProfile}
		if rr.cfg.ModelsDir == "" && (rr.cfg.WorkflowPath != "" || rr.cfg.Scenario.File() != "") {
			for _, m := range append(rr.plan.models, rr.plan.placeholders...) {
				if placeholders == nil {
					placeholders = map[string][]byte{}
				}
				placeholders[path.Join(simModels, m)] = []byte("qwenlab simulator placeholder\n")
			}
			if placeholders != nil {
				spec.Cmd = append(spec.Cmd, "--models", simModels)
			}
		}
		spec.Cmd = append(spec.Cmd, rr.cfg.ComfyArgs...)
	}
	spec.HostPort, spec.Network, spec.Aliases = 0, rr.network, []string{comfyAlias}
	spec.ContainerPort = 0 // nothing is published on the remote host
	spec.Labels[LabelRole] = "comfyui"
	rr.effSpec = &spec
	if rr.comfyID, err = e.Create(ctx, spec); err != nil {
		return inPhase("create", err)
	}
	if placeholders != nil {
		if err := e.CopyFiles(ctx, rr.comfyID, placeholders); err != nil {
			return inPhase("create", fmt.Errorf("placeholder models: %w", err))
		}
	}
	if err := e.Start(ctx, rr.comfyID); err != nil {
		return inPhase("start", err)
	}
	rr.progressf("ComfyUI started on a private network; starting the measuring container")

	agent := docker.Spec{
		Name:       "qwenlab-" + rr.cfg.RunID + "-agent",
		Image:      rr.agentRef,
		Entrypoint: []string{"/qwenlab"},
		Cmd:        rr.agentArgs(),
		Labels:     map[string]string{docker.LabelRun: rr.cfg.RunID, LabelRole: "agent"},
		Network:    rr.network,
		GPUs:       gpuReq, // NVML through the NVIDIA runtime's utility capability
		Init:       true,
	}
	if rr.agentID, err = e.Create(ctx, agent); err != nil {
		return inPhase("create", fmt.Errorf("measuring container: %w", err))
	}
	if len(inputs) > 0 {
		if err := e.CopyFiles(ctx, rr.agentID, inputs); err != nil {
			return inPhase("create", fmt.Errorf("measuring container's workflow: %w", err))
		}
	}
	if err := e.Start(ctx, rr.agentID); err != nil {
		return inPhase("start", fmt.Errorf("measuring container: %w", err))
	}
	var stdout bytes.Buffer
	var stderrTail []string
	err = e.FollowLogs(ctx, rr.agentID, func(l docker.LogLine) {
		if l.Stream == "stdout" {
			stdout.WriteString(l.Text)
			if !l.Partial {
				stdout.WriteByte('\n')
			}
			return
		}
		rr.progressf("%s", l.Text)
		stderrTail = append(stderrTail, l.Text)
		if len(stderrTail) > 20 {
			stderrTail = stderrTail[1:]
		}
	})
	if ctx.Err() != nil {
		return inPhase("bench", ctx.Err())
	}
	if err != nil {
		return inPhase("bench", fmt.Errorf("measuring container's output: %w", err))
	}
	st := <-e.WaitExit(ctx, rr.agentID)
	rep, derr := report.Decode(stdout.Bytes())
	if derr != nil {
		return inPhase("bench", fmt.Errorf("the measuring container exited with code %d without a report (%v); its last lines:\n  %s", st.ExitCode, derr, strings.Join(stderrTail, "\n  ")))
	}
	rr.agent = rep
	if rep.Error != nil {
		return &PhaseError{Phase: rep.Error.Phase, Err: errors.New(rep.Error.Message)}
	}
	if st.ExitCode == 3 && rr.cfg.FailOnSlow {
		return ErrSlow
	}
	return nil
}

// Where a remote run's files go: the measuring container reads a --workflow or scenario file
// from agentInput, the simulator its placeholder models from simModels.
const (
	agentInput    = "/qwenlab-input"
	agentWorkflow = agentInput + "/workflow.json"
	agentScenario = agentInput + "/scenario.json"
	simModels     = "/models"
)

// agentInputs are the files the measuring container needs beside its command line: the
// --workflow or scenario file, as the user gave it (the plan read the same bytes; the report
// says which graph ran through its hash).
func (rr *remoteRun) agentInputs() (map[string][]byte, error) {
	c := rr.cfg
	switch {
	case c.WorkflowPath != "":
		b, err := os.ReadFile(c.WorkflowPath)
		if err != nil {
			return nil, fmt.Errorf("read workflow %s: %w", c.WorkflowPath, err)
		}
		return map[string][]byte{agentWorkflow: b}, nil
	case c.Scenario.File() != "":
		b, err := os.ReadFile(c.Scenario.File())
		if err != nil {
			return nil, fmt.Errorf("read scenario %s: %w", c.Scenario.File(), err)
		}
		return map[string][]byte{agentScenario: b}, nil
	}
	return nil, nil
}

// agentArgs is the measuring container's command line.
func (rr *remoteRun) agentArgs() []string {
	c := rr.cfg
	args := []string{"bench", "--url", "http://" + comfyAlias + ":" + strconv.Itoa(c.ContainerPort), "--json", "--out=",
		"--wait-ready", c.StartTimeout.String(), "--same-host", "--private-network", "--scenario", c.Scenario.Name}
	if c.Runs == 0 {
		// A matrix's round before the last: the cold start only (the bench command refuses
		// --runs 0, which no person means).
		args = append(args, "--cold-start-only")
	} else {
		// One more warm-up: the first prompt against the fresh server is the cold start's.
		args = append(args, "--runs", strconv.Itoa(c.Runs), "--warmup", strconv.Itoa(c.Warmup+1))
	}
	args = append(args, "--seed", strconv.FormatUint(c.Seed, 10), "--prompt-timeout", c.PromptTimeout.String(),
		"--on-error", string(c.OnError), "--gpu-interval", c.GPUInterval.String())
	switch {
	case c.WorkflowPath != "":
		args = append(args, "--workflow", agentWorkflow)
	case c.Scenario.File() != "":
		args[slices.Index(args, "--scenario")+1] = agentScenario
	}
	if c.Metric != "" {
		args = append(args, "--metric", string(c.Metric))
	}
	if c.Vary != "" {
		args = append(args, "--vary", c.Vary)
	}
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "--set", k+"="+c.Params[k])
	}
	return args
}

// teardownRemote removes everything labelled with the run id (both containers, then the
// network) and checks that nothing is left. It is the local teardown's ([teardown]): one
// deadline (--teardown-timeout) over every call, a progress line while a call waits on the
// engine, and once the engine is gone no more calls; the leftovers then name what the run
// made that was not confirmed removed.
func (rr *remoteRun) teardownRemote(ctx context.Context) error {
	if rr.e == nil {
		return nil
	}
	td, runID := rr.td, rr.cfg.RunID
	done := td.hooks.stage(StageTeardown, rr.e.Name())
	defer done("")
	tctx, cancel := td.deadline(ctx)
	defer cancel()
	var res []docker.Resource
	err := td.call(tctx, "list the run's resources", func(ctx context.Context) (err error) {
		res, err = rr.e.ListLabelled(ctx, runID)
		return err
	})
	if err != nil {
		// Name what this run made, not the failed listing.
		var made []string
		for _, id := range []string{rr.comfyID, rr.agentID} {
			if id != "" {
				made = append(made, "container "+short(id))
			}
		}
		if rr.network != "" {
			made = append(made, "network "+rr.network)
		}
		return rr.notConfirmed("list the run's resources", made, err, "the engine did not list the run's resources")
	}
	t := time.Now()
	var errs []error
	for i, x := range res {
		if rr.cfg.Keep && x.ID != rr.agentID {
			continue
		}
		err := td.call(tctx, "remove "+resourceName(x), func(ctx context.Context) error { return rr.e.RemoveResource(ctx, x) })
		if err != nil && engineGone(err) { // not worth another call: each would wait out the deadline or fail at once
			var left []string
			for _, y := range res[i:] {
				left = append(left, resourceName(y))
			}
			return rr.notConfirmed("remove "+resourceName(x), left, err, "")
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	removeS := time.Since(t).Seconds()
	td.sec.RemoveS = &removeS
	var left []docker.Resource
	err = td.call(tctx, "list what is left of the run", func(ctx context.Context) (err error) {
		left, err = rr.e.ListLabelled(ctx, runID)
		return err
	})
	if err != nil {
		errs = append(errs, err)
	}
	td.sec.Leftovers = []string{}
	for _, x := range left {
		td.sec.Leftovers = append(td.sec.Leftovers, resourceName(x))
	}
	td.sec.Removed = err == nil && len(left) == 0
	if rr.cfg.Keep {
		rr.warnf("kept ComfyUI on %s (--keep); remove it with `qwenlab cleanup --run %s` against that engine", rr.e.Name(), runID)
		return nil
	}
	if len(errs) > 0 {
		return inPhase("teardown", errors.Join(errs...))
	}
	return nil
}

// notConfirmed ends a remote teardown whose call (what) failed with err: the leftovers are
// what (left) is not confirmed removed, and why — the engine gone ([teardown.lose]), else
// other — and the error says to clean up once the engine answers.
func (rr *remoteRun) notConfirmed(what string, left []string, err error, other string) error {
	td := rr.td
	why := other
	if engineGone(err) {
		td.lose(err)
		why = td.lost
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%s (%w)", td.lost, err)
		}
	}
	td.sec.Removed, td.sec.Leftovers = false, []string{}
	for _, l := range left {
		td.sec.Leftovers = append(td.sec.Leftovers, l+" (not confirmed removed: "+why+")")
	}
	return inPhase(report.ErrorPhaseTeardown, fmt.Errorf("%s on %s: %w; once the engine answers, run `qwenlab cleanup --run %s` against it", what, rr.e.Name(), err, rr.cfg.RunID))
}

// resourceName names a resource of the run as its leftovers do: the network by its name.
func resourceName(x docker.Resource) string {
	if x.Kind == "network" && x.Name != "" {
		return "network " + x.Name
	}
	return x.Kind + " " + short(x.ID)
}

// waitEvent waits up to d for the engine to report action for the ComfyUI container.
func (rr *remoteRun) waitEvent(action string, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, ok := rr.event(rr.comfyID, action); ok || rr.comfyID == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (rr *remoteRun) event(id, action string) (docker.Event, bool) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for _, ev := range rr.events {
		if ev.ContainerID == id && ev.Action == action {
			return ev, true
		}
	}
	return docker.Event{}, false
}

// merge puts the measuring container's results and the engine's events into rep.
func (rr *remoteRun) merge(rep *report.Report) {
	remote := &report.Remote{AgentImage: rr.agentRef, Network: rr.network, Events: []report.EngineEvent{}}
	if rr.e != nil {
		remote.Engine = rr.e.Name()
	}
	rr.mu.Lock()
	for _, ev := range rr.events {
		who := "comfyui"
		switch ev.ContainerID {
		case rr.comfyID:
		case rr.agentID:
			who = "agent"
		default: // an earlier run's under the same run id (a matrix's entries share it): the engine replays those too
			continue
		}
		remote.Events = append(remote.Events, report.EngineEvent{Container: who, Action: ev.Action, Time: ev.Time, ExitCode: ev.ExitCode})
	}
	rr.mu.Unlock()
	if rr.effSpec != nil {
		cs := containerSpec(*rr.effSpec)
		remote.ComfyUI = &cs
	}
	rep.Target.Remote = remote
	if d := rr.docker; d != nil {
		rep.Host.Hostname, rep.Host.OS, rep.Host.Kernel, rep.Host.CPUs, rep.Host.Arch = d.Name, d.OS, d.Kernel, d.NCPU, d.Arch
	}
	a := rr.agent
	if a == nil {
		rep.GPU.Reason = "remote host"
		return
	}
	rep.Scenario = a.Scenario
	if rr.cfg.WorkflowPath != "" { // the agent read it from its own copy
		rep.Scenario.Name = "workflow:" + rr.cfg.WorkflowPath
	}
	if rr.plan != nil && a.Scenario.WorkflowSHA256 != "" && a.Scenario.WorkflowSHA256 != rr.plan.sha {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the measuring container ran workflow sha256 %s, not the %s checked here: the file changed during the run", short(a.Scenario.WorkflowSHA256), short(rr.plan.sha)))
	}
	rep.Target.ComfyUIVersion = a.Target.ComfyUIVersion
	rep.GPU = a.GPU
	if !a.GPU.Available {
		rep.GPU.Reason = "remote host"
		if a.GPU.Reason != "" {
			rep.GPU.Reason += " (measuring container: " + a.GPU.Reason + ")"
		}
	}
	rep.Host.GPUs = a.Host.GPUs
	rep.Warnings = append(rep.Warnings, a.Warnings...)
	var first *report.Run
	if w := a.Warm; w != nil {
		ww := *w
		if len(ww.Warmups) > 0 {
			f := ww.Warmups[0]
			first = &f
			ww.Warmups = ww.Warmups[1:]
		}
		if len(ww.Runs) > 0 || len(ww.Warmups) > 0 { // none: a cold start only (a matrix's earlier round)
			rep.Warm = &ww
		}
	}
	rep.ColdStart = rr.coldFromEvents(a, first)
	if rep.ColdStart != nil {
		delete(rep.Missing, "cold_start")
	}
}

// coldFromEvents builds the cold start from the engine's create and start events (the
// engine's clock) and the measuring container's ready time and first prompt (the same host's
// clock).
func (rr *remoteRun) coldFromEvents(a *report.Report, first *report.Run) *report.ColdStart {
	created, ok1 := rr.event(rr.comfyID, "create")
	started, ok2 := rr.event(rr.comfyID, "start")
	if !ok1 || !ok2 {
		return nil
	}
	t0 := created.Time
	cs := &report.ColdStart{FirstPrompt: first}
	at := func(t time.Time) float64 { return t.Sub(t0).Seconds() }
	cs.Phases.Add(report.PhaseStart, started.Time.Sub(t0).Seconds())
	cs.Timeline = append(cs.Timeline, report.TimelineEntry{Name: report.PhaseStart.Span(), StartS: 0, EndS: at(started.Time), Source: report.SourceEngine})
	end := started.Time
	if ra := a.Target.ReadyAt; ra != nil && ra.After(started.Time) {
		cs.Phases.Add(report.PhaseReady, ra.Sub(started.Time).Seconds())
		cs.Timeline = append(cs.Timeline, report.TimelineEntry{Name: report.PhaseReady.Span(), StartS: at(started.Time), EndS: at(*ra), Source: report.SourceAPI})
		end = *ra
		if first != nil && first.LatencyS != nil {
			cs.Phases.Add(report.PhaseFirstPrompt, *first.LatencyS)
			fe := end.Add(time.Duration(*first.LatencyS * float64(time.Second)))
			cs.Timeline = append(cs.Timeline, report.TimelineEntry{Name: report.PhaseFirstPrompt.Span(), StartS: at(end), EndS: at(fe), Source: report.SourceAPI})
			end = fe
		}
	}
	cs.TotalS = ptr(at(end))
	return cs
}
