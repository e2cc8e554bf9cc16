package lab

import (
	"context"
	"strconv"
	"testing"
)

// PlanSeeds (what --dry-run shows) says the seeds a run really sends: each cold start's
// first prompt, the warm-ups, the measured runs.
func TestPlanSeedsMatchRun(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	cfg := testConfig()
	cfg.ColdStarts, cfg.Warmup, cfg.Runs, cfg.Seed = 2, 2, 3, 1000
	rep, err := UpAndBench(context.Background(), cfg, testDeps(e, c))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.ColdStart.Runs {
		got = append(got, r.FirstPrompt.Seed)
	}
	for _, r := range rep.Warm.Warmups {
		got = append(got, r.Seed)
	}
	for _, r := range rep.Warm.Runs {
		got = append(got, r.Seed)
	}
	p := PlanSeeds(cfg)
	var want []string
	for _, s := range p.Cold {
		want = append(want, strconv.FormatUint(s, 10))
	}
	for i := range uint64(cfg.Warmup) {
		want = append(want, strconv.FormatUint(p.WarmupFrom+i, 10))
	}
	for i := range uint64(cfg.Runs) {
		want = append(want, strconv.FormatUint(p.RunsFrom+i, 10))
	}
	if len(got) != len(want) {
		t.Fatalf("run sent seeds %v, plan says %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("run sent seeds %v, plan says %v", got, want)
		}
	}
}

// DescribePlan finds the scenario's seed input and models as a run does.
func TestDescribePlan(t *testing.T) {
	info, err := DescribePlan(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if info.SeedInput != "3.seed" || len(info.Models) != 3 {
		t.Fatalf("plan info %+v, want seed input 3.seed and 3 models", info)
	}
}
