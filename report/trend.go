package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// A trend is what a folder of nightly reports shows over time: per series (an image on a
// host; each section of a matrix report is its own series) and per metric (the cold start's
// total and each phase, the warm median with its interval), one point per report, with the
// regressions marked.

// DefaultRegressionPct is the rise over the previous report that marks a regression on a
// metric no threshold names.
const DefaultRegressionPct = 10.0

// Trend is the trend of a set of reports.
type Trend struct {
	From, To time.Time
	Reports  int
	Series   []TrendSeries // in the order of their first report
	Metrics  []TrendMetric // the metrics any report measured, in the metric table's order
	// Thresholds are the user's; without one for a metric, DefaultRegressionPct applies.
	Thresholds []Threshold
	Skipped    []string // files passed over, with the reason
}

// TrendSeries is one image on one host.
type TrendSeries struct {
	Key   string // "image @ host"
	Image string
	Host  string
}

// TrendMetric is one metric over time: a line per series.
type TrendMetric struct {
	ID     MetricID
	Label  string
	Unit   Unit
	Higher bool // a higher value is better
	Lines  [][]TrendPoint
}

// TrendPoint is one report's value of a metric in one series.
type TrendPoint struct {
	Series    int
	Report    string // its file name
	At        time.Time
	Median    float64
	Lo, Hi    *float64 // the 95 % interval of the median; nil with too few samples
	N         int
	ChangePct *float64 // against the previous point of the series; nil for the first
	// Regression is set when the change breaks the metric's threshold (or, without one, rises
	// by more than DefaultRegressionPct, falls for a rate); Rule says which.
	Regression bool
	Rule       string
}

