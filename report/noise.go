package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Noise limits. A value whose distance from the median is over outlierScore times the median
// absolute deviation (1.4826 MAD estimates one standard deviation, so: ten of them) is an
// outlier, the rule hyperfine applies to its runs; a coefficient of variation over cvLimit is a
// spread a GPU benchmark does not have on a quiet machine.
const (
	outlierScore = 1.4826 * 10
	cvLimit      = 0.05
)

// Noise is what the spread of a series of measurements says about how far to trust it.
type Noise struct {
	// SlowFirst is set when the first value is an outlier on the slow side: a cache the
	// warm-up did not fill, or a one-time cost the warm runs should not include.
	SlowFirst bool
	// Outliers are the positions of the other outliers in the series.
	Outliers []int
	// CV is the coefficient of variation (standard deviation / mean), 0 for fewer than two
	// values.
	CV float64
}

// NoiseOf judges a series of values in the order they were measured.
func NoiseOf(vs []float64) Noise {
	var n Noise
	if len(vs) < 2 {
		return n
	}
	sorted := slices.Sorted(slices.Values(vs))
	mean, sd := meanStddev(sorted)
	if mean > 0 {
		n.CV = sd / mean
	}
	if len(vs) < 3 {
		return n // two values have no outlier: each is as far from the median as the other
	}
	med := quantile(sorted, 0.5)
	dev := make([]float64, len(vs))
	for i, v := range vs {
		dev[i] = math.Abs(v - med)
	}
	mad := quantile(slices.Sorted(slices.Values(dev)), 0.5)
	if mad == 0 {
		return n // most values are equal (a clock's resolution): nothing to scale by
	}
	for i, v := range vs {
		if dev[i]/mad <= outlierScore {
			continue
		}
		if i == 0 && v > med {
			n.SlowFirst = true
			continue
		}
		n.Outliers = append(n.Outliers, i)
	}
	return n
}

// NoiseWarnings are the warnings about the valid warm runs' headline metric (server time with
// --metric server, else e2e): outliers, a first run much slower than the rest, a spread wider
// than a quiet machine gives. The runs are named as the summary numbers them.
func NoiseWarnings(w *Warm) []string {
	if w == nil {
		return nil
	}
	label, get := "e2e", func(r Run) *float64 { return r.E2ES }
	if w.Metric == HeadlineServer {
		label, get = "server", func(r Run) *float64 { return r.ServerS }
	}
	var vs []float64
	var runs []Run
	for _, r := range w.Runs {
		if v := get(r); r.Valid && v != nil && !math.IsNaN(*v) && !math.IsInf(*v, 0) {
			vs, runs = append(vs, *v), append(runs, r)
		}
	}
	n := NoiseOf(vs)
	var out []string
	if n.SlowFirst {
		out = append(out, fmt.Sprintf("the first measured run (run %d, %s %s) was much slower than the rest (median %s): a cache the warm-up did not fill or a one-time cost; raise --warmup",
			runs[0].Index+1, label, HumanSeconds(vs[0]), HumanSeconds(w.summaryOf(label).MedianS)))
	}
	if len(n.Outliers) > 0 {
		names := make([]string, len(n.Outliers))
		for i, o := range n.Outliers {
			names[i] = strconv.Itoa(runs[o].Index+1) + " (" + HumanSeconds(vs[o]) + ")"
		}
		out = append(out, fmt.Sprintf("outliers among the warm runs' %s: run %s, over ten standard deviations from the median: something else may have used the machine; rerun on a quiet one",
			label, strings.Join(names, ", run ")))
	}
	if n.CV > cvLimit {
		out = append(out, fmt.Sprintf("the warm runs' %s varies by %.0f%% (coefficient of variation over %d valid runs): more than a quiet GPU box gives; check for other load, or compare with more --runs",
			label, n.CV*100, len(vs)))
	}
	return out
}

// summaryOf is the statistic of a headline metric ("e2e" or "server").
func (w *Warm) summaryOf(label string) Stat {
	if label == "server" {
		return w.Summaries[MetricServer]
	}
	return w.Summary
}
