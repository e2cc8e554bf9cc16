package lab

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/qwenlab/qwenlab/report"
)

// BudgetName is what a --budget limits: a cold-start phase or one of the run's other
// durations.
type BudgetName string

// budgetTable is the one table of budget names, in the order a run meets them. A name with
// a phase measures that phase (as the report's phases do); the others say what they measure.
var budgetTable = []struct {
	name  BudgetName
	phase report.PhaseID // 0: not a phase
	what  string
}{
	{"pull", report.PhasePull, ""},
	{"create", report.PhaseCreate, ""},
	{"start", report.PhaseStart, ""},
	{"first_log", report.PhaseFirstLog, ""},
	{"ready", 0, "the cold start's t0 to ComfyUI answering (to_ready_s)"},
	{"model_load", report.PhaseModelLoad, ""},
	{"preflight", report.PhasePreflight, ""},
	{"first_prompt", report.PhaseFirstPrompt, ""},
	{"first_image", 0, "the first prompt's submit to its image"},
	{"warm_e2e", 0, "a measured warm run, end to end"},
}

// BudgetNames lists the names a --budget may use.
func BudgetNames() []string {
	out := make([]string, 0, len(budgetTable))
	for _, b := range budgetTable {
		out = append(out, string(b.name))
	}
	return out
}

// Budget is a time limit for one phase, from --budget PHASE=DURATION.
type Budget struct {
	Phase  BudgetName    // one of BudgetNames
	Limit  time.Duration // > 0
	Source string        // the flag value as the user wrote it, e.g. "model_load=30s"
}

// Violation is a phase that took longer than its budget.
type Violation struct {
	Budget Budget
	Took   time.Duration
}

// Over is how much the phase went past its limit.
func (v Violation) Over() time.Duration { return v.Took - v.Budget.Limit }

// String reads "model_load took 41.2s, over its budget of 30s (model_load=30s)".
func (v Violation) String() string {
	return fmt.Sprintf("%s took %s, over its budget of %s (%s)", v.Budget.Phase, v.Took.Round(time.Millisecond), v.Budget.Limit, v.Budget.Source)
}

// ParseBudget reads "PHASE=DURATION", e.g. "model_load=30s" or "ready=2m". A bare number
// is seconds. Phase names are matched without regard to case, and "-" may stand for "_".
func ParseBudget(s string) (Budget, error) {
	names := strings.Join(BudgetNames(), ", ")
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return Budget{}, fmt.Errorf("%q: want PHASE=DURATION, e.g. model_load=30s (phases: %s)", s, names)
	}
	phase := BudgetName(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "_"))
	known := false
	for _, b := range budgetTable {
		if b.name == phase {
			known = true
			break
		}
	}
	if !known {
		return Budget{}, fmt.Errorf("%q: unknown phase %q (phases: %s)", s, strings.TrimSpace(name), names)
	}
	val = strings.TrimSpace(val)
	d, err := time.ParseDuration(val)
	if err != nil {
		f, ferr := strconv.ParseFloat(val, 64)
		if ferr != nil || f != f || f > float64(1<<62)/float64(time.Second) {
			return Budget{}, fmt.Errorf("%q: invalid duration %q (want e.g. 30s, 2m, 1m30s)", s, val)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d <= 0 {
		return Budget{}, fmt.Errorf("%q: the duration must be above zero", s)
	}
	return Budget{Phase: phase, Limit: d, Source: s}, nil
}

// CheckBudgets returns, in the order of budgets, each budget whose phase took longer than
// its limit. A phase missing from took (not measured in this run) violates nothing.
func CheckBudgets(budgets []Budget, took map[BudgetName]time.Duration) []Violation {
	var out []Violation
	for _, b := range budgets {
		d, ok := took[b.Phase]
		if ok && d > b.Limit {
			out = append(out, Violation{Budget: b, Took: d})
		}
	}
	return out
}

// budgetDurations are the durations --budget can name, from the slowest cold start.
func (r *run) budgetDurations() map[BudgetName]time.Duration {
	out := map[BudgetName]time.Duration{}
	put := func(k BudgetName, d time.Duration) {
		if d > out[k] {
			out[k] = d
		}
	}
	for _, cr := range r.colds {
		phases := cr.tl.phases()
		for _, b := range budgetTable {
			if b.phase != 0 {
				if d, ok := phases[b.phase]; ok {
					put(b.name, d)
				}
			}
		}
		if !cr.Ready.IsZero() {
			put("ready", cr.Ready.Sub(cr.Start))
		}
		if cr.First != nil && !cr.First.Res.ImageAt.IsZero() {
			put("first_image", cr.First.Res.Image())
		}
	}
	for _, pr := range r.warm {
		if pr.Err == nil {
			put("warm_e2e", pr.Res.E2E())
		}
	}
	return out
}
