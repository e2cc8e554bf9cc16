package lab

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseBudget(t *testing.T) {
	ok := func(s string, want Budget) {
		t.Helper()
		got, err := ParseBudget(s)
		if err != nil {
			t.Fatalf("ParseBudget(%q): %v", s, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ParseBudget(%q) (-want +got):\n%s", s, diff)
		}
	}
	ok("model_load=30s", Budget{Phase: "model_load", Limit: 30 * time.Second, Source: "model_load=30s"})
	ok("ready=2m", Budget{Phase: "ready", Limit: 2 * time.Minute, Source: "ready=2m"})
	ok("first_prompt=1m30s", Budget{Phase: "first_prompt", Limit: 90 * time.Second, Source: "first_prompt=1m30s"})
	ok("Warm-E2E = 2.5", Budget{Phase: "warm_e2e", Limit: 2500 * time.Millisecond, Source: "Warm-E2E = 2.5"})
	for _, p := range BudgetNames() {
		ok(p+"=1s", Budget{Phase: BudgetName(p), Limit: time.Second, Source: p + "=1s"})
	}

	bad := func(s string, wantIn ...string) {
		t.Helper()
		_, err := ParseBudget(s)
		if err == nil {
			t.Fatalf("ParseBudget(%q): no error", s)
		}
		for _, w := range append(wantIn, s) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseBudget(%q) error %q does not mention %q", s, err, w)
			}
		}
	}
	bad("model_load", "PHASE=DURATION", "model_load, preflight, first_prompt")
	bad("load=30s", `unknown phase "load"`, "pull, create, start, first_log, ready, model_load, preflight, first_prompt, first_image, warm_e2e")
	bad("ready=soon", `invalid duration "soon"`)
	bad("ready=", "invalid duration")
	bad("ready=0s", "above zero")
	bad("ready=-5s", "above zero")
	bad("ready=NaN", "invalid duration")
	bad("ready=1e300", "invalid duration")
}

func TestCheckBudgets(t *testing.T) {
	mk := func(s string) Budget {
		b, err := ParseBudget(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	budgets := []Budget{mk("ready=10s"), mk("model_load=30s"), mk("pull=1m"), mk("first_image=5s"), mk("model_load=40s")}
	phases := map[BudgetName]time.Duration{
		"ready":       10 * time.Second, // exactly at the limit: fine
		"model_load":  41200 * time.Millisecond,
		"first_image": 4 * time.Second,
		// pull not measured (image present): no violation
	}
	got := CheckBudgets(budgets, phases)
	want := []Violation{
		{Budget: budgets[1], Took: 41200 * time.Millisecond},
		{Budget: budgets[4], Took: 41200 * time.Millisecond},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CheckBudgets (-want +got):\n%s", diff)
	}
	if o := got[0].Over(); o != 11200*time.Millisecond {
		t.Errorf("Over = %v, want 11.2s", o)
	}
	if s := got[0].String(); s != "model_load took 41.2s, over its budget of 30s (model_load=30s)" {
		t.Errorf("String = %q", s)
	}
	if v := CheckBudgets(nil, phases); v != nil {
		t.Errorf("no budgets: %v", v)
	}
}
