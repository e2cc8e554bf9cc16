package report

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Threshold is a regression gate on the relative change of a metric's median, as the user
// wrote it: "warm.e2e.median<+5%" (the median of warm e2e latency may rise by less than 5 %),
// "warm.steps_per_s>-3%", "cold_start.total<=+10%".
type Threshold struct {
	Text   string   `json:"text"` // as written
	Metric MetricID `json:"metric"`
	Op     string   `json:"op"`  // "<", "<=", ">" or ">="
	Pct    float64  `json:"pct"` // the limit of the change, in percent
}

// ThresholdError says what is wrong with a threshold expression.
type ThresholdError struct {
	Text   string
	Reason string
}

func (e *ThresholdError) Error() string {
	return fmt.Sprintf("threshold %q: %s", e.Text, e.Reason)
}

var thresholdRE = regexp.MustCompile(`^\s*([a-z0-9_.]+?)\s*(<=|>=|<|>)\s*([+-]?[0-9]+(?:\.[0-9]+)?)\s*%\s*$`)

// ParseThreshold reads "METRIC[.median] OP [+-]N%". METRIC is one of [MetricIDs]; the only
// statistic is the median (what the comparison tests). It returns a [*ThresholdError] that
// names the problem.
func ParseThreshold(s string) (Threshold, error) {
	m := thresholdRE.FindStringSubmatch(s)
	if m == nil {
		return Threshold{}, &ThresholdError{s, "want METRIC[.median] OP CHANGE%, e.g. 'warm.e2e.median<+5%' or 'warm.steps_per_s>-3%'"}
	}
	name := strings.TrimSuffix(m[1], ".median")
	for _, stat := range []string{".mean", ".p90", ".p95", ".min", ".max", ".stddev"} {
		if strings.HasSuffix(name, stat) {
			return Threshold{}, &ThresholdError{s, fmt.Sprintf("statistic %s: only the median is compared (write %s.median)", strings.TrimPrefix(stat, "."), strings.TrimSuffix(name, stat))}
		}
	}
	if _, ok := lookupMetric(MetricID(name)); !ok {
		ids := make([]string, 0, 16)
		for _, id := range MetricIDs() {
			ids = append(ids, string(id))
		}
		return Threshold{}, &ThresholdError{s, fmt.Sprintf("unknown metric %q; known: %s", name, strings.Join(ids, ", "))}
	}
	pct, err := strconv.ParseFloat(m[3], 64)
	if err != nil {
		return Threshold{}, &ThresholdError{s, fmt.Sprintf("change %q: %v", m[3], err)}
	}
	return Threshold{Text: s, Metric: MetricID(name), Op: m[2], Pct: pct}, nil
}

// holds reports whether a change of pct percent stays within the threshold.
func (t Threshold) holds(pct float64) bool {
	switch t.Op {
	case "<":
		return pct < t.Pct
	case "<=":
		return pct <= t.Pct
	case ">":
		return pct > t.Pct
	case ">=":
		return pct >= t.Pct
	}
	return false
}

// Check outcomes of a threshold against one comparison. A gate that cannot judge does not
// pass: "not measured" and "untested" fail it as "fail" does, each with its own reason.
const (
	CheckPass        = "pass"         // within the limit, or a tested change that is not significant
	CheckFail        = "fail"         // a significant change past the limit
	CheckUntested    = "untested"     // past the limit, but too few samples for the test to tell
	CheckNotMeasured = "not measured" // one of the reports lacks the metric
)

// Fails reports whether the outcome fails the gate.
func (c ThresholdCheck) Fails() bool { return c.Result != CheckPass }

// ThresholdCheck is one threshold applied to one pair of reports.
type ThresholdCheck struct {
	Threshold Threshold `json:"threshold"`
	Head      string    `json:"head"` // the name of the compared (new) report
	Result    string    `json:"result"`
	ChangePct *float64  `json:"change_pct"`
	// Significant is whether the change of the median is significant at the comparison's alpha.
	Significant bool `json:"significant"`
	// Untestable is set when the samples are too few for the test ever to reach alpha
	// (Mann-Whitney U needs 4 per side at 0.05): the change is then judged by the medians
	// alone, and one past the limit fails the gate as "untested". NeedPerSide says how many
	// samples a side would let it test.
	Untestable  bool `json:"untestable,omitempty"`
	NeedPerSide int  `json:"need_per_side,omitempty"`
	// N1 and N2 are the samples on each side.
	N1 int `json:"n_base"`
	N2 int `json:"n_head"`
}