// ReadDir reads every *.json file of dir that is a qwenlab report, in the order of their
// start times. Files that are not reports are passed over and named in skipped, so one stray
// file does not spoil a nightly folder.
func ReadDir(dir string) (reports []NamedReport, skipped []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read folder %s: %w", dir, err)
	}
	var names []string
	for _, de := range entries {
		if !de.IsDir() && strings.HasSuffix(de.Name(), ".json") {
			names = append(names, de.Name())
		}
	}
	// Decoding is most of the work: spread it over the CPUs.
	type result struct {
		r   *Report
		err error
	}
	results := make([]result, len(names))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(names)); w++ {
		wg.Go(func() {
			for i := range next {
				r, err := readForTrend(filepath.Join(dir, names[i]))
				results[i] = result{r, err}
			}
		})
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, res := range results {
		if res.err != nil {
			if errors.Is(res.err, os.ErrPermission) {
				return nil, nil, res.err
			}
			skipped = append(skipped, fmt.Sprintf("%s: %v", names[i], errors.Unwrap(res.err)))
			continue
		}
		reports = append(reports, NamedReport{Name: names[i], Report: res.r})
	}
	slices.SortStableFunc(reports, func(a, b NamedReport) int {
		if c := a.Report.StartedAt.Compare(b.Report.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return reports, skipped, nil
}

// seriesOf names the series of one report: its image (or URL) and host.
func seriesOf(r *Report, label string) TrendSeries {
	img := label
	if img == "" {
		if r.Target.Image != nil {
			img = r.Target.Image.Ref
		} else {
			img = r.Target.URL
		}
	}
	img = oneLine(cmpOr(img, "unknown target"), 80)
	host := oneLine(cmpOr(r.Host.Hostname, "unknown host"), 60)
	return TrendSeries{Key: img + " @ " + host, Image: img, Host: host}
}

// trendMetrics are the metrics a trend follows: the cold start's total and phases, then the
// warm latencies and rate.
func trendMetrics() []metricDef {
	var out []metricDef
	for _, d := range metricTable() {
		if strings.HasPrefix(string(d.ID), "cold_start.") || d.ID == MetricWarmE2E || d.ID == MetricWarmServer || d.ID == MetricWarmStepsPerS {
			out = append(out, d)
		}
	}
	// The total leads the cold-start metrics.
	slices.SortStableFunc(out, func(a, b metricDef) int {
		rank := func(d metricDef) int {
			switch {
			case d.ID == MetricColdTotal:
				return 0
			case strings.HasPrefix(string(d.ID), "cold_start."):
				return 1
			}
			return 2
		}
		return rank(a) - rank(b)
	})
	return out
}

// BuildTrend follows reports (in time order, as [ReadDir] returns them) per series and
// metric. A matrix report contributes one point to each of its sections' series.
func BuildTrend(reports []NamedReport, thresholds []Threshold) *Trend {
	t := &Trend{Reports: len(reports), Thresholds: thresholds}
	type member struct {
		name   string
		series int
		r      *Report
	}
	var members []member
	index := map[string]int{}
	add := func(name string, r *Report, label string) {
		s := seriesOf(r, label)
		i, ok := index[s.Key]
		if !ok {
			i = len(t.Series)
			index[s.Key] = i
			t.Series = append(t.Series, s)
		}
		members = append(members, member{name, i, r})
	}
	for _, nr := range reports {
		if nr.Report == nil {
			continue
		}
		at := nr.Report.StartedAt
		if t.From.IsZero() || at.Before(t.From) {
			t.From = at
		}
		if at.After(t.To) {
			t.To = at
		}
		if secs := SectionReports(nr.Report); len(secs) > 0 {
			for _, s := range secs {
				add(nr.Name, s.Report, s.Name)
			}
			continue
		}
		add(nr.Name, nr.Report, "")
	}
	for _, d := range trendMetrics() {
		m := TrendMetric{ID: d.ID, Label: d.Label, Unit: d.Unit, Higher: d.Higher, Lines: make([][]TrendPoint, len(t.Series))}
		measured := false
		for _, mb := range members {
			vs := d.samples(mb.r)
			if len(vs) == 0 {
				continue
			}
			measured = true
			st := summarizeQuick(vs)
			p := TrendPoint{Series: mb.series, Report: mb.name, At: mb.r.StartedAt, Median: st.MedianS, Lo: st.CI95LowS, Hi: st.CI95HighS, N: st.N}
			line := m.Lines[mb.series]
			if len(line) > 0 {
				prev := line[len(line)-1]
				if prev.Median != 0 {
					p.ChangePct = Seconds((p.Median - prev.Median) / math.Abs(prev.Median) * 100)
					p.Regression, p.Rule = regression(d, *p.ChangePct, thresholds)
				}
			}
			m.Lines[mb.series] = append(line, p)
		}
		if measured {
			t.Metrics = append(t.Metrics, m)
		}
	}
	return t
}

// regression judges a change of pct percent of metric d against the previous report.
func regression(d metricDef, pct float64, thresholds []Threshold) (bool, string) {
	var rules []string
	found := false
	for _, th := range thresholds {
		if th.Metric != d.ID {
			continue
		}
		found = true
		if !th.holds(pct) {
			rules = append(rules, th.Text)
		}
	}
	if found {
		return len(rules) > 0, strings.Join(rules, ", ")
	}
	if d.Higher {
		if pct < -DefaultRegressionPct {
			return true, fmt.Sprintf("fell by more than %g %%", DefaultRegressionPct)
		}
		return false, ""
	}
	if pct > DefaultRegressionPct {
		return true, fmt.Sprintf("rose by more than %g %%", DefaultRegressionPct)
	}
	return false, ""
}

// summarizeQuick is [Summarize] for one value (a single cold start): no interval to compute.
func summarizeQuick(vs []float64) Stat {
	if len(vs) == 1 && !math.IsNaN(vs[0]) && !math.IsInf(vs[0], 0) {
		return Stat{N: 1, MeanS: vs[0], MedianS: vs[0], MinS: vs[0], MaxS: vs[0], P90S: vs[0], P95S: vs[0]}
	}
	return Summarize(vs)
}

// Regressions returns every regression point of the trend, metric by metric.
func (t *Trend) Regressions() []TrendRegression {
	var out []TrendRegression
	for _, m := range t.Metrics {
		for _, line := range m.Lines {
			for _, p := range line {
				if p.Regression {
					out = append(out, TrendRegression{Metric: m, Point: p, Series: t.Series[p.Series]})
				}
			}
		}
	}
	return out
}

// TrendRegression is one regression of a trend.
type TrendRegression struct {
	Metric TrendMetric
	Series TrendSeries
	Point  TrendPoint
}

func pctText(p *float64) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("%+.1f %%", *p)
}

// ---- rendering --------------------------------------------------------------------------

// seriesColours are distinguishable on white and in print (Tableau 10).
var seriesColours = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

type trendPage struct {
	CSP         string
	Title       string
	Subtitle    string
	Series      []trendSeriesView
	Charts      []trendChart
	Regressions []trendRegRow
	Rules       string
	Skipped     []string
	Latest      []trendLatestRow
}

type trendSeriesView struct {
	Index  int
	Key    string
	Colour string
	Points int
}

type trendChart struct {
	ID     string
	Label  string
	W, H   float64
	Top    float64
	Bottom float64
	YTicks []tick
	XTicks []tick
	Lines  []trendLineView
}

type trendLineView struct {
	Series int
	Colour string
	Points string
	Dots   []trendDot
}

type trendDot struct {
	X, Y, Y1, Y2 float64
	Whisker      bool
	Regression   bool
	Title        string
	Report       string
}

type trendRegRow struct{ Metric, Series, Report, When, Value, Change, Rule string }

type trendLatestRow struct {
	Series string
	Cells  []string
}

func buildTrendPage(t *Trend) trendPage {
	p := trendPage{CSP: CSP, Title: "qwenlab trend"}
	p.Subtitle = fmt.Sprintf("%d reports", t.Reports)
	if !t.From.IsZero() {
		p.Subtitle += fmt.Sprintf(" · %s → %s", t.From.UTC().Format("2006-01-02 15:04"), t.To.UTC().Format("2006-01-02 15:04 UTC"))
	}
	p.Rules = fmt.Sprintf("A point is a regression when it rises more than %g %% over the series' previous report (a rate: falls)", DefaultRegressionPct)
	if len(t.Thresholds) > 0 {
		var ts []string
		for _, th := range t.Thresholds {
			ts = append(ts, th.Text)
		}
		p.Rules += ", or breaks its threshold (" + strings.Join(ts, ", ") + ") where one is given"
	}
	p.Rules += "."
	p.Skipped = t.Skipped
	for i, s := range t.Series {
		n := 0
		for _, m := range t.Metrics {
			n = max(n, len(m.Lines[i]))
		}
		p.Series = append(p.Series, trendSeriesView{Index: i, Key: s.Key, Colour: seriesColours[i%len(seriesColours)], Points: n})
	}
	span := t.To.Sub(t.From).Seconds()
	for _, m := range t.Metrics {
		p.Charts = append(p.Charts, trendChartOf(t, m, span))
	}
	for _, r := range t.Regressions() {
		p.Regressions = append(p.Regressions, trendRegRow{
			Metric: r.Metric.Label, Series: r.Series.Key, Report: r.Point.Report,
			When: r.Point.At.UTC().Format("2006-01-02 15:04"), Value: r.Metric.Unit.Format(r.Point.Median),
			Change: pctText(r.Point.ChangePct), Rule: r.Point.Rule,
		})
	}
	for i, s := range t.Series {
		row := trendLatestRow{Series: s.Key}
		for _, m := range t.Metrics {
			line := m.Lines[i]
			if len(line) == 0 {
				row.Cells = append(row.Cells, "—")
				continue
			}
			last := line[len(line)-1]
			cell := m.Unit.Format(last.Median)
			if last.ChangePct != nil {
				cell += " (" + pctText(last.ChangePct) + ")"
			}
			row.Cells = append(row.Cells, cell)
		}
		p.Latest = append(p.Latest, row)
	}
	return p
}

func trendChartOf(t *Trend, m TrendMetric, span float64) trendChart {
	c := trendChart{ID: string(m.ID), Label: m.Label, W: chartW, H: 190, Top: 10, Bottom: 190 - 28}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, line := range m.Lines {
		for _, p := range line {
			lo, hi = math.Min(lo, p.Median), math.Max(hi, p.Median)
			if p.Lo != nil && p.Hi != nil {
				lo, hi = math.Min(lo, *p.Lo), math.Max(hi, *p.Hi)
			}
		}
	}
	if lo > 0 && lo > 0.5*hi {
		pad := (hi - lo) * 0.2
		lo, hi = lo-pad, hi+pad
	} else {
		lo = math.Min(lo, 0)
	}
	ylo, yhi, yts := niceRange(lo, hi, 4)
	ys := scale{ylo, yhi, c.Bottom, c.Top}
	xs := scale{0, math.Max(span, 1), labelW - 90, plotRight}
	x := func(at time.Time) float64 {
		if span <= 0 {
			return (xs.a + xs.b) / 2
		}
		return xs.at(at.Sub(t.From).Seconds())
	}
	for _, v := range yts {
		c.YTicks = append(c.YTicks, tick{Pos: ys.at(v), Label: m.Unit.Format(v)})
	}
	for i := 0; i <= 4 && span > 0; i++ {
		at := t.From.Add(time.Duration(float64(i) / 4 * span * float64(time.Second)))
		layout := "01-02"
		if span < 2*86400 {
			layout = "01-02 15:04"
		}
		c.XTicks = append(c.XTicks, tick{Pos: x(at), Label: at.UTC().Format(layout)})
	}
	if span <= 0 {
		c.XTicks = []tick{{Pos: x(t.From), Label: t.From.UTC().Format("2006-01-02 15:04")}}
	}
	for si, line := range m.Lines {
		if len(line) == 0 {
			continue
		}
		lv := trendLineView{Series: si, Colour: seriesColours[si%len(seriesColours)]}
		pxs, pys := make([]float64, len(line)), make([]float64, len(line))
		for i, p := range line {
			d := trendDot{X: x(p.At), Y: ys.at(p.Median), Regression: p.Regression, Report: p.Report}
			pxs[i], pys[i] = d.X, d.Y
			d.Title = fmt.Sprintf("%s · %s · %s: %s", t.Series[si].Key, p.At.UTC().Format("2006-01-02 15:04"), p.Report, m.Unit.Format(p.Median))
			if p.Lo != nil && p.Hi != nil {
				d.Whisker, d.Y1, d.Y2 = true, ys.at(*p.Hi), ys.at(*p.Lo)
				d.Title += fmt.Sprintf(" (95 %% CI %s … %s, n=%d)", m.Unit.Format(*p.Lo), m.Unit.Format(*p.Hi), p.N)
			}
			if p.ChangePct != nil {
				d.Title += ", " + pctText(p.ChangePct)
			}
			if p.Regression {
				d.Title += " — regression: " + p.Rule
			}
			lv.Dots = append(lv.Dots, d)
		}
		lv.Points = polyline(pxs, pys)
		c.Lines = append(c.Lines, lv)
	}
	return c
}

// RenderTrendHTML writes t as one self-contained HTML page (see [RenderHTML]): a chart per
// metric with a line per series, the medians' intervals as whiskers, regressions ringed in
// red, then the regressions and each series' latest values as tables.
func RenderTrendHTML(w io.Writer, t *Trend) error {
	tm, err := templates()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := tm.ExecuteTemplate(&b, "trend.html.tmpl", buildTrendPage(t)); err != nil {
		return fmt.Errorf("render trend: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("render trend: %w", err)
	}
	return nil
}

// RenderTrendMarkdown writes t as GitHub Markdown: the regressions, then per metric a table
// of each report's value per series.
func RenderTrendMarkdown(w io.Writer, t *Trend) error {
	p := buildTrendPage(t)
	var b bytes.Buffer
	m := md{b: &b}
	m.printf("## qwenlab trend\n\n%s\n\n", mdText(p.Subtitle))
	m.printf("### Regressions\n\n%s\n\n", mdText(p.Rules))
	if len(p.Regressions) == 0 {
		m.printf("None.\n\n")
	} else {
		rows := [][]string{}
		for _, r := range p.Regressions {
			rows = append(rows, []string{mdText(r.Metric), mdText(r.Series), mdText(r.When), mdText(r.Report), r.Value, "**" + r.Change + "**", mdText(r.Rule)})
		}
		m.table([]string{"metric", "series", "when", "report", "value", "change", "rule"}, []bool{false, false, false, false, true, true, false}, rows)
	}
	m.printf("### Latest\n\n")
	head := []string{"series"}
	right := []bool{false}
	for _, mt := range t.Metrics {
		head = append(head, mt.Label)
		right = append(right, true)
	}
	rows := [][]string{}
	for _, l := range p.Latest {
		rows = append(rows, append([]string{mdText(l.Series)}, l.Cells...))
	}
	m.table(head, right, rows)
	for _, mt := range t.Metrics {
		m.printf("### %s\n\n", mdText(mt.Label))
		rows := [][]string{}
		for si, line := range mt.Lines {
			for _, pt := range line {
				v := mt.Unit.Format(pt.Median)
				if pt.Lo != nil && pt.Hi != nil {
					v += " (" + mt.Unit.Format(*pt.Lo) + " … " + mt.Unit.Format(*pt.Hi) + ")"
				}
				ch := pctText(pt.ChangePct)
				if pt.Regression {
					ch = "**" + ch + " regression**"
				}
				rows = append(rows, []string{pt.At.UTC().Format("2006-01-02 15:04"), mdText(t.Series[si].Key), mdText(pt.Report), v, ch})
			}
		}
		m.table([]string{"when", "series", "report", "median (95 % CI)", "change"}, []bool{false, false, false, true, true}, rows)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// RenderTrendText writes t for a terminal: each series' latest values and the regressions.
func RenderTrendText(w io.Writer, t *Trend) error {
	p := buildTrendPage(t)
	var b bytes.Buffer
	fmt.Fprintf(&b, "Trend  %s\n\n", p.Subtitle)
	for i, s := range t.Series {
		fmt.Fprintf(&b, "%s\n", s.Key)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  metric\treports\tfirst\tlatest\tchange\n")
		for _, m := range t.Metrics {
			line := m.Lines[i]
			if len(line) == 0 {
				continue
			}
			first, last := line[0], line[len(line)-1]
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", m.Label, len(line), m.Unit.Format(first.Median), m.Unit.Format(last.Median), pctText(last.ChangePct))
		}
		tw.Flush()
		b.WriteString("\n")
	}
	regs := t.Regressions()
	if len(regs) == 0 {
		fmt.Fprintf(&b, "No regressions. %s\n", p.Rules)
	} else {
		fmt.Fprintf(&b, "Regressions (%d). %s\n", len(regs), p.Rules)
		for _, r := range regs {
			fmt.Fprintf(&b, "  %s  %s  %s  %s → %s (%s)  %s\n", r.Point.At.UTC().Format("2006-01-02 15:04"), oneLine(r.Series.Key, 60), r.Metric.Label,
				oneLine(r.Point.Report, 60), r.Metric.Unit.Format(r.Point.Median), pctText(r.Point.ChangePct), r.Point.Rule)
		}
	}
	for _, s := range t.Skipped {
		fmt.Fprintf(&b, "passed over: %s\n", oneLine(s, 200))
	}
	_, err := w.Write(b.Bytes())
	return err
}
