package lab

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/gpu"
	"github.com/qwenlab/qwenlab/report"
)

// assemble turns what the run measured into the wire report: the one place where internal
// structs meet the schema.
func (r *run) assemble(runErr error) *report.Report {
	rep := &report.Report{
		SchemaVersion: report.SchemaVersion,
		Tool:          report.Tool{Name: "qwenlab", Version: r.cfg.ToolVersion},
		RunID:         r.cfg.RunID,
		StartedAt:     r.startedAt.UTC(),
		FinishedAt:    r.deps.Now().UTC(),
	}
	rep.Scenario = report.Scenario{Name: r.cfg.Scenario.Name}
	if r.cfg.WorkflowPath != "" {
		rep.Scenario.Name = "workflow:" + r.cfg.WorkflowPath
	}
	if r.plan != nil {
		rep.Scenario.WorkflowSHA256 = r.plan.sha
		if b, err := json.Marshal(r.plan.wf); err == nil {
			rep.Scenario.Workflow = b
		}
		rep.Scenario.Params = r.plan.params
	}
	r.matchLogTimes()
	for _, pr := range r.prompts() {
		r.measure(pr)
	}
	rep.ServerClock = r.clock.report()
	rep.Target = r.target()
	rep.Host = r.host()

	if len(r.colds) > 0 {
		rep.ColdStart = r.coldSection()
	}
	if len(r.warm) > 0 || len(r.warmups) > 0 {
		rep.Warm = r.warmSection()
	}
	rep.GPU = r.gpuSection()
	rep.Container = r.stats.section()
	rep.Determinism = r.determinism
	rep.Logs = r.logsSection(runErr)
	rep.Missing = r.missing(rep)
	rep.Teardown = r.td.section()
	rep.Warnings = append(rep.Warnings, r.warnings...)
	rep.Warnings = append(rep.Warnings, r.runWarnings()...)
	rep.Warnings = append(rep.Warnings, report.NoiseWarnings(rep.Warm)...)
	if runErr != nil && !errors.Is(runErr, ErrSlow) {
		phase := "run"
		var pe *PhaseError
		if errors.As(runErr, &pe) {
			phase = pe.Phase
		}
		if errors.Is(runErr, context.Canceled) {
			phase += " (interrupted)"
		}
		rep.Error = &report.ErrorInfo{Phase: phase, Message: report.RedactString(runErr.Error(), r.secrets)}
	}
	return rep
}

func (r *run) target() report.Target {
	t := report.Target{Kind: report.TargetDocker, Image: r.image, Config: map[string]string{}}
	if r.cfg.URL != "" {
		t.Kind, t.URL = report.TargetURL, r.cfg.URL
	}
	if r.sysStats != nil {
		t.ComfyUIVersion = r.sysStats.System.ComfyUIVersion
	}
	c := t.Config
	c["runs"] = strconv.Itoa(r.cfg.Runs)
	c["warmup"] = strconv.Itoa(r.cfg.Warmup)
	c["seed"] = strconv.FormatUint(r.cfg.Seed, 10)
	c["on_error"] = string(r.cfg.OnError)
	c["metric"] = string(r.cfg.Metric)
	if t.Kind == report.TargetDocker {
		c["gpus"] = r.cfg.GPUs
		c["init"] = strconv.FormatBool(r.cfg.Init)
		c["cold_starts"] = strconv.Itoa(max(r.cfg.ColdStarts, 1))
		c["pull"] = string(r.cfg.Pull)
		if r.image != nil && r.image.Simulator {
			c["sim_profile"] = r.cfg.SimProfile
		}
		if len(r.cfg.ComfyArgs) > 0 {
			c["comfy_args"] = strings.Join(r.cfg.ComfyArgs, " ")
		}
		if len(r.cfg.Env) > 0 {
			c["env"] = strings.Join(report.Redact(r.cfg.Env), " ")
		}
		if r.cfg.ModelsDir != "" {
			c["models"] = r.cfg.ModelsDir
		}
		if r.cfg.MemoryBytes > 0 {
			c["memory_bytes"] = strconv.FormatInt(r.cfg.MemoryBytes, 10)
		}
	}
	if r.plan != nil && r.plan.seed.Node != "" {
		c["seed_input"] = r.plan.seed.Node + "." + r.plan.seed.Input
	}
	if r.plan != nil && r.plan.vary != nil {
		c["vary"] = r.plan.vary.Node + "." + r.plan.vary.Input
	}
	t.Compose = r.composeReport()
	t.ReadyAt = r.readyAt
	return t
}