// samplesFlag is the up-and-bench flag that gives a metric more samples per report, or ""
// for a metric measured once per run (VRAM peak, energy per image).
func (id MetricID) samplesFlag() string {
	switch {
	case strings.HasPrefix(string(id), "warm."):
		return "--runs"
	case strings.HasPrefix(string(id), "cold_start."):
		return "--cold-starts"
	}
	return ""
}

// Verdict says in a few words why a check passed or failed, for the text rendering and
// the exit message: "+12.0%, significant", "+368.2%, untested: 1+1 samples, the test needs
// 4 per side (--cold-starts 4 or more)", "not measured in the base report".
func (c ThresholdCheck) Verdict() string {
	if c.Result == CheckNotMeasured {
		return c.why()
	}
	return fmtPct(c.ChangePct) + ", " + c.why()
}

// why is Verdict without the change.
func (c ThresholdCheck) why() string {
	switch c.Result {
	case CheckNotMeasured:
		switch {
		case c.N1 == 0 && c.N2 == 0:
			return "not measured in either report"
		case c.N1 == 0:
			return "not measured in the base report"
		case c.N2 == 0:
			return "not measured in the new report"
		}
		return "no change to judge (the base median is 0)"
	case CheckUntested:
		f := c.Threshold.Metric.samplesFlag()
		if f == "" {
			return "past the limit (one value per report: no test, the values are compared)"
		}
		return "untested: " + tooFew(c.N1, c.N2, c.NeedPerSide, f)
	}
	switch {
	case c.Significant:
		return "significant"
	case c.Untestable:
		return "within the limit (too few samples to test)"
	}
	return "not significant"
}

// testable reports whether the two-sided Mann-Whitney U test can reach alpha with n1 and n2
// samples at all: its smallest p, when every sample of one side lies beyond the other's, is
// 2 / C(n1+n2, n1). One sample a side never can; 4 a side can at 0.05; 3 and 5 can too.
func testable(n1, n2 int, alpha float64) bool {
	if n1 == 0 || n2 == 0 {
		return false
	}
	c := 1.0 // C(n1+n2, n1), built up as a product to stay exact for small n
	for i := 1; i <= n1; i++ {
		c = c * float64(n2+i) / float64(i)
	}
	return 2/c <= alpha
}

// needPerSide is the fewest samples per side, the same on both, that make the test able to
// reach alpha.
func needPerSide(alpha float64) int {
	n := 1
	for !testable(n, n, alpha) && n < 1000 {
		n++
	}
	return n
}

// Untestable says, before a run, why a threshold's test will not be able to judge a change
// with n samples of this run and nBase of the base (nBase < 0: as many as this run), or "":
// "2+1 samples, the test needs 4 per side (--cold-starts 4 or more)". A change past the limit
// would then fail as untested. A metric measured once per report (VRAM peak, energy per
// image) is compared as it is, by design: "".
func (t Threshold) Untestable(n, nBase int, alpha float64) string {
	f := t.Metric.samplesFlag()
	if f == "" {
		return ""
	}
	if nBase < 0 {
		nBase = n
	}
	if alpha == 0 {
		alpha = DefaultAlpha
	}
	if testable(nBase, n, alpha) {
		return ""
	}
	return tooFew(nBase, n, needPerSide(alpha), f)
}

// tooFew says how many samples the test had and needs, and the flag that gives more.
func tooFew(n1, n2, need int, flag string) string {
	return fmt.Sprintf("%d+%d samples, the test needs %d per side (%s %d or more)", n1, n2, need, flag, need)
}

// SamplesPerRun is how many samples of metric id a run with these settings gives when every
// prompt and cold start succeeds: runs for a warm metric, cold starts for a cold-start one,
// one for the rest.
func (id MetricID) SamplesPerRun(runs, coldStarts int) int {
	switch id.samplesFlag() {
	case "--runs":
		return runs
	case "--cold-starts":
		return coldStarts
	}
	return 1
}

// Samples is how many samples of metric id r holds.
func Samples(r *Report, id MetricID) int {
	d, ok := lookupMetric(id)
	if !ok || r == nil {
		return 0
	}
	return len(d.samples(r))
}
