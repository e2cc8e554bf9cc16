package report

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
)

// This file draws reports side by side: the comparison of `qwenlab compare` and the sections
// of a matrix report (several images in one run). The figures are those of [CompareReports];
// the charts put every report's cold starts and warm runs on one scale.

// compareView is the side-by-side block of a page.
type compareView struct {
	Heading     string // "Side by side", or "Against the baseline" for a nightly's gate
	Failed      bool   // a threshold did not pass
	FailedWhy   string
	Names       []string // the base first
	Colours     []string
	Differences []diffRow
	Rows        []compareRow
	Checks      []checkRow
	Warnings    []string
	Alpha       float64
	Gantt       *gantt
	Warm        *multiWarm
}

type diffRow struct {
	Field  string
	Values []string
}

type compareRow struct {
	Metric string
	ID     string
	Cells  []compareCell
}

type compareCell struct {
	Value, CI, Delta, Verdict string
}

type checkRow struct {
	Threshold, Head, Result, Change, Why string
	Fails                                bool
}

func buildCompare(res *CompareResult, reports []NamedReport) *compareView {
	if res == nil || len(res.Pairs) == 0 {
		return nil
	}
	v := &compareView{Heading: "Side by side", Alpha: res.Alpha, Warnings: res.Warnings, Failed: res.Failed}
	if res.Failed {
		v.FailedWhy = failedWhy(res)
	}
	v.Names = append(v.Names, res.Base)
	for _, p := range res.Pairs {
		v.Names = append(v.Names, p.Head)
	}
	for i := range v.Names {
		v.Colours = append(v.Colours, seriesColours[i%len(seriesColours)])
	}
	// What differs: one row per field, the base's value and each head's (blank where that
	// pair does not differ in it).
	var fields []string
	vals := map[string][]string{}
	for pi, p := range res.Pairs {
		for _, d := range p.Differences {
			if _, ok := vals[d.Field]; !ok {
				fields = append(fields, d.Field)
				vals[d.Field] = make([]string, len(v.Names))
			}
			vals[d.Field][0] = d.Base
			vals[d.Field][pi+1] = d.Head
		}
	}
	for _, f := range fields {
		row := diffRow{Field: f, Values: vals[f]}
		for i := range row.Values {
			if i > 0 && row.Values[i] == "" {
				row.Values[i] = "= " + row.Values[0]
			}
		}
		v.Differences = append(v.Differences, row)
	}
	// Metrics: in the order of the first pair, every metric any pair has.
	var ids []MetricID
	byPair := make([]map[MetricID]MetricResult, len(res.Pairs))
	for pi, p := range res.Pairs {
		byPair[pi] = map[MetricID]MetricResult{}
		for _, m := range p.Metrics {
			byPair[pi][m.Metric] = m
			if !slices.Contains(ids, m.Metric) {
				ids = append(ids, m.Metric)
			}
		}
	}
	for _, id := range ids {
		row := compareRow{ID: string(id)}
		for pi := range res.Pairs {
			m, ok := byPair[pi][id]
			if !ok {
				if pi == 0 {
					row.Cells = append(row.Cells, compareCell{Value: "—"})
				}
				row.Cells = append(row.Cells, compareCell{Value: "—"})
				continue
			}
			row.Metric = m.Label
			if pi == 0 {
				row.Cells = append(row.Cells, statCell(m.Unit, m.Base))
			}
			c := statCell(m.Unit, m.Head)
			c.Delta, c.Verdict = m.Delta, changeWord(m)
			if c.Delta == "~" && m.ChangePct != nil {
				c.Delta = "~ (" + fmtPct(m.ChangePct) + ")"
			}
			row.Cells = append(row.Cells, c)
		}
		v.Rows = append(v.Rows, row)
	}
	for _, c := range res.Checks {
		v.Checks = append(v.Checks, checkRow{Threshold: c.Threshold.Text, Head: c.Head, Result: c.Result, Change: fmtPct(c.ChangePct), Why: c.why(), Fails: c.Fails()})
	}
	if len(reports) == len(v.Names) {
		var runs []labelledRun
		var slow []SlowStep
		for i, nr := range reports {
			if nr.Report == nil || nr.Report.ColdStart == nil {
				continue
			}
			for j, cr := range coldRunsOf(nr.Report.ColdStart) {
				runs = append(runs, labelledRun{Label: fmt.Sprintf("%s · cold start %d", nr.Name, j+1), Run: cr, Group: i})
			}
			slow = append(slow, nr.Report.Logs.SlowSteps...)
		}
		v.Gantt = buildGanttRuns(runs, 0, slow)
		v.Warm = buildMultiWarm(reports, v.Colours)
	}
	return v
}

