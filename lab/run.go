package lab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/comfylog"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/gpu"
	"github.com/qwenlab/qwenlab/liveness"
	"github.com/qwenlab/qwenlab/report"
)

// ErrSlow is returned (after the report is complete) when --fail-on-slow is set and a phase
// went over its budget or stalled.
var ErrSlow = errors.New("slow steps found (--fail-on-slow)")

// ContainerExitError says the container stopped while qwenlab was waiting on it.
type ContainerExitError struct {
	Phase string
	State docker.State
	Tail  []string
}

func (e *ContainerExitError) Error() string {
	var b strings.Builder
	switch {
	case e.State.OOMKilled:
		fmt.Fprintf(&b, "container was OOM-killed during %s (exit code %d): give it more memory or use a smaller model", e.Phase, e.State.ExitCode)
	default:
		fmt.Fprintf(&b, "container exited during %s with code %d", e.Phase, e.State.ExitCode)
	}
	if e.State.Error != "" {
		fmt.Fprintf(&b, " (%s)", e.State.Error)
	}
	if n := len(e.Tail); n > 0 {
		tail := e.Tail
		if n > 10 {
			tail = tail[n-10:]
		}
		b.WriteString("; its last log lines:\n  " + strings.Join(tail, "\n  "))
	}
	return b.String()
}

// EngineLostError says qwenlab lost the Docker Engine (or the container vanished from it)
// while the run went on: the measurements so far are kept, the container may still be there.
type EngineLostError struct {
	Phase  string
	Detail string
	// Containers are the (short) ids of the containers that may still exist, once teardown
	// knows them; RunID names the run for `qwenlab cleanup --run`.
	Containers []string
	RunID      string
	// Removed says the teardown removed everything after all (the engine answered it).
	Removed bool
}

func (e *EngineLostError) Error() string {
	cleanup := "`qwenlab cleanup`"
	if e.RunID != "" {
		cleanup = "`qwenlab cleanup --run " + e.RunID + "`"
	}
	left := "the container may still run"
	switch len(e.Containers) {
	case 0:
	case 1:
		left = "container " + e.Containers[0] + " may still exist"
	default:
		left = "containers " + strings.Join(e.Containers, ", ") + " may still exist"
	}
	if e.Removed {
		return fmt.Sprintf("lost the Docker Engine during %s (%s): the measurements so far are in the report; the teardown still removed the container", e.Phase, e.Detail)
	}
	if e.Phase == report.ErrorPhaseTeardown { // every measurement was taken
		return fmt.Sprintf("lost the Docker Engine during teardown (%s): %s; once the engine is back run %s", e.Detail, left, cleanup)
	}
	return fmt.Sprintf("lost the Docker Engine during %s (%s): the measurements so far are in the report; %s: once the engine is back, run %s", e.Phase, e.Detail, left, cleanup)
}

// PhaseError records the phase a run failed in.
type PhaseError struct {
	Phase string
	Err   error
}

func (e *PhaseError) Error() string {
	msg := e.Err.Error()
	if strings.HasPrefix(msg, e.Phase+" ") || strings.HasPrefix(msg, e.Phase+":") || strings.Contains(msg, " during "+e.Phase+" ") {
		return msg // "pull: pull X: …" says it twice
	}
	return e.Phase + ": " + msg
}
func (e *PhaseError) Unwrap() error { return e.Err }

func inPhase(phase string, err error) error {
	if err == nil {
		return nil
	}
	var pe *PhaseError
	if errors.As(err, &pe) {
		return err
	}
	return &PhaseError{Phase: phase, Err: err}
}

// coldRun is one cold start: a fresh container from create to its first image.
type coldRun struct {
	Index    int
	tl       timeline // the phases and their inner spans
	First    *promptRun
	Tracker  *comfylog.Tracker
	logs     *logSink
	Start    time.Time // t0 of this cold start (create, or pull)
	Ready    time.Time
	Done     time.Time
	ID       string
	runCtx   context.Context // ends when the container exits (cause: *ContainerExitError)
	cancel   func()          // ends the watchers
	stopping atomic.Bool     // set before a deliberate stop: an exit is then no failure
	logsDone chan struct{}   // closed when the log stream has ended
	prompts  []*promptRun    // every prompt sent to this container, in order
}