func (r *run) host() report.Host {
	h := report.Host{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	h.Hostname, _ = os.Hostname()
	if d := r.docker; d != nil {
		h.Docker = &report.DockerInfo{ServerVersion: d.ServerVersion, APIVersion: d.APIVersion, Runtimes: d.Runtimes, DefaultRuntime: d.DefaultRuntime}
		h.MemTotal = d.MemTotal
	}
	for _, g := range r.gpus {
		h.GPUs = append(h.GPUs, GPUDevice(g))
	}
	return h
}

// GPUDevice is g as reports (and `qwenlab gpu --json`) describe it: what NVML could not read
// is left out, never written as 0.
func GPUDevice(g gpu.Device) report.GPUDevice {
	return report.GPUDevice{
		Index: g.Index, Name: g.Name, UUID: g.UUID, Driver: g.Driver, CUDA: g.CUDA, VRAMTotalBytes: g.VRAMTotal,
		PowerLimitW: g.PowerLimitW, PCIeGen: g.PCIeGen, PCIeWidth: g.PCIeWidth, PCIeMaxGen: g.PCIeMaxGen, PCIeMaxWidth: g.PCIeMaxWidth,
		Accounting: g.Accounting,
	}
}

// coldSection reports every cold start; the first one's phases are the headline, and with
// --cold-starts N each phase gets median/min/max like the warm runs.
func (r *run) coldSection() *report.ColdStart {
	cs := &report.ColdStart{}
	for i, cr := range r.colds {
		var phases report.Phases
		for _, p := range report.AllPhases() {
			if d, ok := cr.tl.phases()[p]; ok {
				phases.Add(p, d.Seconds())
			}
		}
		cold := report.ColdRun{Index: i, Phases: phases, Timeline: cr.tl.entries()}
		if end := cr.tl.end(); !end.IsZero() {
			cold.TotalS = ptr(end.Sub(cr.Start).Seconds())
		}
		if !cr.Ready.IsZero() {
			cold.ReadyS = ptr(cr.Ready.Sub(cr.Start).Seconds())
		}
		if cr.First != nil {
			run := r.toRun(cr.First)
			cold.FirstPrompt = &run
			if cr.First.Res != nil && !cr.First.Res.ImageAt.IsZero() {
				cold.FirstImageS = ptr(cr.First.Res.ImageAt.Sub(cr.Start).Seconds())
			}
			if cr.First.Err != nil {
				cold.Error = cr.First.Err.Error()
			}
			if mb := r.modelBytes; mb > 0 {
				if d, ok := modelReadTime(cr); ok && d > 0 {
					cold.ModelReadBytesPerS = ptr(float64(mb) / d.Seconds())
				}
			}
		} else {
			cold.Error = "did not reach the first prompt"
		}
		if i < len(r.pageCache) && r.pageCache[i] != nil {
			cold.PageCache = r.pageCache[i].Kind
			cold.ModelBytesCachedBefore = r.pageCache[i].CachedBefore
		}
		cs.Runs = append(cs.Runs, cold)
	}
	first := cs.Runs[0]
	cs.PageCache = first.PageCache
	cs.ModelBytesCachedBefore = first.ModelBytesCachedBefore
	cs.ModelReadBytesPerS = first.ModelReadBytesPerS
	cs.Phases = first.Phases
	cs.TotalS = first.TotalS
	cs.ChargedS = r.colds[0].tl.charged()
	cs.Timeline = first.Timeline
	cs.FirstPrompt = first.FirstPrompt
	if len(r.colds) > 1 {
		cs.Summary = report.SummarizeColdRuns(cs.Runs)
	} else {
		cs.Runs = nil
	}
	return cs
}

func (r *run) warmSection() *report.Warm {
	var runs, warmups []report.Run
	for _, pr := range r.warmups {
		warmups = append(warmups, r.toRun(pr))
	}
	for _, pr := range r.warm {
		runs = append(runs, r.toRun(pr))
	}
	w := report.SummarizeWarm(runs, warmups)
	w.Metric = r.cfg.Metric
	return w
}

// toRun converts one measured prompt into the report's run entry.
func (r *run) toRun(pr *promptRun) report.Run {
	res := pr.Res
	run := report.Run{
		Kind:       pr.Kind,
		Index:      pr.Index,
		Seed:       strconv.FormatUint(pr.Seed, 10),
		PromptID:   res.PromptID,
		Status:     res.Status,
		Recovered:  res.Recovered,
		Valid:      pr.Err == nil && pr.Invalid == "",
		Invalid:    pr.Invalid,
		Contention: pr.Contention,
	}
	// Where the prompt was left on the server, when that differs from what the client saw.
	if res.Final != "" && res.Final != res.Status {
		run.FinalState = res.Final
	}
	if pr.NoSeed {
		run.Seed = "" // nothing was sent: the workflow has no seed input
	}
	if pr.Vary != nil {
		run.Vary = fmt.Sprint(pr.Vary)
	}
	if pr.Err != nil {
		run.Error = report.RedactString(pr.Err.Error(), r.secrets)
		var ee *comfy.ExecutionError
		if errors.As(pr.Err, &ee) {
			run.ErrorNode = ee.NodeID
			run.ErrorType = ee.ExceptionType
		}
	}
	if !res.Submit.IsZero() {
		run.StartedAtS = res.Submit.Sub(r.t0).Seconds()
	}
	if !res.End.IsZero() && !res.Submit.IsZero() {
		run.E2ES = ptr(res.E2E().Seconds())
		run.LatencyS = ptr(res.E2E().Seconds())
	}
	if !res.ImageAt.IsZero() {
		run.ImageS = ptr(res.Image().Seconds())
	}
	if pr.QueueOK {
		run.QueueS = ptr(pr.Queue.Seconds())
	}
	if d, ok := res.Server(); ok {
		run.ServerS = ptr(d.Seconds())
	}
	run.LogExecutedS = pr.LogExecuted
	run.ImageSHA256 = pr.ImageSHA256
	if pr.LagOK {
		run.LagS = ptr(pr.Lag.Seconds())
		run.LagFlagged = pr.Flagged
	}
	wf := comfy.Workflow(nil)
	if r.plan != nil {
		wf = r.plan.wf
	}
	run.Nodes = map[string]report.NodeTiming{}
	for _, id := range res.Cached {
		run.Nodes[id] = report.NodeTiming{ClassType: wf[id].ClassType, Cached: true}
	}
	for _, n := range res.Nodes {
		nt := report.NodeTiming{ClassType: n.ClassType}
		if nt.ClassType == "" {
			nt.ClassType = wf[n.ID].ClassType
		}
		if !n.Start.IsZero() && !n.End.IsZero() {
			nt.DurationS = ptr(n.End.Sub(n.Start).Seconds())
		}
		if n.Max > run.Steps {
			run.Steps = n.Max
		}
		run.Nodes[n.ID] = nt
	}
	if v := res.StepsPerSecond(); v > 0 {
		run.StepsPerS = ptr(v)
	}
	return run
}

func (r *run) gpuSection() report.GPUSection {
	reason := r.gpuReason
	if reason == "" && r.deps.GPU == nil { // the run ended before the GPUs were looked at
		reason = cmp.Or(r.deps.GPUReason, "no GPU monitor")
	}
	g := report.GPUSection{Available: r.deps.GPU != nil && reason == "", Reason: reason}
	samples := r.gpuWatch.samples()
	g.Samples = readings(samples)
	if len(samples) == 0 {
		if g.Available {
			g.Reason = "no samples were taken"
		}
		return g
	}
	all := gpu.Summarize(samples, time.Time{}, time.Time{})
	peaks, ok := r.accountingPeaks(samples)
	if ok {
		all = all.WithAccountingPeaks(peaks)
	}
	g.Processes = r.processes(samples, peaks)
	g.VRAMPeakBytes = &all.VRAMPeak
	g.PeakSource = all.PeakSource
	g.UtilMeanPct = ptr(all.UtilMean)
	g.PowerMeanW = ptr(all.PowerMeanW)
	g.Phases = map[string]report.GPUPhase{}
	add := func(name string, from, to time.Time) {
		if from.IsZero() || to.IsZero() {
			return
		}
		s := gpu.Summarize(samples, from, to)
		if s.N == 0 {
			return
		}
		g.Phases[name] = report.GPUPhase{Samples: s.N, VRAMPeakBytes: ptr(s.VRAMPeak), VRAMMeanBytes: ptr(s.VRAMMean), UtilMeanPct: ptr(s.UtilMean), UtilP95Pct: ptr(s.UtilP95), PowerMeanW: ptr(s.PowerMeanW), PowerMaxW: ptr(s.PowerMaxW), EnergyJ: ptr(s.EnergyJ)}
	}
	if n := len(r.colds); n > 0 && r.colds[0].First != nil {
		cr := r.colds[0]
		add("startup", cr.Start, cr.Ready)
		add("first_prompt", cr.First.Res.Submit, cr.First.Res.End)
	}
	if n := len(r.warm); n > 0 {
		add("warm", r.warm[0].Res.Submit, r.warm[n-1].Res.End)
		if p, ok := g.Phases["warm"]; ok && r.validWarm() > 0 && p.EnergyJ != nil {
			p.EnergyPerImageJ = ptr(*p.EnergyJ / float64(r.validWarm()))
			g.Phases["warm"] = p
		}
	}
	series := gpu.Compact(samples, r.t0, 600)
	idx := make([]int, 0, len(series))
	for i := range series {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		s := series[i]
		gs := report.GPUSeries{Index: i, TS: s.T, VRAMUsedBytes: s.VRAMUsed, UtilPct: s.UtilGPU, PowerW: s.PowerW}
		if m := s.Missing & (gpu.FieldVRAM | gpu.FieldUtil | gpu.FieldPower); m != 0 {
			gs.Missing = strings.Split(m.String(), "|")
		}
		g.Series = append(g.Series, gs)
	}
	return g
}

func (r *run) validWarm() int {
	n := 0
	for _, pr := range r.warm {
		if pr.Err == nil && pr.Invalid == "" {
			n++
		}
	}
	return n
}

func (r *run) logsSection(runErr error) report.Logs {
	l := report.Logs{SlowSteps: r.slow, File: r.cfg.SaveLogs}
	if r.logsErr != "" {
		l.File, l.FileError = "", r.cfg.SaveLogs+": "+r.logsErr
	}
	if len(r.colds) == 0 {
		return l
	}
	cr := r.colds[len(r.colds)-1]
	if cr.Tracker == nil {
		return l
	}
	snap := cr.Tracker.Snapshot()
	if runErr != nil || l.File == "" {
		tail := snap.Tail
		if runErr == nil {
			tail = lastN(tail, 20)
		}

		for _, line := range tail {
			l.Tail = append(l.Tail, report.RedactString(line, r.secrets))
		}
	}
	l.PromptExecutedS = append(l.PromptExecutedS, snap.PromptExecuted...)
	l.ImportFailures = append(l.ImportFailures, snap.ImportFailures...)
	return l
}

// runWarnings are the warnings that come from looking at the measurements as a whole.
func (r *run) runWarnings() []string {
	var w []string
	invalid, flagged, contended := 0, 0, 0
	for _, pr := range r.warm {
		switch {
		case pr.Contention != "":
			contended++
		case pr.Err == nil && pr.Invalid != "":
			invalid++
		}
		if pr.Flagged {
			flagged++
		}
	}
	if invalid > 0 {
		w = append(w, strconv.Itoa(invalid)+" warm run(s) were served from ComfyUI's execution cache and are excluded: vary the seed (the workflow's seed input was not found or not changed) or name an input to change per run with --vary NODE.INPUT")
	}
	if contended > 0 {
		if r.cfg.AllowContention {
			w = append(w, strconv.Itoa(contended)+" of "+strconv.Itoa(len(r.warm))+" warm run(s) waited behind other clients' prompts on the server; they are counted (--allow-contention), so the e2e figures include queueing behind someone else's work")
		} else {
			w = append(w, strconv.Itoa(contended)+" of "+strconv.Itoa(len(r.warm))+" warm run(s) waited behind other clients' prompts on the server and are left out of the statistics: the server is shared; rerun when it is idle, raise --idle-wait, or measure under load with --allow-contention")
		}
	}
	if flagged > 0 {
		w = append(w, strconv.Itoa(flagged)+" of "+strconv.Itoa(len(r.warm))+" warm run(s) reached the client much later than the server finished them (delivery lag over "+r.cfg.LagBase.String()+" + "+strconv.FormatFloat(r.cfg.LagFrac*100, 'f', 0, 64)+"% of server time): likely ComfyUI's periodic gc.collect() stalling its event loop; compare with --metric server")
	}
	if r.plan != nil && r.plan.seed.Node == "" && r.plan.vary == nil {
		w = append(w, "no seed input found in the workflow: every run after the first may be served from ComfyUI's cache (name an input that may change per run with --vary NODE.INPUT)")
	}
	if gw := r.gpuWatch.warning(); gw != "" {
		w = append(w, gw)
	}
	samples := r.gpuWatch.samples()
	if len(samples) > 0 {
		// Saturation is judged on the GPUs the workload used: an idle one exposed by
		// --gpus all must not make a busy one look starved.
		used := r.workloadSamples(samples)
		util := gpu.Summarize(used, time.Time{}, time.Time{}).UtilMean
		if n := len(r.warm); n > 0 {
			util = gpu.Summarize(used, r.warm[0].Res.Submit, r.warm[n-1].Res.End).UtilMean
		}
		var vram uint64
		if len(r.colds) > 0 && r.colds[0].First != nil {
			vram = gpu.Summarize(samples, r.colds[0].First.Res.Submit, r.colds[0].First.Res.End).VRAMPeak
		}
		w = append(w, gpu.Warnings(gpu.Summary{VRAMPeak: vram}, r.modelBytes, util)...)
	}
	return w
}

// matchLogTimes pairs each prompt with the server log's "Prompt executed in N seconds" line:
// ComfyUI prints one per prompt it executes, in order, so the i-th line of a container belongs
// to the i-th prompt sent to it (when the counts agree; otherwise nothing is paired).
func (r *run) matchLogTimes() {
	for _, cr := range r.colds {
		if cr.Tracker == nil {
			continue
		}
		times := cr.Tracker.Snapshot().PromptExecuted
		var executed []*promptRun
		for _, pr := range cr.prompts {
			if pr.Res != nil && pr.Res.Status != "rejected" && !pr.Res.Started.IsZero() {
				executed = append(executed, pr)
			}
		}
		if len(times) != len(executed) {
			continue
		}
		for i, pr := range executed {
			v := times[i]
			pr.LogExecuted = &v
			if srv, ok := pr.Res.Server(); ok {
				if diff := v - srv.Seconds(); diff > 0.05+0.1*srv.Seconds() || -diff > 0.05+0.1*srv.Seconds() {
					r.warnings = append(r.warnings, fmt.Sprintf("%s run %d: the server log says the prompt took %.2fs, its WebSocket timestamps %.3fs", pr.Kind, pr.Index, v, srv.Seconds()))
				}
			}
		}
	}
}

// missing says why each absent (null) headline measurement is absent.
func (r *run) missing(rep *report.Report) map[string]string {
	m := map[string]string{}
	if cs := rep.ColdStart; cs != nil {
		if cs.Phases.PullS == nil {
			switch {
			case r.image != nil && r.image.Simulator:
				m["cold_start.phases.pull_s"] = "the simulator image is built locally, not pulled"
			default:
				m["cold_start.phases.pull_s"] = "the image was already present (--pull " + string(r.cfg.Pull) + ")"
			}
		}
		if cs.Phases.FirstLogS == nil {
			if cs.Phases.ReadyS != nil {
				m["cold_start.phases.first_log_s"] = "the server answered before it logged anything"
			} else {
				m["cold_start.phases.first_log_s"] = "the server logged nothing and never answered"
			}
		}
		if cs.TotalS == nil {
			m["cold_start.total_s"] = neverMeasured
		}
		for i, cold := range cs.Runs {
			if cold.TotalS == nil {
				m[fmt.Sprintf("cold_start.runs[%d].total_s", i)] = neverMeasured
			}
		}
		if fp := cs.FirstPrompt; fp != nil && fp.E2ES == nil {
			m["cold_start.first_prompt.e2e_s"] = neverEnded(*fp)
		}
		if cs.Phases.ModelLoadS == nil {
			m["cold_start.phases.model_load_s"] = "no 'Requested to load' / load-stat lines in the log"
		}
	} else if rep.Target.Kind == report.TargetURL {
		m["cold_start"] = "bench --url: the server was already running"
	}
	if !rep.GPU.Available {
		m["gpu"] = rep.GPU.Reason
	}
	if rep.Container == nil && rep.Target.Kind == report.TargetDocker {
		m["container"] = "no stats from the engine"
	}
	r.td.missing(m, r.secrets)
	if w := rep.Warm; w != nil {
		for i, run := range w.Warmups {
			if run.E2ES == nil {
				m[fmt.Sprintf("warm.warmups[%d].e2e_s", i)] = neverEnded(run)
			}
		}
		for i, run := range w.Runs {
			if run.E2ES == nil {
				m[fmt.Sprintf("warm.runs[%d].e2e_s", i)] = neverEnded(run)
			}
			if run.ServerS == nil {
				m[fmt.Sprintf("warm.runs[%d].server_s", i)] = "the server sent no execution_start/end timestamps for this prompt"
			}
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// neverMeasured is why a cold start has no total.
const neverMeasured = "the cold start failed before any of its phases ended (see the error)"

// neverEnded says why a run has no end-to-end time (e2e_s and latency_s are null).
func neverEnded(run report.Run) string {
	why := "the prompt never reached its end (status " + cmp.Or(run.Status, "unknown") + ")"
	if run.Error != "" {
		why += ": " + run.Error
	}
	return why
}

func ptr[T any](v T) *T { return &v }
