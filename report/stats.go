package report

import (
	"fmt"
	"math"
	"slices"

	"github.com/aclements/go-moremath/stats"
	"golang.org/x/perf/benchmath"
)

// Confidence is the confidence level of every interval in a report.
const Confidence = 0.95

// Stat summarises a sample. Its values carry the sample's unit: seconds for every *_s
// metric, steps per second for steps_per_s.
type Stat struct {
	N       int     `json:"n"`
	MeanS   float64 `json:"mean_s"`
	MedianS float64 `json:"median_s"`
	StddevS float64 `json:"stddev_s"` // sample standard deviation (n-1); 0 when n = 1
	MinS    float64 `json:"min_s"`
	MaxS    float64 `json:"max_s"`
	P90S    float64 `json:"p90_s"`
	P95S    float64 `json:"p95_s"`
	// CI95LowS and CI95HighS bound the 95 % confidence interval of the median (benchmath,
	// AssumeNothing); nil, with a warning, when the sample is too small for one.
	CI95LowS  *float64 `json:"ci95_low_s"`
	CI95HighS *float64 `json:"ci95_high_s"`
	Warnings  []string `json:"warnings,omitempty"`
}

// Summarize computes the statistic of samples. Median and its confidence interval come from
// benchmath (AssumeNothing, 0.95); the percentiles use the same interpolation (R8). NaN and
// infinite values are left out, with a warning. samples is not modified.
//
// An empty sample gives N = 0, zero values and a warning.
func Summarize(samples []float64) Stat {
	vs := make([]float64, 0, len(samples))
	var bad int
	for _, v := range samples {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad++
			continue
		}
		vs = append(vs, v)
	}
	var st Stat
	if bad > 0 {
		st.Warnings = append(st.Warnings, fmt.Sprintf("%d non-finite value(s) left out", bad))
	}
	if len(vs) == 0 {
		st.Warnings = append(st.Warnings, "no samples")
		return st
	}
	slices.Sort(vs)
	st.N = len(vs)
	st.MinS, st.MaxS = vs[0], vs[len(vs)-1]

	st.MeanS, st.StddevS = meanStddev(vs)
	st.MeanS = min(max(st.MeanS, st.MinS), st.MaxS) // rounding must not push it outside
	st.P90S = quantile(vs, 0.90)
	st.P95S = quantile(vs, 0.95)

	t := benchmath.DefaultThresholds
	sum2 := benchmath.AssumeNothing.Summary(benchmath.NewSample(vs, &t), Confidence)
	st.MedianS = sum2.Center
	if !math.IsInf(sum2.Lo, 0) && !math.IsInf(sum2.Hi, 0) && !math.IsNaN(sum2.Lo) && !math.IsNaN(sum2.Hi) {
		st.CI95LowS, st.CI95HighS = Seconds(sum2.Lo), Seconds(sum2.Hi)
	}
	for _, w := range sum2.Warnings {
		st.Warnings = append(st.Warnings, w.Error())
	}
	if (st.CI95LowS == nil) && len(sum2.Warnings) == 0 {
		st.Warnings = append(st.Warnings, "no confidence interval")
	}
	return st
}

// meanStddev returns the mean and the sample standard deviation of the sorted, non-empty vs
// (finite values). It works on values scaled by a power of two near the largest magnitude, so
// that neither overflows to infinity for huge inputs (the scaling itself is exact); a standard
// deviation beyond the largest float64 is reported as that.
func meanStddev(vs []float64) (mean, stddev float64) {
	maxAbs := math.Max(math.Abs(vs[0]), math.Abs(vs[len(vs)-1]))
	if maxAbs == 0 {
		return 0, 0
	}
	_, e := math.Frexp(maxAbs)
	scale := math.Ldexp(1, e-1) // a power of two in (maxAbs/2, maxAbs]: scaled values lie in (-2, 2)
	n := float64(len(vs))
	var sum float64
	for _, v := range vs {
		sum += v / scale
	}
	m := sum / n
	if len(vs) > 1 {
		var ss float64
		for _, v := range vs {
			d := v/scale - m
			ss += float64(d * d) // the conversion forbids a fused multiply-add: same bits on every arch
		}
		stddev = math.Min(math.Sqrt(ss/(n-1))*scale, math.MaxFloat64) // finite, for JSON
	}
	return m * scale, stddev
}

// quantile returns the q-quantile of the sorted, non-empty vs: go-moremath's, interpolated as
// R8 (Hyndman and Fan), the one percentile definition of every report figure (the median of
// benchmath and the GPU's util_p95 use it too).
func quantile(vs []float64, q float64) float64 {
	return stats.Sample{Xs: vs, Sorted: true}.Quantile(q)
}