// drainLogs waits (at most d, and not past ctx) for the container's log stream to end, which
// it does once the container has stopped, so the last lines are in the tracker.
func (c *coldRun) drainLogs(ctx context.Context, d time.Duration) {
	if c.logsDone == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.logsDone:
	case <-t.C:
	case <-ctx.Done():
	}
}

// run is the state of one up-and-bench or bench invocation.
type run struct {
	cfg  Config
	deps Deps
	plan *plan
	seq  uint64

	startedAt time.Time // wall clock, for the report
	t0        time.Time // monotonic origin of every *_s offset

	docker      *docker.Info
	image       *report.ImageInfo
	imageCmd    []string // the image's own CMD, which --comfy-arg extends
	gpus        []gpu.Device
	gpuReason   string
	gpuIdx      []int
	gpuOn       bool
	sysStats    *comfy.SystemStats
	clock       *serverClock // the server's timestamps on the client's clock
	warnings    []string
	hashWarned  bool                // a failed image fetch was reported
	determinism *report.Determinism // --check-determinism's verdict
	pullSpan    *span
	colds       []*coldRun
	warmups     []*promptRun
	warm        []*promptRun
	modelBytes  uint64
	pageCache   []*pageCacheState // per cold start; nil entries without --models

	guard    *queueGuard // of the client in use
	stall    *stallWatch
	phaseNow atomic.Pointer[atomicString] // the current container's phase, for the stall watcher
	abort    context.CancelCauseFunc      // ends the run at once (a stall under --fail-on-slow)
	td       *teardown
	slow     []report.SlowStep
	closers  []func()
	secrets  []string     // --env values to redact everywhere
	effSpec  *docker.Spec // the container as created (--compose reports it)
	readyAt  *time.Time   // bench --wait-ready: when the server first answered
	logs     *logFile     // --save-logs, once opened
	logsErr  string       // why --save-logs is incomplete ("" = it is not)

	gpuWatch gpuWatch // the container's GPUs, sampled in the background
	stats    statsAgg // the engine's stats stream for the container
}

func newRun(cfg Config, deps Deps) *run {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	r := &run{cfg: cfg, deps: deps, startedAt: deps.Now(), t0: time.Now(), secrets: report.SecretValues(cfg.Env)}
	r.stall = newStallWatch(cfg.Stall, r.currentPhase, r.stalled)
	r.td = newTeardown(deps.Engine, cfg, teardownHooks{stage: r.stage, note: r.progressf, warn: r.warnf, stopping: r.stall.containerStopping})
	return r
}

func (r *run) progressf(format string, a ...any) {
	r.emit(Event{Kind: EventNote, Text: fmt.Sprintf(format, a...)})
}

func (r *run) warnf(format string, a ...any) {
	w := fmt.Sprintf(format, a...)
	r.warnings = append(r.warnings, w)
	r.emit(Event{Kind: EventWarning, Text: w})
}

// UpAndBench runs the main job: preflight, cold start(s) in fresh containers, warm runs,
// teardown in every case. It returns the report — partial, with the error and its phase, when
// the run failed — and the error.
func UpAndBench(ctx context.Context, cfg Config, deps Deps) (*report.Report, error) {
	r := newRun(cfg, deps)
	err := r.upAndBench(ctx)
	// Slow steps explain failed runs too; only a run that otherwise passed fails on them.
	if serr := r.checkSlow(); err == nil {
		err = serr
	}
	r.close()
	return r.assemble(err), err
}

// Refused returns the report of a run that could not start at all (the Docker Engine does
// not answer): what was asked for, the error and its phase, nothing measured. The README
// promises a report also when a run fails, so there is one for this failure too.
func Refused(cfg Config, deps Deps, phase string, err error) *report.Report {
	r := newRun(cfg, deps)
	r.plan, _ = newPlan(cfg)
	r.td.nothingCreated()
	return r.assemble(inPhase(phase, err))
}

func (r *run) close() {
	for _, c := range r.closers {
		c()
	}
	r.closers = nil
}

