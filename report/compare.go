package report

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// NamedReport is a report with the name it is shown under (its file, or a matrix section's
// label).
type NamedReport struct {
	Name   string
	Report *Report
}

// CompareOptions configure [CompareReports].
type CompareOptions struct {
	// Alpha is the significance level of the Mann-Whitney U test; 0 means 0.05.
	Alpha float64
	// Force compares reports of different workflows or GPU models instead of refusing.
	Force bool
	// Thresholds gate the comparison: a significant change past one fails it.
	Thresholds []Threshold
}

// ErrIncomparable is wrapped by [CompareReports] when the reports measured different
// workflows or GPU models and [CompareOptions.Force] is not set.
var ErrIncomparable = errors.New("reports are not comparable")

// CompareResult is the comparison of one base report with one or more newer ones: what
// differs between the runs, every metric's medians with their intervals and the significance
// of the change, and the thresholds' verdicts. It is a plain value (JSON tags) so that
// renderers other than [RenderCompare] can show it.
type CompareResult struct {
	Alpha      float64          `json:"alpha"`
	Base       string           `json:"base"`
	Pairs      []PairResult     `json:"pairs"`
	Thresholds []Threshold      `json:"thresholds,omitempty"`
	Checks     []ThresholdCheck `json:"checks,omitempty"`
	// Failed is true when a threshold check did not pass: a significant change past its
	// limit, a change past it that too few samples could not test, or a metric not measured.
	Failed   bool     `json:"failed"`
	Warnings []string `json:"warnings,omitempty"`
}

// PairResult compares the base report with one newer report.
type PairResult struct {
	Base string `json:"base"`
	Head string `json:"head"`
	// BaseStarted and HeadStarted are when the runs began.
	BaseStarted time.Time `json:"base_started_at"`
	HeadStarted time.Time `json:"head_started_at"`
	// Differences are what differs between the two runs apart from the measurements (image,
	// versions, host, flags): shown first, because they are what the comparison is about.
	Differences []Difference     `json:"differences"`
	Metrics     []MetricResult   `json:"metrics"`
	Checks      []ThresholdCheck `json:"checks,omitempty"`
}

// Difference is one property of the runs that differs.
type Difference struct {
	Field string `json:"field"` // "image digest", "driver", "flag runs", …
	Base  string `json:"base"`
	Head  string `json:"head"`
}

// MetricResult is one metric in both reports. Base and Head summarise the samples (median
// with its 95 % interval when there are enough samples); ChangePct is the relative change
// of the median; Significant comes from the Mann-Whitney U test at Alpha.
type MetricResult struct {
	Metric MetricID `json:"metric"`
	Label  string   `json:"label"`
	Unit   Unit     `json:"unit"`
	// HigherIsBetter is true for rates (steps per second): a positive change is an
	// improvement.
	HigherIsBetter bool     `json:"higher_is_better,omitempty"`
	Base           Stat     `json:"base"`
	Head           Stat     `json:"head"`
	ChangePct      *float64 `json:"change_pct"` // nil when the base median is 0
	P              float64  `json:"p"`
	Significant    bool     `json:"significant"`
	// Delta is the change as benchstat prints it ("+50.00%"), or "~" when not significant.
	Delta string `json:"delta"`
	// TooFewSamples is set when either side has too few samples for an interval or for the
	// test to detect a difference at Alpha; Notes say which.
	TooFewSamples bool `json:"too_few_samples,omitempty"`
	// Untestable is set when the test cannot detect a difference at Alpha with this many
	// samples, whatever their values; NeedPerSide is how many per side it would need.
	Untestable  bool     `json:"untestable,omitempty"`
	NeedPerSide int      `json:"need_per_side,omitempty"`
	Notes       []string `json:"notes,omitempty"`
}

// DefaultAlpha is the significance level when none is given (benchstat's).
const DefaultAlpha = 0.05