// Comparison is the result of comparing two samples of one metric (Mann-Whitney U test,
// benchmath's AssumeNothing).
type Comparison struct {
	// BaseMedian and HeadMedian are the samples' medians.
	BaseMedian, HeadMedian float64
	// P is the p-value of the hypothesis that both samples come from one distribution.
	P      float64
	N1, N2 int
	Alpha  float64
	// Significant is P < Alpha: the medians differ.
	Significant bool
	// Delta is the relative change of the median ("+3.10%"), or "~" when not significant.
	Delta    string
	Warnings []string
}

// Compare tests whether head differs from base at alpha 0.05 (benchstat's default). Neither
// slice is modified; non-finite values are left out.
func Compare(base, head []float64) Comparison {
	return CompareAlpha(base, head, benchmath.DefaultThresholds.CompareAlpha)
}

// CompareAlpha is [Compare] at the given alpha (0 < alpha < 1).
func CompareAlpha(base, head []float64, alpha float64) Comparison {
	o, n := finite(base), finite(head)
	t := benchmath.DefaultThresholds
	t.CompareAlpha = alpha
	so, sn := benchmath.NewSample(o, &t), benchmath.NewSample(n, &t)
	c := Comparison{N1: len(o), N2: len(n), Alpha: t.CompareAlpha, P: 1, Delta: "~"}
	if len(o) == 0 || len(n) == 0 {
		c.Warnings = append(c.Warnings, "no samples to compare")
		return c
	}
	c.BaseMedian = benchmath.AssumeNothing.Summary(so, Confidence).Center
	c.HeadMedian = benchmath.AssumeNothing.Summary(sn, Confidence).Center
	bc := benchmath.AssumeNothing.Compare(so, sn)
	c.P, c.N1, c.N2, c.Alpha = bc.P, bc.N1, bc.N2, bc.Alpha
	c.Significant = bc.P < bc.Alpha
	c.Delta = bc.FormatDelta(c.BaseMedian, c.HeadMedian)
	for _, w := range bc.Warnings {
		c.Warnings = append(c.Warnings, w.Error())
	}
	return c
}

func finite(vs []float64) []float64 {
	out := make([]float64, 0, len(vs))
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

// Warm summary metric names, the keys of [Warm.Summaries].
const (
	MetricE2E    = "e2e_s"
	MetricImage  = "image_s"
	MetricQueue  = "queue_s"
	MetricServer = "server_s"
	MetricLag    = "lag_s"
)

// SummarizeWarm builds the warm section from the measured runs and the warmups: statistics
// over the valid runs only, Invalid counting the others, LagFlagged the valid runs flagged
// for delivery lag. Metrics no valid run measured (a nil
// ServerS in every run, say) are left out of Summaries.
func SummarizeWarm(runs, warmups []Run) *Warm {
	w := &Warm{Runs: runs, Warmups: warmups, Summaries: map[string]Stat{}}
	var e2e, image, queue, server, lag, sps []float64
	add := func(dst *[]float64, v *float64) {
		if v != nil {
			*dst = append(*dst, *v)
		}
	}
	for _, r := range runs {
		if !r.Valid {
			w.Invalid++
			continue
		}
		if r.LagFlagged {
			w.LagFlagged++
		}
		add(&e2e, r.E2ES)
		add(&image, r.ImageS)
		add(&queue, r.QueueS)
		add(&server, r.ServerS)
		add(&lag, r.LagS)
		add(&sps, r.StepsPerS)
	}
	w.Summary = Summarize(e2e)
	for _, m := range []struct {
		name string
		vs   []float64
	}{{MetricE2E, e2e}, {MetricImage, image}, {MetricQueue, queue}, {MetricServer, server}, {MetricLag, lag}} {
		if len(m.vs) > 0 {
			w.Summaries[m.name] = Summarize(m.vs)
		}
	}
	if len(sps) > 0 {
		s := Summarize(sps)
		w.StepsPerSecond = &s
	}
	return w
}

// SummarizeColdRuns summarises several cold starts per phase (keys as in [Phases.List]) and
// "total_s". Failed cold runs (Error set) are left out.
func SummarizeColdRuns(runs []ColdRun) map[string]Stat {
	by := map[string][]float64{}
	for _, r := range runs {
		if r.Error != "" {
			continue
		}
		for _, p := range r.Phases.List() {
			if p.Seconds != nil {
				by[p.Name] = append(by[p.Name], *p.Seconds)
			}
		}
		if r.TotalS != nil {
			by["total_s"] = append(by["total_s"], *r.TotalS)
		}
	}
	out := make(map[string]Stat, len(by))
	for k, vs := range by {
		out[k] = Summarize(vs)
	}
	return out
}
