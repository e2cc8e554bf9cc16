package lab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/qwenlab/qwenlab/comfylog"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/internal/loopback"
	"github.com/qwenlab/qwenlab/internal/shortid"
	"github.com/qwenlab/qwenlab/report"
)

// logSink receives the container's log lines (from the engine's follower goroutine) and
// notes the moments the timeline needs, on the client's monotonic clock.
type logSink struct {
	tracker *comfylog.Tracker
	save    func(docker.LogLine)
	show    func(docker.LogLine) // to the live display

	mu       sync.Mutex
	first    time.Time     // receipt of the first line
	started  time.Time     // receipt of "Starting server" / "To see the GUI go to:"
	offset   time.Duration // min(receipt - engine time): maps engine times onto our clock
	haveOff  bool
	startedC chan struct{}
	once     sync.Once
}

func newLogSink(save, show func(docker.LogLine)) *logSink {
	return &logSink{tracker: comfylog.NewTracker(comfylog.TrackerOptions{}), save: save, show: show, startedC: make(chan struct{})}
}

func (s *logSink) add(l docker.LogLine) {
	now := time.Now()
	s.mu.Lock()
	if s.first.IsZero() {
		s.first = now
	}
	if !l.Time.IsZero() {
		if off := now.Sub(l.Time); !s.haveOff || off < s.offset {
			s.offset, s.haveOff = off, true
		}
	}
	if s.started.IsZero() && (strings.Contains(l.Text, "To see the GUI go to") || strings.Contains(l.Text, "Starting server")) {
		s.started = now
		s.once.Do(func() { close(s.startedC) })
	}
	s.mu.Unlock()
	s.tracker.Add(comfylog.Line{Time: l.Time, Stream: l.Stream, Text: l.Text, Partial: l.Partial})
	if s.save != nil {
		s.save(l)
	}
	if s.show != nil {
		s.show(l)
	}
}

// onClock maps an engine timestamp onto the client's monotonic timeline.
func (s *logSink) onClock(t time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.haveOff || t.IsZero() {
		return time.Time{}
	}
	// Note: t carries no monotonic reading; adding the offset to it and re-basing on a
	// monotonic instant keeps the result comparable with time.Now() values.
	ref := time.Now()
	return ref.Add(t.Add(s.offset).Sub(ref.Round(0)))
}

func (s *logSink) times() (first, started time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, s.started
}