func (r *run) upAndBench(ctx context.Context) (err error) {
	e := r.deps.Engine
	ctx, stopWatch := r.watchStalls(ctx)
	defer stopWatch()
	// Teardown runs whatever happens, and also proves that a run refused early left nothing.
	defer func() {
		err = withTeardown(err, r.td.final(ctx), r.td.section().Removed)
	}()
	if r.plan, err = newPlan(r.cfg); err != nil {
		return inPhase("preflight", err)
	}
	prepared := r.stage(StagePrepare, "")
	info, err := e.Info(ctx)
	if err != nil {
		return inPhase("preflight", fmt.Errorf("docker info: %w", err))
	}
	r.docker = &info
	r.warnLeftovers(ctx)

	gpuReq, err := docker.ParseGPUs(r.cfg.GPUs)
	if err != nil {
		return inPhase("preflight", err)
	}
	gpuReq = preferCDI(gpuReq, info.CDIDevices)
	if gpuReq.Kind == docker.GPUCDI && r.cfg.GPUs != gpuReq.String() {
		r.progressf("the daemon advertises CDI devices: requesting %s", gpuReq)
	}
	if gpuReq.Kind != docker.GPUNone && len(info.Runtimes) > 0 && info.NVIDIAHint != "" && !strings.Contains(strings.ToLower(info.NVIDIAHint), "registered") && len(info.CDIDevices) == 0 {
		r.progressf("note: %s; the start will tell for sure", info.NVIDIAHint)
	}
	r.inventoryGPUs(gpuReq)
	prepared("")

	ref, err := r.resolveImage(ctx)
	if err != nil {
		return inPhase("pull", err)
	}
	mounts, cleanupModels, err := r.prepareModels()
	if err != nil {
		return inPhase("preflight", err)
	}
	r.closers = append(r.closers, cleanupModels) // after teardown: the container mounts them

	spec := r.spec(ref, mounts, gpuReq)
	r.effSpec = &spec
	stopGPU := r.startGPUSampler(ctx)
	defer stopGPU()

	n := max(r.cfg.ColdStarts, 1)
	for i := 0; i < n; i++ {
		pc, err := r.preparePageCache(i)
		if err != nil {
			return inPhase("preflight", err)
		}
		r.pageCache = append(r.pageCache, pc)
		c, cr, err := r.coldStart(ctx, i, spec)
		if err == nil && i == n-1 {
			err = r.warmPhase(cr.runCtx, c)
		}
		if c != nil {
			r.settleServer(ctx, c)
			c.Close()
		}
		if err != nil {
			return err
		}
		if i < n-1 {
			if err := r.td.one(ctx, cr); err != nil {
				return inPhase(report.ErrorPhaseTeardown, err)
			}
		}
	}
	return nil
}

// withTeardown joins the teardown's error to the run's. An engine lost mid-run and found
// gone again by the teardown is one failure: the run's message, now naming what may be left;
// one that answered the teardown after all (removed) leaves nothing to clean up.
func withTeardown(runErr, tdErr error, removed bool) error {
	var lost, tdLost *EngineLostError
	if tdErr == nil {
		if removed && errors.As(runErr, &lost) {
			lost.Removed = true
		}
		return runErr
	}
	if errors.As(runErr, &lost) && errors.As(tdErr, &tdLost) {
		lost.Containers, lost.RunID = tdLost.Containers, tdLost.RunID
		return runErr
	}
	return errors.Join(runErr, inPhase(report.ErrorPhaseTeardown, tdErr))
}

// preferCDI turns an nvidia-driver request into the CDI one when the daemon advertises the
// matching CDI devices (Engine API ≥ 1.50 lists them): CDI is how current NVIDIA Container
// Toolkits expose GPUs, and a daemon that lists them can satisfy it.
func preferCDI(req docker.GPURequest, cdi []string) docker.GPURequest {
	has := map[string]bool{}
	for _, d := range cdi {
		has[d] = true
	}
	switch req.Kind {
	case docker.GPUAll:
		if has["nvidia.com/gpu=all"] {
			return docker.GPURequest{Kind: docker.GPUCDI, DeviceIDs: []string{"nvidia.com/gpu=all"}}
		}
	case docker.GPUDevices:
		var ids []string
		for _, id := range req.DeviceIDs {
			if !has["nvidia.com/gpu="+id] {
				return req
			}
			ids = append(ids, "nvidia.com/gpu="+id)
		}
		return docker.GPURequest{Kind: docker.GPUCDI, DeviceIDs: ids}
	}
	return req
}