// CompareReports compares reports[0] (the base) with each later report. It refuses reports
// of different workflows or GPU models (wrapping [ErrIncomparable]) unless opt.Force is set.
// Metrics that neither report measured are left out; one measured by only one side is kept
// with the other side empty (N = 0).
func CompareReports(reports []NamedReport, opt CompareOptions) (*CompareResult, error) {
	if len(reports) < 2 {
		return nil, errors.New("compare reports: need a base and at least one report to compare with it")
	}
	for _, nr := range reports {
		if nr.Report == nil {
			return nil, fmt.Errorf("compare reports: %s: no report", nr.Name)
		}
	}
	alpha := opt.Alpha
	if alpha == 0 {
		alpha = DefaultAlpha
	}
	if !(alpha > 0 && alpha < 1) {
		return nil, fmt.Errorf("compare reports: alpha %g: want a value between 0 and 1", alpha)
	}
	base := reports[0]
	res := &CompareResult{Alpha: alpha, Base: base.Name, Thresholds: opt.Thresholds}
	defs := metricTable()
	baseSamples := make([][]float64, len(defs))
	for i, d := range defs {
		baseSamples[i] = d.samples(base.Report)
	}
	for _, head := range reports[1:] {
		if why := incomparable(base.Report, head.Report); why != "" {
			if !opt.Force {
				return nil, fmt.Errorf("compare %s with %s: %w: %s (--force compares them anyway)", base.Name, head.Name, ErrIncomparable, why)
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s and %s: %s (compared anyway, --force)", base.Name, head.Name, why))
		}
		p := PairResult{
			Base: base.Name, Head: head.Name,
			BaseStarted: base.Report.StartedAt, HeadStarted: head.Report.StartedAt,
			Differences: Differences(base.Report, head.Report),
		}
		for i, d := range defs {
			hs := d.samples(head.Report)
			if len(baseSamples[i]) == 0 && len(hs) == 0 {
				continue
			}
			p.Metrics = append(p.Metrics, compareMetric(d, baseSamples[i], hs, alpha))
		}
		for _, t := range opt.Thresholds {
			c := check(t, head.Name, p.Metrics)
			p.Checks = append(p.Checks, c)
			res.Checks = append(res.Checks, c)
			res.Failed = res.Failed || c.Fails()
		}
		res.Pairs = append(res.Pairs, p)
	}
	return res, nil
}

func compareMetric(d metricDef, base, head []float64, alpha float64) MetricResult {
	m := MetricResult{Metric: d.ID, Label: d.Label, Unit: d.Unit, HigherIsBetter: d.Higher, Delta: "~", P: 1}
	m.Base, m.Head = Summarize(base), Summarize(head)
	m.Base.Warnings, m.Head.Warnings = nil, nil // replaced by the notes below
	if len(base) == 0 || len(head) == 0 {
		side := "base"
		if len(head) == 0 {
			side = "new"
		}
		m.Notes = append(m.Notes, "not measured in the "+side+" report")
		return m
	}
	if m.Base.CI95LowS == nil || m.Head.CI95LowS == nil {
		m.TooFewSamples = true
		m.Notes = append(m.Notes, fmt.Sprintf("too few samples for a %.0f%% interval (6 needed)", Confidence*100))
	}
	if !testable(m.Base.N, m.Head.N, alpha) {
		m.TooFewSamples, m.Untestable, m.NeedPerSide = true, true, needPerSide(alpha)
		m.Notes = append(m.Notes, fmt.Sprintf("the test needs %d per side", m.NeedPerSide))
	}
	c := CompareAlpha(base, head, alpha)
	m.P, m.Significant = c.P, c.Significant
	if m.Base.MedianS != 0 {
		m.ChangePct = Seconds((m.Head.MedianS - m.Base.MedianS) / math.Abs(m.Base.MedianS) * 100)
	}
	if m.Significant {
		m.Delta = c.Delta
	}
	for _, w := range c.Warnings {
		switch {
		case strings.Contains(w, "need"):
			// benchmath: "need >= 4 samples to detect a difference at alpha level 0.05",
			// said above for every sample size the test cannot judge (benchmath only when
			// both sides are short, and not when all samples are equal).
			continue
		case strings.Contains(w, "all samples are equal"):
			continue // the intervals show it
		}
		m.Notes = append(m.Notes, w)
	}
	return m
}

func check(t Threshold, head string, ms []MetricResult) ThresholdCheck {
	c := ThresholdCheck{Threshold: t, Head: head, Result: CheckNotMeasured}
	i := slices.IndexFunc(ms, func(m MetricResult) bool { return m.Metric == t.Metric })
	if i >= 0 {
		c.N1, c.N2 = ms[i].Base.N, ms[i].Head.N
	}
	if i < 0 || ms[i].Base.N == 0 || ms[i].Head.N == 0 || ms[i].ChangePct == nil {
		return c
	}
	m := ms[i]
	c.ChangePct, c.Significant, c.Untestable, c.NeedPerSide = m.ChangePct, m.Significant, m.Untestable, m.NeedPerSide
	switch {
	case t.holds(*m.ChangePct):
		c.Result = CheckPass
	case m.Significant:
		c.Result = CheckFail
	case m.Untestable:
		c.Result = CheckUntested
	default:
		c.Result = CheckPass // tested: the change may be noise
	}
	return c
}

// incomparable says why two reports cannot be compared fairly, or "".
func incomparable(a, b *Report) string {
	var why []string
	if wa, wb := a.Scenario.WorkflowSHA256, b.Scenario.WorkflowSHA256; wa != "" && wb != "" && wa != wb {
		why = append(why, fmt.Sprintf("different workflows (sha256 %s vs %s)", short(wa), short(wb)))
	}
	if ga, gb := gpuModels(a), gpuModels(b); ga != "" && gb != "" && ga != gb {
		why = append(why, fmt.Sprintf("different GPU models (%s vs %s)", ga, gb))
	}
	return strings.Join(why, "; ")
}

func gpuModels(r *Report) string {
	return joinUnique(r.Host.GPUs, func(g GPUDevice) string { return g.Name })
}

func joinUnique[T any](xs []T, f func(T) string) string {
	var out []string
	for _, x := range xs {
		if v := f(x); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return strings.Join(out, ", ")
}

// Differences lists what differs between two runs apart from their measurements: image
// (reference, digest, ID), ComfyUI version, GPU model, driver, CUDA, host, kernel, Docker,
// qwenlab version, scenario and workflow, and every flag recorded in [Target.Config].
func Differences(a, b *Report) []Difference {
	var out []Difference
	add := func(field, x, y string) {
		if x != y {
			out = append(out, Difference{Field: field, Base: x, Head: y})
		}
	}
	img := func(r *Report, f func(*ImageInfo) string) string {
		if r.Target.Image == nil {
			return ""
		}
		return f(r.Target.Image)
	}
	add("image", img(a, func(i *ImageInfo) string { return i.Ref }), img(b, func(i *ImageInfo) string { return i.Ref }))
	add("image digest", img(a, func(i *ImageInfo) string { return i.Digest }), img(b, func(i *ImageInfo) string { return i.Digest }))
	add("image id", img(a, func(i *ImageInfo) string { return i.ID }), img(b, func(i *ImageInfo) string { return i.ID }))
	add("url", a.Target.URL, b.Target.URL)
	add("ComfyUI", a.Target.ComfyUIVersion, b.Target.ComfyUIVersion)
	add("GPU model", gpuModels(a), gpuModels(b))
	add("driver", joinUnique(a.Host.GPUs, func(g GPUDevice) string { return g.Driver }), joinUnique(b.Host.GPUs, func(g GPUDevice) string { return g.Driver }))
	add("CUDA", joinUnique(a.Host.GPUs, func(g GPUDevice) string { return g.CUDA }), joinUnique(b.Host.GPUs, func(g GPUDevice) string { return g.CUDA }))
	add("host", a.Host.Hostname, b.Host.Hostname)
	add("kernel", a.Host.Kernel, b.Host.Kernel)
	dv := func(r *Report) string {
		if r.Host.Docker == nil {
			return ""
		}
		return r.Host.Docker.ServerVersion
	}
	add("Docker", dv(a), dv(b))
	add("qwenlab", a.Tool.Version, b.Tool.Version)
	add("scenario", a.Scenario.Name, b.Scenario.Name)
	add("workflow sha256", a.Scenario.WorkflowSHA256, b.Scenario.WorkflowSHA256)
	keys := map[string]bool{}
	for k := range a.Target.Config {
		keys[k] = true
	}
	for k := range b.Target.Config {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		add("flag "+k, a.Target.Config[k], b.Target.Config[k])
	}
	return out
}
