package lab

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/gpu"
	"github.com/qwenlab/qwenlab/report"
)

// StallLimits set when the stall watcher speaks up. The zero value uses the defaults
// (DefaultStallLimits); tests shrink the window to run fast.
type StallLimits struct {
	Window     time.Duration // how long a condition must hold (default 20 s: said within 30 s)
	Tick       time.Duration // how often it is checked (default 1 s)
	MemFrac    float64       // container memory at or above this fraction of its limit (default 0.95)
	CPUIdlePct float64       // container CPU at or below this, in % of one core (default 1)
	GPUIdlePct float64       // GPU utilisation at or below this, in % (default 1)
}

// DefaultStallLimits are the limits a run uses unless told otherwise.
func DefaultStallLimits() StallLimits {
	return StallLimits{Window: 20 * time.Second, Tick: time.Second, MemFrac: 0.95, CPUIdlePct: 1, GPUIdlePct: 1}
}

func (l StallLimits) orDefaults() StallLimits {
	d := DefaultStallLimits()
	if l.Window <= 0 {
		l.Window = d.Window
	}
	if l.Tick <= 0 {
		l.Tick = min(d.Tick, l.Window/4)
	}
	if l.MemFrac <= 0 {
		l.MemFrac = d.MemFrac
	}
	if l.CPUIdlePct <= 0 {
		l.CPUIdlePct = d.CPUIdlePct
	}
	if l.GPUIdlePct <= 0 {
		l.GPUIdlePct = d.GPUIdlePct
	}
	return l
}

// StallError is a stall found under --fail-on-slow: the run stops at once (exit 3).
type StallError struct {
	Kind report.SlowKind
	Msg  string
}

func (e *StallError) Error() string { return e.Msg + " (--fail-on-slow)" }
func (e *StallError) Unwrap() error { return ErrSlow }

// gpuLoadStep is how much VRAM must change while the GPU computes nothing for it to count as
// a model load (weights being copied in), not as idling.
const gpuLoadStep = 256 << 20

// stallFinding is one thing the watcher said.
type stallFinding struct {
	Kind       report.SlowKind
	Phase, Msg string
	Held       time.Duration
}

// stallWatch watches what a run already samples — the container's memory against its
// limit and its CPU (engine stats), the time of its last log line, and GPU utilisation —
// and says, while it happens, what a silent wait is probably stuck on: a container
// thrashing at its memory limit, one burning no CPU and logging nothing, a GPU idle through a
// running prompt. Each kind is said once per container (or once per run for the GPU).
type stallWatch struct {
	lim   StallLimits
	phase func() string
	say   func(stallFinding)

	mu        sync.Mutex
	container bool      // a container is being watched
	since     time.Time // the container started (or the watch began)
	lastLog   time.Time
	memHigh   time.Time // since when memory is at the limit (zero: it is not)
	cpuIdle   time.Time // since when CPU is idle
	mem       int64
	memLimit  int64
	inPrompt  bool
	gpuIdle   time.Time
	gpuVRAM   uint64 // VRAM in use when the GPU went idle
	said      map[report.SlowKind]bool
	found     []stallFinding
}

func newStallWatch(lim StallLimits, phase func() string, say func(stallFinding)) *stallWatch {
	return &stallWatch{lim: lim.orDefaults(), phase: phase, say: say, said: map[report.SlowKind]bool{}}
}

// containerStarted begins watching a fresh container.
func (w *stallWatch) containerStarted(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.container, w.since, w.lastLog = true, now, time.Time{}
	w.memHigh, w.cpuIdle = time.Time{}, time.Time{}
	delete(w.said, report.SlowThrashing)
	delete(w.said, report.SlowStuck)
}

// containerStopping ends watching the container (a deliberate stop is no stall).
func (w *stallWatch) containerStopping() {
	w.mu.Lock()
	w.container = false
	w.mu.Unlock()
}

func (w *stallWatch) logLine(now time.Time) {
	w.mu.Lock()
	w.lastLog = now
	w.mu.Unlock()
}

func (w *stallWatch) stats(s docker.Stats, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mem, w.memLimit = s.MemUsed, s.MemLimit
	if s.MemLimit > 0 && float64(s.MemUsed) >= w.lim.MemFrac*float64(s.MemLimit) {
		if w.memHigh.IsZero() {
			w.memHigh = now
		}
	} else {
		w.memHigh = time.Time{}
	}
	if s.CPUPercent <= w.lim.CPUIdlePct {
		if w.cpuIdle.IsZero() {
			w.cpuIdle = now
		}
	} else {
		w.cpuIdle = time.Time{}
	}
}

// prompt marks a prompt executing (the GPU should be busy) or not.
func (w *stallWatch) prompt(on bool) {
	w.mu.Lock()
	w.inPrompt = on
	w.gpuIdle = time.Time{}
	w.mu.Unlock()
}