// warnLeftovers warns about the containers of other qwenlab runs on this engine: a live one
// (another terminal, a CI job) competes for the GPU right now; an abandoned one (a crashed or
// --keep run) may hold it. Only abandoned ones are for `qwenlab cleanup`.
func (r *run) warnLeftovers(ctx context.Context) {
	res, err := r.deps.Engine.ListLabelled(ctx, "")
	if err != nil {
		return
	}
	live, gone := map[string]bool{}, map[string]bool{}
	for _, x := range res {
		if x.RunID == r.cfg.RunID {
			continue
		}
		if liveness.Check(x.Owner) == liveness.Alive {
			live[x.RunID] = true
		} else {
			gone[x.RunID] = true
		}
	}
	for id := range live {
		delete(gone, id)
	}
	if len(live) > 0 {
		r.warnf("another qwenlab run is going on this engine right now (%s): it competes for the GPU and skews both benchmarks", strings.Join(slices.Sorted(maps.Keys(live)), ", "))
	}
	if len(gone) > 0 {
		r.warnf("resources left by earlier qwenlab runs (%s) may hold the GPU and skew this benchmark: remove them with `qwenlab cleanup`", strings.Join(slices.Sorted(maps.Keys(gone)), ", "))
	}
}

func (r *run) inventoryGPUs(req docker.GPURequest) {
	if r.deps.GPU == nil {
		r.gpuReason = r.deps.GPUReason
		if r.gpuReason == "" {
			r.gpuReason = "no GPU monitor"
		}
		return
	}
	devs, err := r.deps.GPU.Inventory()
	if err != nil {
		r.gpuReason = "GPU inventory: " + err.Error()
		return
	}
	r.gpus = devs
	switch req.Kind {
	case docker.GPUNone:
		r.gpuReason = "no GPU requested for the container (--gpus none)"
		return
	case docker.GPUCount:
		for i := 0; i < req.Count && i < len(devs); i++ {
			r.gpuIdx = append(r.gpuIdx, devs[i].Index)
		}
	case docker.GPUDevices, docker.GPUCDI:
		for _, id := range req.DeviceIDs {
			for _, d := range devs {
				if strconv.Itoa(d.Index) == id || d.UUID == id || strings.HasSuffix(id, "="+strconv.Itoa(d.Index)) || strings.HasSuffix(id, "="+d.UUID) {
					r.gpuIdx = append(r.gpuIdx, d.Index)
				}
			}
		}
		if len(r.gpuIdx) == 0 { // cdi "all" and unknown forms: watch every device
			for _, d := range devs {
				r.gpuIdx = append(r.gpuIdx, d.Index)
			}
		}
	default:
		for _, d := range devs {
			r.gpuIdx = append(r.gpuIdx, d.Index)
		}
	}
	r.gpuOn = len(r.gpuIdx) > 0
}

// ModelsDirPrefix begins the name of the placeholder models folder a simulator run makes in
// the temporary folder, followed by the run id; OwnerFile in it names the owning process.
const (
	ModelsDirPrefix = "qwenlab-models-"
	OwnerFile       = ".qwenlab-owner"
)