// coldStart creates and starts a fresh container, waits until ComfyUI answers, checks the
// workflow against the live server and sends the first prompt. The container's watchers (exit,
// logs, stats) run until its teardown ends them.
func (r *run) coldStart(ctx context.Context, i int, spec docker.Spec) (Comfy, *coldRun, error) {
	e := r.deps.Engine
	cr := &coldRun{Index: i, Start: time.Now()}
	if i == 0 && r.pullSpan != nil {
		cr.Start = r.pullSpan.Start
	}
	cr.tl.begin(cr.Start)
	if i == 0 && r.pullSpan != nil {
		cr.tl.phase(report.PhasePull, report.SourceEngine, r.pullSpan.End)
		cr.tl.idle(time.Now()) // preparing models and the page cache
	}
	r.colds = append(r.colds, cr)
	if r.cfg.ColdStarts > 1 {
		spec.Name = fmt.Sprintf("%s-%d", spec.Name, i+1)
		r.progressf("cold start %d/%d", i+1, r.cfg.ColdStarts)
	}
	created := r.stage(StageCreate, spec.Image)
	id, err := e.Create(ctx, spec)
	if id != "" {
		cr.ID = id
		r.td.add(cr)
	}
	if err != nil {
		return nil, cr, inPhase("create", err)
	}
	cr.tl.phase(report.PhaseCreate, report.SourceEngine, time.Now())

	save := r.logSaver()
	cr.logs = newLogSink(func(l docker.LogLine) {
		r.stall.logLine(time.Now())
		if save != nil {
			save(l)
		}
	}, r.showLog)
	cr.Tracker = cr.logs.tracker
	watchCtx, cancelWatch := context.WithCancel(context.WithoutCancel(ctx))
	runCtx, cancelRun := context.WithCancelCause(ctx)
	cr.runCtx = runCtx
	cr.logsDone = make(chan struct{})
	cr.cancel = func() { cancelWatch(); cancelRun(context.Canceled) }

	if err := e.Start(ctx, id); err != nil {
		cr.logsDone = nil // nothing follows a container that never started
		return nil, cr, inPhase("start", err)
	}
	cr.tl.phase(report.PhaseStart, report.SourceEngine, time.Now())
	created("")
	r.stall.containerStarted(time.Now())

	go func() {
		defer close(cr.logsDone)
		// A stream cut while the container is being stopped (the engine going away during
		// teardown) is said by the teardown, not here.
		if err := e.FollowLogs(watchCtx, id, cr.logs.add); err != nil && watchCtx.Err() == nil && !cr.stopping.Load() {
			r.progressf("warning: following logs: %v", err)
		}
	}()
	exitC := e.WaitExit(watchCtx, id)
	phase := &atomicString{v: "start"}
	r.phaseNow.Store(phase)
	go func() {
		select {
		case st, ok := <-exitC:
			if !ok || watchCtx.Err() != nil || cr.stopping.Load() {
				return
			}
			if st.Status == "removed" && st.Error != "" {
				// Not an exit: the engine stopped answering about the container (or it was
				// removed behind qwenlab's back).
				cancelRun(&EngineLostError{Phase: phase.get(), Detail: st.Error, RunID: r.cfg.RunID})
				return
			}
			if lost := r.shutdownCause(watchCtx, phase.get(), st); lost != nil && !cr.stopping.Load() {
				cancelRun(lost)
				return
			}
			cr.drainLogs(watchCtx, time.Second) // the stream ends with the container: keep its last lines
			cancelRun(&ContainerExitError{Phase: phase.get(), State: st, Tail: cr.Tracker.Snapshot().Tail})
		case <-watchCtx.Done():
		}
	}()
	go func() {
		_ = e.StreamStats(watchCtx, id, func(s docker.Stats) {
			r.stats.add(s)
			r.stall.stats(s, time.Now())
		})
	}()

	st, err := e.Inspect(ctx, id)
	if err != nil {
		return nil, cr, inPhase("start", err)
	}
	if !st.Running && !st.FinishedAt.IsZero() {
		// It already died: say so with its exit code and last lines, as the exit watcher would.
		if lost := r.shutdownCause(ctx, "startup", st); lost != nil {
			return nil, cr, inPhase("start", lost)
		}
		cr.drainLogs(ctx, time.Second)
		return nil, cr, inPhase("start", &ContainerExitError{Phase: "startup", State: st, Tail: cr.Tracker.Snapshot().Tail})
	}
	if st.HostPort == 0 {
		return nil, cr, inPhase("start", fmt.Errorf("container %s publishes no host port for %d/tcp", short(id), r.cfg.ContainerPort))
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", st.HostPort)
	if r.clock == nil {
		r.clock = newServerClock(loopback.URL(url))
	}
	c, err := r.deps.Dial(url)
	if err != nil {
		return nil, cr, inPhase("ready", err)
	}
	phase.set("startup (waiting for ComfyUI to answer)")
	waited := r.stage(StageWaitServer, url)
	readyCtx, cancelReady := context.WithTimeout(runCtx, r.cfg.StartTimeout)
	err = waitReady(readyCtx, c, cr.logs.startedC)
	cancelReady()
	if err != nil {
		if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		} else if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("ComfyUI did not answer on %s within %s (--start-timeout); last log lines:\n  %s", url, r.cfg.StartTimeout, strings.Join(lastN(cr.Tracker.Snapshot().Tail, 10), "\n  "))
		}
		return c, cr, inPhase("ready", err)
	}
	cr.Ready = time.Now()
	first, started := cr.logs.times()
	if !first.IsZero() && first.Before(cr.Ready) {
		cr.tl.phase(report.PhaseFirstLog, report.SourceLogs, first)
		if !started.IsZero() && started.Before(cr.Ready) {
			cr.tl.phase(report.PhaseListening, report.SourceLogs, started)
		}
	}
	cr.tl.phase(report.PhaseReady, report.SourceAPI, cr.Ready)
	waited(fmt.Sprintf("ready %.2fs after the start", cr.Ready.Sub(cr.Start).Seconds()))

	phase.set("preflight against the live server")
	checked := r.stage(StagePreflight, "")
	if err := r.livePreflight(runCtx, c); err != nil {
		return c, cr, inPhase("preflight", causeOr(runCtx, err))
	}
	cr.tl.phase(report.PhasePreflight, report.SourceAPI, time.Now())
	checked("")

	phase.set("the first prompt")
	firstDone := r.stage(StageFirstPrompt, "")
	r.emit(Event{Kind: EventPrompt, Stage: StageFirstPrompt, Run: 1, Runs: 1})
	pr := r.runPrompt(runCtx, c, report.RunCold, i)
	r.emit(Event{Kind: EventPromptDone, Stage: StageFirstPrompt, Run: 1, Runs: 1, Text: describe(pr)})
	cr.First = pr
	res := pr.Res
	cr.tl.phase(report.PhaseFirstPrompt, report.SourceAPI, res.End)
	cr.Done = res.End
	r.addPromptSpans(cr, pr)
	if pr.Err != nil && (r.stopsRun(pr) || runCtx.Err() != nil) {
		return c, cr, inPhase("first prompt", r.promptFailure(runCtx, pr.Err))
	}
	if pr.Err != nil {
		firstDone("failed")
		r.progressf("first prompt failed (--on-error continue): %v", pr.Err)
	} else {
		firstDone(fmt.Sprintf("first image %.2fs after the start", res.End.Sub(cr.Start).Seconds()))
	}
	phase.set("warm runs")
	return c, cr, nil
}