func statCell(u Unit, s Stat) compareCell {
	if s.N == 0 {
		return compareCell{Value: "—"}
	}
	c := compareCell{Value: u.Format(s.MedianS), CI: "no interval"}
	if s.CI95LowS != nil && s.CI95HighS != nil {
		c.CI = u.Format(*s.CI95LowS) + " … " + u.Format(*s.CI95HighS)
	}
	return c
}

// multiWarm is every report's warm runs on one chart: a colour per report.
type multiWarm struct {
	W, H       float64
	PlotBottom float64
	YTicks     []tick
	XTicks     []tick
	Series     []multiWarmSeries
}

type multiWarmSeries struct {
	Index  int
	Name   string
	Colour string
	Median *hline
	Points []warmPoint
}

func buildMultiWarm(reports []NamedReport, colours []string) *multiWarm {
	v := &multiWarm{W: chartW, H: 260, PlotBottom: 260 - 36}
	ymin, ymax, n := math.Inf(1), math.Inf(-1), 0
	for _, nr := range reports {
		if nr.Report == nil || nr.Report.Warm == nil {
			continue
		}
		n = max(n, len(nr.Report.Warm.Runs))
		for _, r := range nr.Report.Warm.Runs {
			if r.E2ES != nil && !math.IsNaN(*r.E2ES) && !math.IsInf(*r.E2ES, 0) {
				ymin, ymax = math.Min(ymin, *r.E2ES), math.Max(ymax, *r.E2ES)
			}
		}
	}
	if n == 0 {
		return nil
	}
	lo, hi, ts := chartRange(ymin, ymax, 5)
	ys := scale{lo, hi, v.PlotBottom, 12}
	xs := scale{-0.5, float64(n) - 0.5, labelW - 90, plotRight}
	v.YTicks = secondsTicks(ys, ts)
	step := max(1, int(math.Ceil(float64(n)/20)))
	for i := 0; i < n; i += step {
		v.XTicks = append(v.XTicks, tick{Pos: xs.at(float64(i)), Label: fmt.Sprint(i + 1)})
	}
	// Each report's points are nudged sideways so the series do not hide each other.
	width := 0.5 / float64(max(len(reports), 1))
	for si, nr := range reports {
		s := multiWarmSeries{Index: si, Name: nr.Name, Colour: colours[si%len(colours)]}
		if nr.Report == nil || nr.Report.Warm == nil {
			v.Series = append(v.Series, s)
			continue
		}
		off := (float64(si) - float64(len(reports)-1)/2) * width
		for i, r := range nr.Report.Warm.Runs {
			if r.E2ES == nil {
				continue // never measured: nothing to plot
			}
			p := warmPoint{Run: i, X: xs.at(float64(i) + off), Y: ys.at(*r.E2ES), Valid: r.Valid, Flag: runFlag(r)}
			p.Title = fmt.Sprintf("%s, run %d: e2e %s", nr.Name, i+1, humanPtr(r.E2ES))
			s.Points = append(s.Points, p)
		}
		st := nr.Report.Warm.Summary
		if e, ok := nr.Report.Warm.Summaries[MetricE2E]; ok {
			st = e
		}
		if st.N > 0 {
			s.Median = &hline{xs.a, xs.b, ys.at(st.MedianS), nr.Name + ": e2e median " + HumanSeconds(st.MedianS)}
		}
		v.Series = append(v.Series, s)
	}
	return v
}

// comparePage is the page of `qwenlab compare --format html`.
type comparePage struct {
	CSP      string
	Title    string
	Subtitle string
	Compare  *compareView
}

// RenderCompareHTML writes a comparison as one self-contained HTML page (see [RenderHTML]):
// what differs between the runs, each metric side by side with the change and its
// significance, the thresholds' verdicts, and, when reports holds the compared reports (in
// the comparison's order), their cold starts on one timeline and their warm runs on one
// chart.
func RenderCompareHTML(w io.Writer, res *CompareResult, reports []NamedReport) error {
	if res == nil {
		return fmt.Errorf("render comparison: no comparison")
	}
	t, err := templates()
	if err != nil {
		return err
	}
	p := comparePage{CSP: CSP, Title: "qwenlab compare", Compare: buildCompare(res, reports)}
	p.Subtitle = fmt.Sprintf("%d reports, compared with %s", len(res.Pairs)+1, res.Base)
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "compare.html.tmpl", p); err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	_, err = w.Write(b.Bytes())
	return err
}
