package lab

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/report"
)

// warmPhase sends the warmups and the measured runs, each with its own seed so ComfyUI's
// execution cache never serves a result.
// ctx ends with the run (Ctrl-C) or with the container (its cause says why).
func (r *run) warmPhase(ctx context.Context, c Comfy) error {
	var done func(string)
	if r.cfg.Warmup > 0 {
		done = r.stage(StageWarmup, "")
	}
	for i := 0; i < r.cfg.Warmup; i++ {
		r.emit(Event{Kind: EventPrompt, Stage: StageWarmup, Run: i + 1, Runs: r.cfg.Warmup})
		pr := r.runPrompt(ctx, c, report.RunWarmup, i)
		r.warmups = append(r.warmups, pr)
		r.emit(Event{Kind: EventPromptDone, Stage: StageWarmup, Run: i + 1, Runs: r.cfg.Warmup, Text: describe(pr)})
		if pr.Err != nil && r.stopsRun(pr) {
			return inPhase("warmup", causeOr(ctx, pr.Err))
		}
	}
	if done != nil {
		done("")
	}
	done = r.stage(StageWarm, "")
	defer func() { done("") }()
	failed := 0
	for i := 0; i < r.cfg.Runs; i++ {
		r.emit(Event{Kind: EventPrompt, Stage: StageWarm, Run: i + 1, Runs: r.cfg.Runs})
		pr := r.runPrompt(ctx, c, report.RunWarm, i)
		r.warm = append(r.warm, pr)
		r.emit(Event{Kind: EventPromptDone, Stage: StageWarm, Run: i + 1, Runs: r.cfg.Runs, Text: describe(pr)})
		if pr.Err != nil {
			failed++
			if r.stopsRun(pr) || ctx.Err() != nil {
				return inPhase("warm runs", causeOr(ctx, pr.Err))
			}
		}
	}
	if failed > 0 {
		return inPhase("warm runs", fmt.Errorf("%d of %d runs failed (--on-error continue)", failed, r.cfg.Runs))
	}
	if r.cfg.CheckDeterminism && r.cfg.Runs > 0 {
		r.determinism = r.checkDeterminism(ctx, c)
		r.progressf("determinism: %s", r.determinism.Note)
	}
	return nil
}

func describe(pr *promptRun) string {
	res := pr.Res
	if pr.Err != nil {
		return "failed: " + oneLine(pr.Err.Error())
	}
	s := fmt.Sprintf("e2e %s", report.HumanSeconds(res.E2E().Seconds()))
	if srv, ok := res.Server(); ok {
		s += fmt.Sprintf(", server %s", report.HumanSeconds(srv.Seconds()))
	}
	if pr.Flagged {
		s += fmt.Sprintf(", delivery lag %s (flagged)", report.HumanSeconds(pr.Lag.Seconds()))
	}
	if res.Recovered {
		s += " (recovered from /history after the WebSocket dropped)"
	}
	if pr.Invalid != "" {
		s += " — invalid: " + pr.Invalid
	}
	return s
}

// teardownContainer stops and removes one container on a context of its own: it runs after
// Ctrl-C and after failures too. Its log stream is drained before removal so the last lines
// (the final "Prompt executed in …") are kept.
func (r *run) teardownContainer(ctx context.Context, cr *coldRun) error {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.TeardownTimeout)
	defer cancel()
	done := r.stage(StageTeardown, short(cr.ID))
	defer done("")
	cr.stopping.Store(true)
	r.stall.containerStopping()
	t := time.Now()
	serr := r.deps.Engine.Stop(tctx, cr.ID, r.cfg.StopTimeout)
	stop := time.Since(t).Seconds()
	cr.drainLogs(2 * time.Second)
	if cr.cancel != nil {
		cr.cancel()
	}
	t = time.Now()
	rerr := r.deps.Engine.Remove(tctx, cr.ID)
	remove := time.Since(t).Seconds()
	// A failed call's duration is how long it took to fail, not a measurement: null instead.
	r.teardown.StopS, r.teardown.RemoveS, r.stopErr, r.removeErr = nil, nil, serr, rerr
	if serr == nil {
		r.teardown.StopS = &stop
	}
	if rerr == nil {
		r.teardown.RemoveS = &remove
	}
	for i, c := range r.containers {
		if c == cr {
			r.containers = append(r.containers[:i], r.containers[i+1:]...)
			break
		}
	}
	if serr != nil || rerr != nil {
		return fmt.Errorf("teardown %s: %w", short(cr.ID), errors.Join(serr, rerr))
	}
	return nil
}

