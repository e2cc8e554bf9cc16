package report

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSummarizeKnownValues(t *testing.T) {
	in := []float64{7, 3, 10, 1, 5, 9, 2, 8, 4, 6}
	orig := slices.Clone(in)
	st := Summarize(in)
	if !slices.Equal(in, orig) {
		t.Errorf("Summarize modified its input: %v", in)
	}
	want := Stat{
		N: 10, MeanS: 5.5, MedianS: 5.5, StddevS: math.Sqrt(82.5 / 9), MinS: 1, MaxS: 10,
		P90S: 9 + (1/3.0 + 0.9*(10+1/3.0) - 9), P95S: 10, // R8 interpolation
		CI95LowS: Seconds(2), CI95HighS: Seconds(9), // order statistics 2 and 9 for n = 10
	}
	if d := cmp.Diff(want, st, cmpopts.EquateApprox(0, 1e-9)); d != "" {
		t.Errorf("Summarize (-want +got):\n%s", d)
	}
}

func TestSummarizeOne(t *testing.T) {
	st := Summarize([]float64{2.5})
	if st.N != 1 || st.MeanS != 2.5 || st.MedianS != 2.5 || st.MinS != 2.5 || st.MaxS != 2.5 ||
		st.P90S != 2.5 || st.P95S != 2.5 || st.StddevS != 0 {
		t.Errorf("n=1: %+v", st)
	}
	if st.CI95LowS != nil || st.CI95HighS != nil {
		t.Errorf("n=1 has a confidence interval: %v %v", *st.CI95LowS, *st.CI95HighS)
	}
	if !slices.Contains(st.Warnings, "need >= 6 samples for confidence interval at level 0.95") {
		t.Errorf("n=1 warnings = %q", st.Warnings)
	}
}

func TestSummarizeCIThreshold(t *testing.T) {
	for n := 1; n <= 8; n++ {
		vs := make([]float64, n)
		for i := range vs {
			vs[i] = float64(i + 1)
		}
		st := Summarize(vs)
		hasCI := st.CI95LowS != nil && st.CI95HighS != nil
		if hasCI != (n >= 6) {
			t.Errorf("n=%d: CI present = %v", n, hasCI)
		}
		warned := slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.Contains(w, "need >= 6 samples") })
		if warned != (n < 6) {
			t.Errorf("n=%d: warnings = %q", n, st.Warnings)
		}
		if hasCI && (*st.CI95LowS > st.MedianS || *st.CI95HighS < st.MedianS) {
			t.Errorf("n=%d: CI [%v, %v] does not contain the median %v", n, *st.CI95LowS, *st.CI95HighS, st.MedianS)
		}
	}
	if st := Summarize([]float64{1, 2, 3, 4, 5, 6}); *st.CI95LowS != 1 || *st.CI95HighS != 6 {
		t.Errorf("n=6 CI = [%v, %v], want [1, 6]", *st.CI95LowS, *st.CI95HighS)
	}
}

func TestSummarizeIdentical(t *testing.T) {
	st := Summarize([]float64{0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25})
	want := Stat{N: 7, MeanS: 0.25, MedianS: 0.25, MinS: 0.25, MaxS: 0.25, P90S: 0.25, P95S: 0.25,
		CI95LowS: Seconds(0.25), CI95HighS: Seconds(0.25)}
	if d := cmp.Diff(want, st); d != "" {
		t.Errorf("identical values (-want +got):\n%s", d)
	}
}

func TestSummarizeEmptyAndNonFinite(t *testing.T) {
	st := Summarize(nil)
	if st.N != 0 || !slices.Contains(st.Warnings, "no samples") {
		t.Errorf("empty: %+v", st)
	}
	st = Summarize([]float64{math.NaN(), 1, math.Inf(1), 3})
	if st.N != 2 || st.MeanS != 2 || !slices.Contains(st.Warnings, "2 non-finite value(s) left out") {
		t.Errorf("non-finite: %+v", st)
	}
	st = Summarize([]float64{math.NaN()})
	if st.N != 0 || len(st.Warnings) != 2 {
		t.Errorf("only NaN: %+v", st)
	}
}