// shutdownCause checks, before a container's exit is blamed on the container, that the engine
// is still there. A normal engine shutdown (SIGTERM to dockerd) stops every container — exit
// code 0, or 143 — after the engine stopped accepting connections and just before it goes
// away; an engine that accepts none is the cause (nil: it answers, the exit is the
// container's own).
func (r *run) shutdownCause(ctx context.Context, phase string, st docker.State) error {
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := r.deps.Engine.Alive(actx)
	if err == nil || ctx.Err() != nil {
		return nil
	}
	return &EngineLostError{Phase: phase, RunID: r.cfg.RunID,
		Detail: fmt.Sprintf("the container exited with code %d as the engine shut down: %v", st.ExitCode, err)}
}

// waitReady races an HTTP probe with short backoff against the "server started" log line:
// whichever sees the server first wins, and the log line triggers an immediate probe.
func waitReady(ctx context.Context, c Comfy, started <-chan struct{}) error {
	delay := 2 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.Ready(pctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-started:
			timer.Stop()
			started = nil // probe at once, then back to the backoff
		case <-timer.C:
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// addPromptSpans adds the first prompt's inner phases: model loads (from the logs), sampling,
// decode, save (from the WebSocket), and the first image.
func (r *run) addPromptSpans(cr *coldRun, pr *promptRun) {
	res := pr.Res
	for _, n := range res.Nodes {
		name := ""
		switch {
		case isSampler(n.ClassType):
			name = "sampling"
		case strings.HasPrefix(n.ClassType, "VAEDecode"):
			name = "decode"
		case strings.HasPrefix(n.ClassType, "SaveImage"):
			name = "save"
		case strings.HasSuffix(n.ClassType, "Loader") || strings.Contains(n.ClassType, "Loader"):
			name = spanLoaderPrefix + n.ClassType
		case strings.Contains(n.ClassType, "TextEncode"):
			name = "text_encode"
		}
		if name != "" {
			cr.tl.inner(name, report.SourceAPI, report.PhaseFirstPrompt, n.Start, n.End)
		}
	}
	if cr.Tracker != nil {
		for _, l := range cr.Tracker.Snapshot().Loads {
			cr.tl.inner(spanModelLoadPrefix+l.Model, report.SourceLogs, report.PhaseFirstPrompt, cr.logs.onClock(l.Start), cr.logs.onClock(l.End))
		}
	}
	cr.tl.inner("first_image", report.SourceAPI, report.PhaseFirstPrompt, res.Submit, res.ImageAt)
}

func (r *run) livePreflight(ctx context.Context, c Comfy) error {
	if ss, err := c.SystemStats(ctx); err == nil {
		r.sysStats = &ss
	}
	info, err := c.ObjectInfoFor(ctx, r.plan.classes())
	if err != nil {
		return fmt.Errorf("read /object_info: %w", err)
	}
	return r.plan.check(info)
}

type atomicString struct {
	mu sync.Mutex
	v  string
}

func (a *atomicString) set(v string) { a.mu.Lock(); a.v = v; a.mu.Unlock() }
func (a *atomicString) get() string  { a.mu.Lock(); defer a.mu.Unlock(); return a.v }

// promptFailure is the error a failed prompt ends the run with. A prompt that failed because
// its container went away (the socket reset) is explained by the container's exit watcher —
// the exit code and last lines, or the engine's shutdown — which may report a moment after the
// prompt failed: when the container is no longer running, wait (bounded) for its word.
func (r *run) promptFailure(ctx context.Context, err error) error {
	n := len(r.colds)
	if cause := causeOr(ctx, err); cause != err || r.deps.Engine == nil || n == 0 || r.colds[n-1].ID == "" {
		return cause
	}
	running := func() bool {
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		st, ierr := r.deps.Engine.Inspect(ictx, r.colds[n-1].ID)
		return ierr == nil && st.Running
	}
	// The socket resets as the process dies, a moment before the engine marks the container
	// exited: a container still "running" is asked again for up to a second.
	for settle := time.Now().Add(time.Second); running(); {
		if time.Now().After(settle) {
			return err // the server failed the prompt, the container is fine
		}
		select {
		case <-ctx.Done():
			return causeOr(ctx, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t := time.NewTimer(5 * time.Second) // the watcher drains logs (1 s) and may ask the engine (2 s)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return causeOr(ctx, err)
}

func causeOr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// short is [shortid.Of]: container IDs in lab's messages read as everywhere else.
func short(id string) string { return shortid.Of(id) }