// finalTeardown removes every container this run made and checks that nothing labelled with
// the run id is left.
func (r *run) finalTeardown(ctx context.Context) error {
	if r.cfg.Keep {
		for _, cr := range r.containers {
			if cr.cancel != nil {
				cr.stopping.Store(true)
				cr.cancel()
			}
			r.warnf("kept container %s (--keep); remove it with `qwenlab cleanup --run %s`", short(cr.ID), r.cfg.RunID)
		}
		return nil
	}
	var errs []error
	for _, cr := range append([]*coldRun(nil), r.containers...) {
		if err := r.teardownContainer(ctx, cr); err != nil {
			errs = append(errs, err)
		}
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.TeardownTimeout)
	defer cancel()
	left, err := r.deps.Engine.ListLabelled(tctx, r.cfg.RunID)
	if err != nil && len(r.colds) > 0 { // nothing was created: nothing to doubt
		errs = append(errs, fmt.Errorf("list leftovers: %w", err))
		r.teardown.Leftovers = append(r.teardown.Leftovers, "unknown: "+err.Error())
	}
	for _, x := range left {
		r.teardown.Leftovers = append(r.teardown.Leftovers, x.Kind+" "+short(x.ID))
	}
	r.teardown.Removed = (err == nil || len(r.colds) == 0) && len(left) == 0
	if r.teardown.Leftovers == nil {
		r.teardown.Leftovers = []string{}
	}
	if len(left) > 0 {
		errs = append(errs, fmt.Errorf("teardown left %d resource(s) labelled %s=%s: run `qwenlab cleanup --run %s`", len(left), docker.LabelRun, r.cfg.RunID, r.cfg.RunID))
	}
	return errors.Join(errs...)
}

// statsAgg aggregates the engine's stats stream for the container.
type statsAgg struct {
	n              int
	cpuSum, cpuMax float64
	memPeak, limit int64
}

func (r *run) addStats(s docker.Stats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := &r.stats
	a.n++
	a.cpuSum += s.CPUPercent
	a.cpuMax = max(a.cpuMax, s.CPUPercent)
	a.memPeak = max(a.memPeak, s.MemUsed)
	a.limit = s.MemLimit
}

// checkSlow turns stalls in the logs and phases over budget into slow_steps; with
// --fail-on-slow any of them makes the run fail (exit 3) once the report is written.
func (r *run) checkSlow() error {
	r.addStallSteps()
	for _, cr := range r.colds {
		if cr.Tracker == nil {
			continue
		}
		for _, g := range cr.Tracker.Gaps(r.cfg.SlowGap) {
			s := cr.logs.onClock(g.Start)
			r.slow = append(r.slow, report.SlowStep{Phase: cr.phaseAt(s), Kind: report.SlowGap, DurationS: g.End.Sub(g.Start).Seconds(), Before: g.Before, After: g.After})
		}
	}
	if len(r.cfg.Budgets) > 0 && len(r.colds) > 0 {
		for _, v := range CheckBudgets(r.cfg.Budgets, r.budgetDurations()) {
			r.slow = append(r.slow, report.SlowStep{Phase: string(v.Budget.Phase), Kind: report.SlowBudget, DurationS: v.Took.Seconds(), BudgetS: v.Budget.Limit.Seconds()})
		}
	}
	sort.SliceStable(r.slow, func(i, j int) bool { return r.slow[i].Kind < r.slow[j].Kind })
	if r.cfg.FailOnSlow && len(r.slow) > 0 {
		return ErrSlow
	}
	return nil
}

// phaseAt names the top-level phase that contains t, as slow steps name it.
func (cr *coldRun) phaseAt(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	if p, ok := cr.tl.phaseAt(t); ok {
		return p.Name()
	}
	if end := cr.tl.end(); !end.IsZero() && t.Before(end) {
		return "between phases"
	}
	return "warm runs"
}