// prepareModels checks --models, or makes placeholder model files for the simulator.
func (r *run) prepareModels() ([]docker.Mount, func(), error) {
	nothing := func() {}
	target := r.cfg.ModelsTarget
	if r.image != nil && r.image.Simulator {
		target = "/models"
	}
	dir := r.cfg.ModelsDir
	if dir == "" {
		if r.image == nil || !r.image.Simulator {
			r.warnf("no --models: the image must bring its own model files")
			return nil, nothing, nil
		}
		tmp, err := os.MkdirTemp("", ModelsDirPrefix+r.cfg.RunID+"-")
		if err != nil {
			return nil, nothing, fmt.Errorf("make placeholder models dir: %w", err)
		}
		cleanup := func() { os.RemoveAll(tmp) }
		if r.cfg.Keep { // the kept container mounts it: it goes with `qwenlab cleanup --run ID`
			cleanup = func() {
				r.progressf("kept the placeholder models folder %s for the kept container", tmp)
			}
		}
		// Who made it, so that `qwenlab cleanup` removes it once this process is gone.
		if err := os.WriteFile(filepath.Join(tmp, OwnerFile), []byte(liveness.Self()+"\n"), 0o644); err != nil {
			os.RemoveAll(tmp)
			return nil, nothing, fmt.Errorf("make placeholder models dir: %w", err)
		}
		for _, m := range append(r.plan.models, r.plan.placeholders...) {
			if !filepath.IsLocal(filepath.FromSlash(m)) { // scenarios.Parse refuses these; never write outside tmp
				cleanup()
				return nil, nothing, fmt.Errorf("model %q: not a path inside the models folder", m)
			}
			p := filepath.Join(tmp, filepath.FromSlash(m))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				cleanup()
				return nil, nothing, fmt.Errorf("make placeholder model %s: %w", m, err)
			}
			if err := os.WriteFile(p, []byte("qwenlab simulator placeholder\n"), 0o644); err != nil {
				cleanup()
				return nil, nothing, fmt.Errorf("make placeholder model %s: %w", m, err)
			}
		}
		os.Chmod(tmp, 0o755)
		return []docker.Mount{{Source: tmp, Target: target, ReadOnly: true}}, cleanup, nil
	}
	abs, size, err := checkModels(dir, r.plan.models, r.cfg.Scenario.Name)
	if err != nil {
		return nil, nothing, err
	}
	r.modelBytes += size
	return []docker.Mount{{Source: abs, Target: target, ReadOnly: true}}, nothing, nil
}

// checkModels checks that the --models folder dir holds the model files a scenario needs
// and returns its absolute path and their total size.
func checkModels(dir string, models []string, scenario string) (string, uint64, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", 0, fmt.Errorf("--models %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	switch {
	case err != nil && errors.Is(err, os.ErrNotExist):
		return "", 0, fmt.Errorf("--models %s: no such directory; give the folder that holds diffusion_models/, text_encoders/ and vae/", dir)
	case err != nil:
		return "", 0, fmt.Errorf("--models %s: %w", dir, err)
	case !st.IsDir():
		return "", 0, fmt.Errorf("--models %s: is a file, not a directory; give the folder that holds diffusion_models/, text_encoders/ and vae/", dir)
	}
	var missing []string
	var size uint64
	for _, m := range models {
		fi, err := os.Stat(filepath.Join(abs, filepath.FromSlash(m)))
		if err != nil {
			missing = append(missing, m)
			continue
		}
		size += uint64(fi.Size())
	}
	if len(missing) > 0 {
		return "", 0, fmt.Errorf("--models %s lacks the files scenario %s needs:\n  %s\nput them there (ComfyUI's models folder layout) or pick another --scenario", dir, scenario, strings.Join(missing, "\n  "))
	}
	return abs, size, nil
}

// spec is the container qwenlab starts.
func (r *run) spec(ref string, mounts []docker.Mount, gpus docker.GPURequest) docker.Spec {
	cmd := []string(nil)
	if r.image != nil && r.image.Simulator {
		cmd = append([]string{"--listen", "0.0.0.0", "--port", strconv.Itoa(r.cfg.ContainerPort), "--models", "/models", "--profile", r.cfg.SimProfile}, r.cfg.ComfyArgs...)
	} else if len(r.cfg.ComfyArgs) > 0 {
		// Append to the image's CMD (the entrypoint stays): setting Cmd replaces it whole.
		cmd = append(append([]string(nil), r.imageCmd...), r.cfg.ComfyArgs...)
	}
	hostIP := "127.0.0.1"
	if r.cfg.PublishAll {
		hostIP = "0.0.0.0"
	}
	s := docker.Spec{
		Name:          "qwenlab-" + r.cfg.RunID,
		Image:         ref,
		Cmd:           cmd,
		Env:           r.cfg.Env,
		Labels:        map[string]string{docker.LabelRun: r.cfg.RunID, docker.LabelOwner: liveness.Self()},
		ContainerPort: r.cfg.ContainerPort,
		HostIP:        hostIP,
		HostPort:      r.cfg.Port,
		Mounts:        mounts,
		GPUs:          gpus,
		Init:          r.cfg.Init,
		MemoryBytes:   r.cfg.MemoryBytes,
	}
	r.applyCompose(&s)
	return s
}

// humanBytes shows a byte count in progress lines (negative counts as 0).
func humanBytes(n int64) string { return report.HumanBytes(uint64(max(n, 0))) }