func TestSummarizeWarm(t *testing.T) {
	runs := []Run{
		{Index: 0, E2ES: Seconds(1.0), ServerS: Seconds(0.9), Valid: true},
		{Index: 1, E2ES: Seconds(1.2), ServerS: Seconds(1.0), StepsPerS: Seconds(10), Valid: true},
		{Index: 2, E2ES: Seconds(0.01), Valid: false, Invalid: "sampler cached"},
		{Index: 3, E2ES: Seconds(1.1), Valid: true},
	}
	w := SummarizeWarm(runs, []Run{{Index: 0, E2ES: Seconds(5), Valid: true}})
	if w.Invalid != 1 {
		t.Errorf("Invalid = %d, want 1", w.Invalid)
	}
	if w.Summary.N != 3 || !near(w.Summary.MeanS, 1.1) || w.Summary.MinS != 1.0 {
		t.Errorf("Summary = %+v (the invalid run or the warmup leaked in?)", w.Summary)
	}
	if got := w.Summaries[MetricE2E]; got.N != 3 {
		t.Errorf("e2e_s = %+v", got)
	}
	if got := w.Summaries[MetricServer]; got.N != 2 || !near(got.MeanS, 0.95) {
		t.Errorf("server_s = %+v", got)
	}
	if _, ok := w.Summaries[MetricImage]; ok {
		t.Errorf("image_s summarised though no run measured it")
	}
	if w.StepsPerSecond == nil || w.StepsPerSecond.N != 1 || w.StepsPerSecond.MedianS != 10 {
		t.Errorf("StepsPerSecond = %+v", w.StepsPerSecond)
	}
	if len(w.Warmups) != 1 || len(w.Runs) != 4 {
		t.Errorf("runs not kept: %d runs, %d warmups", len(w.Runs), len(w.Warmups))
	}
	if w := SummarizeWarm(nil, nil); w.StepsPerSecond != nil || w.Summary.N != 0 {
		t.Errorf("no runs: %+v", w)
	}
}

func TestSummarizeColdRuns(t *testing.T) {
	runs := []ColdRun{
		{Index: 0, Phases: Phases{PullS: Seconds(30), CreateS: Seconds(0.1)}, TotalS: Seconds(40)},
		{Index: 1, Phases: Phases{CreateS: Seconds(0.3)}, TotalS: Seconds(10)},
		{Index: 2, Phases: Phases{CreateS: Seconds(9)}, TotalS: Seconds(99), Error: "start: boom"},
	}
	s := SummarizeColdRuns(runs)
	if st := s["create_s"]; st.N != 2 || !near(st.MeanS, 0.2) {
		t.Errorf("create_s = %+v", st)
	}
	if st := s["pull_s"]; st.N != 1 {
		t.Errorf("pull_s = %+v", st)
	}
	if st := s["total_s"]; st.N != 2 || st.MaxS != 40 {
		t.Errorf("total_s = %+v", st)
	}
	if _, ok := s["start_s"]; ok {
		t.Errorf("start_s summarised though never measured")
	}
}

func TestCompare(t *testing.T) {
	base := []float64{1.00, 1.01, 0.99, 1.02, 1.00, 0.98, 1.01, 1.00, 0.99, 1.01}
	head := make([]float64, len(base))
	for i, v := range base {
		head[i] = v * 1.2
	}
	c := Compare(base, head)
	if !c.Significant || c.P >= 0.05 || c.N1 != 10 || c.N2 != 10 {
		t.Errorf("20%% slower not significant: %+v", c)
	}
	if c.Delta != "+20.00%" || c.BaseMedian != 1.0 || !near(c.HeadMedian, 1.2) {
		t.Errorf("delta = %q, medians %v %v", c.Delta, c.BaseMedian, c.HeadMedian)
	}
	if base[0] != 1.00 || base[5] != 0.98 {
		t.Errorf("Compare sorted its input: %v", base)
	}

	c = Compare(base, slices.Clone(base))
	if c.Significant || c.Delta != "~" {
		t.Errorf("same sample significant: %+v", c)
	}

	c = Compare([]float64{1, 2, 3}, []float64{4, 5, 6})
	if c.Significant || len(c.Warnings) == 0 || !strings.Contains(c.Warnings[0], "need >= 4 samples") {
		t.Errorf("n=3: %+v", c)
	}

	c = Compare(nil, []float64{1})
	if c.Significant || !slices.Contains(c.Warnings, "no samples to compare") {
		t.Errorf("empty: %+v", c)
	}
}
