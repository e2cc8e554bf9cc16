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

// Check outcomes of a threshold against one comparison.
const (
	CheckPass        = "pass"         // within the limit, or a change that is not significant
	CheckFail        = "fail"         // a significant change past the limit
	CheckNotMeasured = "not measured" // one of the reports lacks the metric
)

// ThresholdCheck is one threshold applied to one pair of reports.
type ThresholdCheck struct {
	Threshold Threshold `json:"threshold"`
	Head      string    `json:"head"` // the name of the compared (new) report
	Result    string    `json:"result"`
	ChangePct *float64  `json:"change_pct"`
	// Significant is whether the change of the median is significant at the comparison's alpha.
	Significant bool `json:"significant"`
}
