package lab

import (
	"sort"
	"time"

	"github.com/qwenlab/qwenlab/report"
)

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