// gpu takes one round of GPU samples (the devices the workload uses).
func (w *stallWatch) gpu(samples []gpu.Sample, now time.Time) {
	if len(samples) == 0 {
		return
	}
	busiest := 0.0
	var vram uint64
	for _, s := range samples {
		busiest = max(busiest, s.UtilGPU)
		vram += s.VRAMUsed
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !w.inPrompt || busiest > w.lim.GPUIdlePct:
		w.gpuIdle = time.Time{}
	case w.gpuIdle.IsZero() || vram > w.gpuVRAM+gpuLoadStep || vram+gpuLoadStep < w.gpuVRAM:
		// Idle from now; a model load copies weights into VRAM with the compute idle, so
		// VRAM that moves restarts the count.
		w.gpuIdle, w.gpuVRAM = now, vram
	}
}

// check says what holds at now; it returns the new findings.
func (w *stallWatch) check(now time.Time) []stallFinding {
	w.mu.Lock()
	var out []stallFinding
	win := w.lim.Window
	quiet := func() time.Duration { // log silence, counted from the container's start at most
		if w.lastLog.IsZero() || w.lastLog.Before(w.since) {
			return now.Sub(w.since)
		}
		return now.Sub(w.lastLog)
	}
	add := func(kind report.SlowKind, held time.Duration, msg string) {
		if w.said[kind] {
			return
		}
		w.said[kind] = true
		f := stallFinding{Kind: kind, Held: held, Msg: msg}
		w.found = append(w.found, f)
		out = append(out, f)
	}
	if w.container {
		q := quiet()
		if !w.memHigh.IsZero() && now.Sub(w.memHigh) >= win && q >= win {
			held := min(now.Sub(w.memHigh), q)
			add(report.SlowThrashing, held, fmt.Sprintf("container at %.0f %% of its %s memory limit for %s with no log output: it is probably thrashing; raise --memory",
				100*float64(w.mem)/float64(w.memLimit), limitText(w.memLimit), roundHeld(held)))
		}
		if !w.cpuIdle.IsZero() && now.Sub(w.cpuIdle) >= win && q >= win {
			held := min(now.Sub(w.cpuIdle), q)
			add(report.SlowStuck, held, fmt.Sprintf("container used no CPU and logged nothing for %s: it is probably stuck (waiting on a lock, the network or a device); its logs and `docker top` may tell", roundHeld(held)))
		}
	}
	if w.inPrompt && !w.gpuIdle.IsZero() && now.Sub(w.gpuIdle) >= win {
		held := now.Sub(w.gpuIdle)
		add(report.SlowGPUIdle, held, fmt.Sprintf("the GPU stayed idle for %s of a running prompt: ComfyUI may be computing on the CPU (check --gpus and the image's CUDA) or waiting on something else", roundHeld(held)))
	}
	w.mu.Unlock()
	for i := range out {
		out[i].Phase = w.phase()
		w.say(out[i])
	}
	return out
}

func roundHeld(d time.Duration) string {
	return fmt.Sprintf("%d s", int(d.Round(time.Second).Seconds()))
}

// limitText shows a memory limit as people type it: "150 MiB", "48 GiB".
func limitText(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.3g GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// findings are what the watcher said so far.
func (w *stallWatch) findings() []stallFinding {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]stallFinding(nil), w.found...)
}

// run checks every Tick until ctx ends.
func (w *stallWatch) run(ctx context.Context) {
	t := time.NewTicker(w.lim.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w.check(now)
		}
	}
}

// watchStalls starts the run's stall watcher; the returned context ends, with a
// *StallError as its cause, when a stall is found under --fail-on-slow.
func (r *run) watchStalls(ctx context.Context) (context.Context, func()) {
	ctx, r.abort = context.WithCancelCause(ctx)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); r.stall.run(wctx) }()
	return ctx, func() { cancel(); <-done }
}

// currentPhase names what the run waits on now, for a finding.
func (r *run) currentPhase() string {
	if p := r.phaseNow.Load(); p != nil {
		return p.get()
	}
	return "warm runs"
}

// stalled says a finding live; under --fail-on-slow it ends the run at once.
func (r *run) stalled(f stallFinding) {
	r.progressf("warning: %s", f.Msg)
	if r.cfg.FailOnSlow && r.abort != nil {
		r.abort(&StallError{Kind: f.Kind, Msg: f.Msg})
	}
}

// addStallSteps puts what the watcher said into the report: a warning and a slow step each.
func (r *run) addStallSteps() {
	for _, f := range r.stall.findings() {
		r.warnings = append(r.warnings, f.Msg)
		r.slow = append(r.slow, report.SlowStep{Phase: f.Phase, Kind: f.Kind, DurationS: f.Held.Seconds()})
	}
}

// stallSlow is checkSlow for bench --url: only the watcher's findings apply there.
func (r *run) stallSlow() error {
	r.addStallSteps()
	if r.cfg.FailOnSlow && len(r.slow) > 0 {
		return ErrSlow
	}
	return nil
}
