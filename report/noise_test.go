package report

import (
	"slices"
	"strings"
	"testing"
)

func TestNoiseOf(t *testing.T) {
	quiet := []float64{10.0, 10.1, 9.9, 10.05, 9.95, 10.0, 10.02, 9.98}
	if n := NoiseOf(quiet); n.SlowFirst || len(n.Outliers) > 0 || n.CV > 0.01 {
		t.Errorf("quiet series: %+v", n)
	}
	slowFirst := append([]float64{14.0}, quiet...)
	if n := NoiseOf(slowFirst); !n.SlowFirst || len(n.Outliers) > 0 {
		t.Errorf("slow first run: %+v", n)
	}
	// A fast first run is an outlier, not a "slow first run"; so is a late spike.
	spiky := slices.Clone(quiet)
	spiky[0], spiky[5] = 6.0, 13.0
	if n := NoiseOf(spiky); n.SlowFirst || !slices.Equal(n.Outliers, []int{0, 5}) {
		t.Errorf("spiky series: %+v", n)
	}
	// A run 3 % off the others is no outlier (hyperfine's ten deviations), but the spread counts.
	wide := []float64{10, 12, 8, 11, 9, 10.5, 9.5}
	if n := NoiseOf(wide); n.SlowFirst || len(n.Outliers) > 0 || n.CV < 0.1 {
		t.Errorf("wide series: %+v", n)
	}
	// Values on a coarse clock: most equal, no scale to judge outliers by.
	if n := NoiseOf([]float64{1, 1, 1, 1, 2}); len(n.Outliers) > 0 || n.SlowFirst {
		t.Errorf("quantised series: %+v", n)
	}
	for _, vs := range [][]float64{nil, {1}, {1, 5}} {
		if n := NoiseOf(vs); n.SlowFirst || len(n.Outliers) > 0 {
			t.Errorf("NoiseOf(%v) = %+v", vs, n)
		}
	}
}

func TestNoiseWarnings(t *testing.T) {
	var runs []Run
	for i, v := range []float64{14.0, 10.0, 10.1, 9.9, 10.05, 9.95, 10.0, 25.0, 9.98} {
		runs = append(runs, Run{Index: i, E2ES: Seconds(v), ServerS: Seconds(v - 0.1), Valid: true})
	}
	runs = append(runs, Run{Index: 9, E2ES: Seconds(0.01), Valid: false}) // served from cache: not judged
	w := SummarizeWarm(runs, nil)
	got := strings.Join(NoiseWarnings(w), "\n")
	for _, want := range []string{
		"the first measured run (run 1, e2e 14.0 s) was much slower than the rest (median 10.0 s)",
		"raise --warmup",
		"outliers among the warm runs' e2e: run 8 (25.0 s), over ten standard deviations",
		"the warm runs' e2e varies by",
		"(coefficient of variation over 9 valid runs)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	w.Metric = HeadlineServer
	if got := strings.Join(NoiseWarnings(w), "\n"); !strings.Contains(got, "outliers among the warm runs' server: run 8 (24.9 s)") {
		t.Errorf("--metric server warnings:\n%s", got)
	}
	if ws := NoiseWarnings(SummarizeWarm(runs[1:7], nil)); len(ws) != 0 {
		t.Errorf("quiet runs warned: %q", ws)
	}
	if NoiseWarnings(nil) != nil {
		t.Error("no warm section warned")
	}
}
