package comfylog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Phases are the phase names a [Budget] may name, in the order a run meets them.
var Phases = []string{"pull", "create", "start", "first_log", "ready", "model_load", "first_prompt", "first_image", "warm_e2e"}

// Budget is a time limit for one phase, from --budget PHASE=DURATION.
type Budget struct {
	Phase  string        // one of Phases
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
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return Budget{}, fmt.Errorf("%q: want PHASE=DURATION, e.g. model_load=30s (phases: %s)", s, strings.Join(Phases, ", "))
	}
	phase := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "_")
	known := false
	for _, p := range Phases {
		if p == phase {
			known = true
			break
		}
	}
	if !known {
		return Budget{}, fmt.Errorf("%q: unknown phase %q (phases: %s)", s, strings.TrimSpace(name), strings.Join(Phases, ", "))
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
// its limit. A phase missing from phases (not measured in this run) violates nothing.
func CheckBudgets(budgets []Budget, phases map[string]time.Duration) []Violation {
	var out []Violation
	for _, b := range budgets {
		took, ok := phases[b.Phase]
		if ok && took > b.Limit {
			out = append(out, Violation{Budget: b, Took: took})
		}
	}
	return out
}
