package report

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// templates are parsed once per render: html/template's escaping is contextual and a parsed
// set may not be shared before its first execution finishes; parsing costs well under a
// millisecond.
func templates() (*template.Template, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"px":   px,
		"secs": HumanSeconds,
		"opt":  humanPtr,
		"sub":  func(a, b float64) float64 { return a - b },
	}).ParseFS(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse report templates: %w", err)
	}
	return t, nil
}

// CSP is the Content-Security-Policy every page carries: nothing may be fetched (no scripts,
// fonts, styles or images from anywhere), inline styles and data: images only.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

// RenderHTML writes r as one self-contained HTML page: the cold-start timeline as a Gantt
// chart (several cold starts stacked), the warm runs with their median and its interval,
// the per-node time of a typical run, the GPU over time with the phases shaded, the
// environment and the warnings. The page needs no network and no JavaScript and prints.
// Everything taken from r is escaped by html/template: a report is untrusted input.
func RenderHTML(w io.Writer, r *Report) error {
	if r == nil {
		return fmt.Errorf("render html: no report")
	}
	t, err := templates()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "report.html.tmpl", buildPage(r)); err != nil {
		return fmt.Errorf("render html: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("render html: %w", err)
	}
	return nil
}

// page is what report.html.tmpl draws.
type page struct {
	CSP      string
	Title    string
	Subtitle string
	Status   string // "ok", "partial", "teardown-failed"
	Cards    []card
	Phases   []phaseRow
	Gantt    *gantt
	ColdNote string
	Warm     *warmView
	WarmNote string
	Nodes    *nodeChart
	GPU      []gpuChart
	GPUNote  string
	GPUStats []kv
	Env      []kv
	Config   []kv
	Params   []kv
	Slow     []slowRow
	Warnings []string
	Error    *ErrorInfo
	LogTail  []string
	// Compare and Sections are set for a matrix report: its images side by side, then each
	// one's own page.
	Compare *compareView
	// Baseline is a nightly's comparison with its stored baseline (--baseline) and the
	// thresholds' verdicts.
	Baseline *compareView
	Sections []sectionView
}

type sectionView struct {
	Index int
	Label string
	Page  page
}

type card struct{ Label, Value, Note string }

type kv struct{ Key, Value string }

type phaseRow struct {
	Name, Label, Value, Note string
	Slow                     bool
}

type slowRow struct{ Phase, Kind, Took, Budget, Context string }

func buildPage(r *Report) page {
	p := page{CSP: CSP, Status: "ok"}
	img := ""
	if r.Target.Image != nil {
		img = r.Target.Image.Ref
	}
	p.Title = strings.TrimSpace(strings.Join(nonEmpty(r.Scenario.Name, cmpOr(img, r.Target.URL)), " on "))
	if p.Title == "" {
		p.Title = "qwenlab report"
	}
	var sub []string
	if r.RunID != "" {
		sub = append(sub, "run "+r.RunID)
	}
	if !r.StartedAt.IsZero() {
		sub = append(sub, r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
		if !r.FinishedAt.IsZero() && !r.FinishedAt.Before(r.StartedAt) {
			sub = append(sub, HumanSeconds(r.FinishedAt.Sub(r.StartedAt).Seconds())+" in all")
		}
	}
	if r.Host.Hostname != "" {
		sub = append(sub, "host "+r.Host.Hostname)
	}
	p.Subtitle = strings.Join(sub, " · ")
	if r.Error != nil {
		p.Status = "partial"
		if !r.Error.CutShort() {
			p.Status = "teardown-failed" // every measurement was taken
		}
		p.Error = r.Error
	}

	p.Cards = cards(r)
	slowNames := slowPhaseNames(r.Logs.SlowSteps)
	if c := r.ColdStart; c != nil {
		for _, ph := range c.Phases.List() {
			row := phaseRow{Name: ph.Name, Label: ph.Label, Value: humanPtr(ph.Seconds)}
			if ph.Seconds == nil {
				row.Note = r.Missing["cold_start.phases."+ph.Name]
				if row.Note == "" {
					continue
				}
			} else if !ph.Additive {
				row.Note = "within the first prompt"
			}
			row.Slow = slowNames[normName(ph.Name)] || slowNames[normName(ph.Label)]
			p.Phases = append(p.Phases, row)
		}
		p.Phases = append(p.Phases, phaseRow{Name: "total_s", Label: "total", Value: humanPtr(c.TotalS)})
		p.Gantt = buildGantt(c, r.Logs.SlowSteps)
	} else {
		p.ColdNote = cmpOr(r.Missing["cold_start"], "no cold start in this run")
	}
	if r.Warm != nil {
		p.Warm = buildWarm(r.Warm)
		p.Nodes = buildNodes(r)
	} else {
		p.WarmNote = cmpOr(r.Missing["warm"], "no warm runs in this run")
	}
	p.GPU, p.GPUNote = buildGPU(r)
	p.GPUStats = gpuStats(r.GPU)
	p.Env = environment(r)
	p.Config = sortedKV(r.Target.Config)
	params := map[string]string{}
	for k, v := range r.Scenario.Params {
		params[k] = paramText(v)
	}
	p.Params = sortedKV(params)
	for _, st := range r.Logs.SlowSteps {
		row := slowRow{Phase: st.Phase, Kind: string(st.Kind), Took: HumanSeconds(st.DurationS), Budget: "—"}
		if st.Kind == SlowBudget {
			row.Budget = HumanSeconds(st.BudgetS)
		}
		switch {
		case st.Before != "" && st.After != "":
			row.Context = fmt.Sprintf("between %q and %q", st.Before, st.After)
		case st.Before != "":
			row.Context = fmt.Sprintf("after %q", st.Before)
		case st.After != "":
			row.Context = fmt.Sprintf("until %q", st.After)
		}
		p.Slow = append(p.Slow, row)
	}
	p.Warnings = r.Warnings
	if w := r.Warm; w != nil {
		for _, st := range []Stat{w.Summary} {
			for _, wn := range st.Warnings {
				if !slices.Contains(p.Warnings, wn) {
					p.Warnings = append(p.Warnings, "warm e2e: "+wn)
				}
			}
		}
	}
	p.LogTail = r.Logs.Tail
	if r.Baseline != nil {
		if p.Baseline = buildCompare(r.Baseline, nil); p.Baseline != nil {
			p.Baseline.Heading = "Against the baseline"
		}
	}
	if secs := SectionReports(r); len(secs) >= 2 {
		matrix(&p, r, secs)
	}
	return p
}

// matrix turns p into the page of a matrix report: the images side by side, then a page per
// image.
func matrix(p *page, r *Report, secs []NamedReport) {
	res := r.Comparison
	if res == nil {
		res, _ = CompareReports(secs, CompareOptions{Force: true})
	}
	p.Compare = buildCompare(res, secs)
	var names []string
	for i, s := range secs {
		p.Sections = append(p.Sections, sectionView{Index: i, Label: s.Name, Page: buildPage(s.Report)})
		names = append(names, s.Name)
	}
	p.Title = strings.TrimSpace(r.Scenario.Name + " on " + strings.Join(names, " vs "))
	p.Cards = nil
}

func cards(r *Report) []card {
	var cs []card
	if c := r.ColdStart; c != nil {
		note := ""
		if len(c.Runs) > 1 {
			if st, ok := c.Summary["total_s"]; ok && st.N > 0 {
				note = fmt.Sprintf("median of %d: %s", st.N, HumanSeconds(st.MedianS))
			}
		}
		cs = append(cs, card{"cold start", humanPtr(c.TotalS), note})
		if c.Phases.ModelLoadS != nil {
			cs = append(cs, card{"model load", HumanSeconds(*c.Phases.ModelLoadS), "within the first prompt"})
		}
	}
	if w := r.Warm; w != nil {
		st := w.Summary
		if e, ok := w.Summaries[MetricE2E]; ok {
			st = e
		}
		if st.N > 0 {
			cs = append(cs, card{"warm e2e median", HumanSeconds(st.MedianS), ciText(st, HumanSeconds) + fmt.Sprintf(" · n=%d", st.N)})
		}
		if sv, ok := w.Summaries[MetricServer]; ok && sv.N > 0 {
			cs = append(cs, card{"server median", HumanSeconds(sv.MedianS), ciText(sv, HumanSeconds)})
		}
		if sp := w.StepsPerSecond; sp != nil && sp.N > 0 {
			cs = append(cs, card{"steps/s", fmt.Sprintf("%.2f it/s", sp.MedianS), "median"})
		}
		if w.Invalid > 0 {
			cs = append(cs, card{"invalid runs", fmt.Sprint(w.Invalid), "left out of the statistics"})
		}
	}
	if g := r.GPU; g.Available && g.VRAMPeakBytes != nil {
		cs = append(cs, card{"VRAM peak", HumanBytes(*g.VRAMPeakBytes), g.PeakSource})
	}
	return cs
}

func ciText(st Stat, f func(float64) string) string {
	if st.CI95LowS == nil || st.CI95HighS == nil {
		return "no 95 % interval"
	}
	return "95 % CI " + f(*st.CI95LowS) + " … " + f(*st.CI95HighS)
}

func environment(r *Report) []kv {
	var env []kv
	add := func(k, v string) {
		if strings.TrimSpace(v) != "" {
			env = append(env, kv{k, v})
		}
	}
	add("target", string(r.Target.Kind))
	if im := r.Target.Image; im != nil {
		ref := im.Ref
		if im.Simulator {
			ref += " (built-in simulator)"
		}
		add("image", ref)
		add("image id", im.ID)
		add("digest", im.Digest)
		if im.Size > 0 {
			add("image size", HumanBytes(uint64(im.Size)))
		}
	}
	add("url", r.Target.URL)
	add("ComfyUI", r.Target.ComfyUIVersion)
	for _, g := range r.Host.GPUs {
		add(fmt.Sprintf("GPU %d", g.Index), gpuDevice(g))
		add("driver", g.Driver)
		add("CUDA", g.CUDA)
	}
	add("host", strings.Join(nonEmpty(r.Host.Hostname, host(r.Host)), "  "))
	add("kernel", r.Host.Kernel)
	if d := r.Host.Docker; d != nil && len(d.Runtimes) > 0 {
		add("runtimes", strings.Join(d.Runtimes, ", ")+" (default "+d.DefaultRuntime+")")
	}
	add("scenario", r.Scenario.Name)
	add("workflow sha256", r.Scenario.WorkflowSHA256)
	add("qwenlab", strings.TrimSpace(r.Tool.Version+" "+r.Tool.GoVersion))
	add("schema", fmt.Sprint(r.SchemaVersion))
	if c := r.Container; c != nil {
		mem := "—"
		if c.MemPeakBytes > 0 {
			mem = HumanBytes(uint64(c.MemPeakBytes))
		}
		add("container", fmt.Sprintf("CPU mean %.0f %%, max %.0f %%, memory peak %s", c.CPUPercentMean, c.CPUPercentMax, mem))
	}
	t := r.Teardown
	switch {
	case t.Removed:
		add("teardown", fmt.Sprintf("removed (stop %s, remove %s)", humanPtr(t.StopS), humanPtr(t.RemoveS)))
	case len(t.Leftovers) > 0:
		add("teardown", "NOT removed, left behind: "+strings.Join(t.Leftovers, ", "))
	}
	return env
}

func gpuStats(g GPUSection) []kv {
	if !g.Available {
		return nil
	}
	var out []kv
	names := make([]string, 0, len(g.Phases))
	for k := range g.Phases {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, n := range names {
		ph := g.Phases[n]
		var parts []string
		if ph.VRAMPeakBytes != nil {
			parts = append(parts, "VRAM peak "+HumanBytes(*ph.VRAMPeakBytes))
		}
		if ph.UtilMeanPct != nil {
			parts = append(parts, fmt.Sprintf("util mean %.0f %%", *ph.UtilMeanPct))
		}
		if ph.PowerMeanW != nil {
			parts = append(parts, fmt.Sprintf("power mean %.0f W", *ph.PowerMeanW))
		}
		if ph.EnergyJ != nil {
			parts = append(parts, fmt.Sprintf("energy %.0f J", *ph.EnergyJ))
		}
		if ph.EnergyPerImageJ != nil {
			parts = append(parts, fmt.Sprintf("%.0f J per image", *ph.EnergyPerImageJ))
		}
		parts = append(parts, fmt.Sprintf("%d samples", ph.Samples))
		out = append(out, kv{n, strings.Join(parts, ", ")})
	}
	return out
}

// paramText formats a scenario parameter the same way whether it was decoded from JSON
// (float64) or is still the value lab sent (json.Number, string, bool).
func paramText(v any) string {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKV(m map[string]string) []kv {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]kv, 0, len(keys))
	for _, k := range keys {
		out = append(out, kv{k, m[k]})
	}
	return out
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// normName makes phase names comparable: "first prompt", "first_prompt" and "first_prompt_s"
// are the same phase; "model_load:QwenImage" matches "model_load".
func normName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSuffix(s, "_s")
	s = strings.ReplaceAll(s, " ", "_")
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	return s
}

func slowPhaseNames(steps []SlowStep) map[string]bool {
	m := map[string]bool{}
	for _, st := range steps {
		m[normName(st.Phase)] = true
	}
	return m
}

// ---- the cold-start Gantt chart -------------------------------------------------------

// Geometry of the charts, in CSS pixels (the SVGs scale to the page width).
const (
	chartW    = 960.0
	labelW    = 170.0
	rightPad  = 24.0
	laneH     = 20.0
	laneGap   = 4.0
	blockGap  = 18.0
	axisH     = 28.0
	plotRight = chartW - rightPad
)

type gantt struct {
	W, H   float64
	Ticks  []tick
	AxisY  float64
	Blocks []ganttBlock
	Runs   int
}

type ganttBlock struct {
	Index  int
	Group  int
	Label  string
	Y      float64
	Lanes  []ganttLane
	Bars   []ganttBar
	Marker *marker // the first image
}

type ganttLane struct {
	Y     float64
	Label string
}

type ganttBar struct {
	X, Y, W, H   float64
	Name         string
	Source       string
	Class        string
	Title        string
	Text         string // drawn inside when it fits
	TextX        float64
	Slow         bool
	ModelLoad    bool
	Parent       string
	ColdStart    int
	Milliseconds string
}

type marker struct {
	X, Y1, Y2 float64
	Label     string
}

// coldRunsOf returns the timelines to draw: one per cold start.
func coldRunsOf(c *ColdStart) []ColdRun {
	if len(c.Runs) > 1 {
		runs := slices.Clone(c.Runs)
		for i := range runs {
			if len(runs[i].Timeline) == 0 {
				runs[i].Timeline = phasesTimeline(runs[i].Phases)
			}
		}
		return runs
	}
	tl := c.Timeline
	if len(tl) == 0 {
		tl = phasesTimeline(c.Phases)
	}
	one := ColdRun{Index: 0, Phases: c.Phases, TotalS: c.TotalS, Timeline: tl}
	if len(c.Runs) == 1 {
		one.FirstImageS = c.Runs[0].FirstImageS
		one.Error = c.Runs[0].Error
	}
	return []ColdRun{one}
}

// phasesTimeline lays the additive phases back to back when a report has no timeline.
func phasesTimeline(p Phases) []TimelineEntry {
	var out []TimelineEntry
	at := 0.0
	for _, ph := range p.List() {
		if ph.Seconds == nil || !ph.Additive {
			continue
		}
		out = append(out, TimelineEntry{Name: ph.Label, StartS: at, EndS: at + *ph.Seconds, Source: SourceClient})
		at += *ph.Seconds
	}
	return out
}

// knownSource returns s when it is one of the timeline sources, else "unknown": it becomes
// part of a class name.
func knownSource(s Source) string {
	switch s {
	case SourceEngine, SourceLogs, SourceAPI, SourceClient:
		return string(s)
	}
	return "unknown"
}

func isModelLoad(e TimelineEntry) bool {
	n := normName(e.Name)
	return n == "model_load" || n == "loader"
}

// labelledRun is one cold start drawn in a Gantt chart; Group tells the report it belongs to
// when several are drawn side by side.
type labelledRun struct {
	Label string
	Run   ColdRun
	Group int
}

func buildGantt(c *ColdStart, slow []SlowStep) *gantt {
	var runs []labelledRun
	for i, cr := range coldRunsOf(c) {
		runs = append(runs, labelledRun{Label: fmt.Sprintf("cold start %d", i+1), Run: cr})
	}
	return buildGanttRuns(runs, deref(c.TotalS), slow)
}

// buildGanttRuns draws runs stacked on one time scale that reaches at least minEnd.
func buildGanttRuns(lruns []labelledRun, minEnd float64, slow []SlowStep) *gantt {
	if len(lruns) == 0 {
		return nil
	}
	end := minEnd
	for _, lr := range lruns {
		cr := lr.Run
		end = math.Max(end, deref(cr.TotalS))
		for _, e := range cr.Timeline {
			if !math.IsNaN(e.EndS) && !math.IsInf(e.EndS, 0) {
				end = math.Max(end, e.EndS)
			}
		}
	}
	lo, hi, ts := niceRange(0, end, 8)
	sc := scale{lo, hi, labelW, plotRight}
	slowNames := slowPhaseNames(slow)

	g := &gantt{W: chartW, Runs: len(lruns)}
	y := 6.0
	for bi, lr := range lruns {
		cr := lr.Run
		blk := ganttBlock{Index: bi, Y: y, Group: lr.Group}
		blk.Label = oneLine(lr.Label, 80) + " · " + humanPtr(cr.TotalS)
		if cr.Error != "" {
			blk.Label += " · failed"
		}
		y += 16
		// Lane 0: the top-level phases, back to back. Then lanes packed greedily for the spans
		// inside them: the API's (nodes of the first prompt) and the logs' (model loads).
		var top, apiKids, logKids []TimelineEntry
		for _, e := range cr.Timeline {
			switch {
			case e.Parent == "":
				top = append(top, e)
			case e.Source == SourceLogs:
				logKids = append(logKids, e)
			default:
				apiKids = append(apiKids, e)
			}
		}
		lanes := [][]TimelineEntry{top}
		labels := []string{"phases"}
		for _, grp := range []struct {
			kids  []TimelineEntry
			label string
		}{{apiKids, "first prompt (API)"}, {logKids, "model loads (logs)"}} {
			packed := packLanes(grp.kids)
			for i, l := range packed {
				lab := grp.label
				if i > 0 {
					lab = ""
				}
				lanes = append(lanes, l)
				labels = append(labels, lab)
			}
		}
		for li, lane := range lanes {
			ly := y + float64(li)*(laneH+laneGap)
			blk.Lanes = append(blk.Lanes, ganttLane{Y: ly, Label: labels[li]})
			for _, e := range lane {
				x1, x2 := sc.at(e.StartS), sc.at(e.EndS)
				w := math.Max(x2-x1, 1.5)
				b := ganttBar{
					X: x1, Y: ly, W: w, H: laneH, Name: e.Name, Source: knownSource(e.Source),
					Parent: e.Parent, ColdStart: bi, ModelLoad: isModelLoad(e),
					Slow: slowNames[normName(e.Name)],
				}
				b.Milliseconds = trimFloat((e.EndS - e.StartS) * 1e3)
				b.Title = fmt.Sprintf("%s (%s): %s, %s → %s", e.Name, b.Source, HumanSeconds(e.EndS-e.StartS), HumanSeconds(e.StartS), HumanSeconds(e.EndS))
				if b.Slow {
					b.Title += " — slow"
				}
				label := oneLine(e.Name, 40)
				if float64(len([]rune(label)))*6.9+10 < w {
					b.Text, b.TextX = label, x1+4
				}
				blk.Bars = append(blk.Bars, b)
			}
		}
		y += float64(len(lanes)) * (laneH + laneGap)
		if cr.FirstImageS != nil {
			blk.Marker = &marker{X: sc.at(*cr.FirstImageS), Y1: blk.Y + 14, Y2: y - laneGap, Label: "first image " + HumanSeconds(*cr.FirstImageS)}
		}
		g.Blocks = append(g.Blocks, blk)
		y += blockGap
	}
	g.AxisY = y - blockGap + 6
	g.Ticks = secondsTicks(sc, ts)
	g.H = g.AxisY + axisH
	return g
}

// packLanes puts spans into as few rows as possible without overlap (a small tolerance lets
// spans that only touch share a row), in start order.
func packLanes(es []TimelineEntry) [][]TimelineEntry {
	sorted := slices.Clone(es)
	slices.SortStableFunc(sorted, func(a, b TimelineEntry) int {
		switch {
		case a.StartS < b.StartS:
			return -1
		case a.StartS > b.StartS:
			return 1
		}
		return 0
	})
	var lanes [][]TimelineEntry
	var ends []float64
	for _, e := range sorted {
		placed := false
		for i := range lanes {
			if e.StartS >= ends[i]-1e-3 {
				lanes[i] = append(lanes[i], e)
				ends[i] = e.EndS
				placed = true
				break
			}
		}
		if !placed {
			lanes = append(lanes, []TimelineEntry{e})
			ends = append(ends, e.EndS)
		}
	}
	return lanes
}

// ---- warm runs ------------------------------------------------------------------------

type warmView struct {
	W, H       float64
	PlotTop    float64
	PlotBottom float64
	YTicks     []tick
	XTicks     []tick
	Points     []warmPoint
	Band       *band
	Median     *hline
	ServerMed  *hline
	Stats      []statRow
	Runs       []runRow
	Warmups    int
	ManyRuns   bool
}

type warmPoint struct {
	Run       int
	X, Y      float64
	SY        float64
	HasServer bool
	Valid     bool
	Flag      string // "", "invalid", "cached", "lag", "recovered"
	Title     string
}

type band struct{ X, Y, W, H float64 }

type hline struct {
	X1, X2, Y float64
	Label     string
}

type statRow struct{ Metric, Median, CI, P90, P95, Stddev, N string }

type runRow struct {
	Index                                 int
	Seed, E2E, Server, Lag, Queue, StepsS string
	Status, Flag                          string
}

func runFlag(r Run) string {
	switch {
	case !r.Valid && strings.Contains(strings.ToLower(r.Invalid), "cache"):
		return "cached"
	case !r.Valid:
		return "invalid"
	case r.LagFlagged:
		return "lag"
	case r.Recovered:
		return "recovered"
	}
	return ""
}

func buildWarm(w *Warm) *warmView {
	v := &warmView{W: chartW, H: 300, PlotTop: 16, PlotBottom: 300 - 40, Warmups: len(w.Warmups)}
	e2e := w.Summary
	if s, ok := w.Summaries[MetricE2E]; ok {
		e2e = s
	}
	for _, m := range []struct{ key, label string }{{MetricE2E, "e2e"}, {MetricServer, "server"}, {MetricImage, "image"}, {MetricQueue, "queue"}, {MetricLag, "lag"}} {
		st, ok := w.Summaries[m.key]
		if m.key == MetricE2E {
			st, ok = e2e, true
		}
		if !ok {
			continue
		}
		v.Stats = append(v.Stats, statRow{m.label, HumanSeconds(st.MedianS), ciText(st, HumanSeconds), HumanSeconds(st.P90S), HumanSeconds(st.P95S), HumanSeconds(st.StddevS), fmt.Sprint(st.N)})
	}
	if sp := w.StepsPerSecond; sp != nil {
		f := func(x float64) string { return fmt.Sprintf("%.2f it/s", x) }
		v.Stats = append(v.Stats, statRow{"steps/s", f(sp.MedianS), ciText(*sp, f), f(sp.P90S), f(sp.P95S), f(sp.StddevS), fmt.Sprint(sp.N)})
	}
	if len(w.Runs) == 0 {
		return v
	}
	ymin, ymax := math.Inf(1), math.Inf(-1)
	see := func(x float64) {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			ymin, ymax = math.Min(ymin, x), math.Max(ymax, x)
		}
	}
	for _, r := range w.Runs {
		if r.E2ES != nil {
			see(*r.E2ES)
		}
		if r.ServerS != nil {
			see(*r.ServerS)
		}
	}
	if e2e.CI95LowS != nil && e2e.CI95HighS != nil {
		see(*e2e.CI95LowS)
		see(*e2e.CI95HighS)
	}
	if math.IsInf(ymin, 0) {
		ymin, ymax = 0, 1
	}
	lo, hi, ts := chartRange(ymin, ymax, 6)
	ys := scale{lo, hi, v.PlotBottom, v.PlotTop}
	n := len(w.Runs)
	xs := scale{-0.5, float64(n) - 0.5, labelW - 90, plotRight}
	v.YTicks = secondsTicks(ys, ts)
	step := max(1, int(math.Ceil(float64(n)/20)))
	for i := 0; i < n; i += step {
		v.XTicks = append(v.XTicks, tick{Pos: xs.at(float64(i)), Label: fmt.Sprint(i + 1)})
	}
	for i, r := range w.Runs {
		if r.E2ES == nil {
			continue // never measured: no point to plot (the runs table says why)
		}
		p := warmPoint{Run: i, X: xs.at(float64(i)), Y: ys.at(*r.E2ES), Valid: r.Valid, Flag: runFlag(r)}
		if r.ServerS != nil {
			p.HasServer, p.SY = true, ys.at(*r.ServerS)
		}
		p.Title = fmt.Sprintf("run %d: e2e %s, server %s", i+1, humanPtr(r.E2ES), humanPtr(r.ServerS))
		if !r.Valid {
			p.Title += " — invalid: " + cmpOr(r.Invalid, r.Error)
		} else if r.LagFlagged {
			p.Title += " — delivery lag " + humanPtr(r.LagS)
		}
		v.Points = append(v.Points, p)
	}
	if e2e.N > 0 {
		v.Median = &hline{xs.a, xs.b, ys.at(e2e.MedianS), "e2e median " + HumanSeconds(e2e.MedianS)}
		if e2e.CI95LowS != nil && e2e.CI95HighS != nil {
			y1, y2 := ys.at(*e2e.CI95HighS), ys.at(*e2e.CI95LowS)
			v.Band = &band{xs.a, y1, xs.b - xs.a, math.Max(y2-y1, 1)}
		}
	}
	if sv, ok := w.Summaries[MetricServer]; ok && sv.N > 0 {
		v.ServerMed = &hline{xs.a, xs.b, ys.at(sv.MedianS), "server median " + HumanSeconds(sv.MedianS)}
	}
	v.ManyRuns = n > 60
	if !v.ManyRuns {
		for i, r := range w.Runs {
			row := runRow{Index: i + 1, Seed: r.Seed, E2E: humanPtr(r.E2ES), Server: humanPtr(r.ServerS), Lag: humanPtr(r.LagS), Queue: humanPtr(r.QueueS), StepsS: "—", Status: r.Status, Flag: runFlag(r)}
			if r.StepsPerS != nil {
				row.StepsS = fmt.Sprintf("%.2f", *r.StepsPerS)
			}
			if !r.Valid {
				row.Status = strings.TrimSpace(r.Status + " · " + cmpOr(r.Invalid, r.Error))
			}
			v.Runs = append(v.Runs, row)
		}
	}
	return v
}

// ---- per-node time of a typical run ---------------------------------------------------

type nodeChart struct {
	W, H    float64
	RunNote string
	Ticks   []tick
	AxisY   float64
	Rows    []nodeRow
	HasCold bool
}

type nodeRow struct {
	Y                float64
	ID, Class, Label string
	Warm, Cold       string
	WX, WY, WW, CW   float64
	HasWarm, HasCold bool
	Cached           bool
}

// typicalRun is the valid run whose e2e time is nearest the median.
func typicalRun(w *Warm) (Run, bool) {
	med := w.Summary.MedianS
	if s, ok := w.Summaries[MetricE2E]; ok {
		med = s.MedianS
	}
	best, found := Run{}, false
	for _, r := range w.Runs {
		if !r.Valid || len(r.Nodes) == 0 || r.E2ES == nil {
			continue
		}
		if !found || math.Abs(*r.E2ES-med) < math.Abs(*best.E2ES-med) {
			best, found = r, true
		}
	}
	return best, found
}

func buildNodes(r *Report) *nodeChart {
	run, ok := typicalRun(r.Warm)
	if !ok {
		return nil
	}
	var cold map[string]NodeTiming
	if c := r.ColdStart; c != nil && c.FirstPrompt != nil {
		cold = c.FirstPrompt.Nodes
	}
	ids := make([]string, 0, len(run.Nodes))
	for id := range run.Nodes {
		ids = append(ids, id)
	}
	dur := func(m map[string]NodeTiming, id string) (float64, bool) {
		if n, ok := m[id]; ok && n.DurationS != nil {
			return *n.DurationS, true
		}
		return 0, false
	}
	slices.SortFunc(ids, func(a, b string) int {
		da, oka := dur(run.Nodes, a)
		db, okb := dur(run.Nodes, b)
		switch {
		case oka != okb:
			if oka {
				return -1
			}
			return 1
		case da != db:
			if da > db {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	maxD := 0.0
	for _, id := range ids {
		d, _ := dur(run.Nodes, id)
		c, _ := dur(cold, id)
		maxD = math.Max(maxD, math.Max(d, c))
	}
	lo, hi, ts := niceRange(0, maxD, 6)
	sc := scale{lo, hi, labelW + 60, plotRight - 70}
	nc := &nodeChart{W: chartW, HasCold: cold != nil}
	nc.RunNote = fmt.Sprintf("run %d (seed %s): e2e %s, nearest the median", run.Index+1, run.Seed, humanPtr(run.E2ES))
	y := 8.0
	rowH := 14.0
	if nc.HasCold {
		rowH = 22
	}
	for _, id := range ids {
		n := run.Nodes[id]
		row := nodeRow{Y: y, WX: sc.a, WY: y, ID: id, Class: n.ClassType, Label: oneLine("#"+id+" "+n.ClassType, 28), Cached: n.Cached, Warm: "cached", Cold: "—"}
		if d, ok := dur(run.Nodes, id); ok {
			row.HasWarm, row.WW, row.Warm = true, math.Max(sc.at(d)-sc.a, 1), HumanSeconds(d)
			if nc.HasCold {
				row.WY = y + 9
			}
		} else if !n.Cached {
			row.Warm = "—"
		}
		if d, ok := dur(cold, id); ok {
			row.HasCold, row.CW, row.Cold = true, math.Max(sc.at(d)-sc.a, 1), HumanSeconds(d)
		}
		nc.Rows = append(nc.Rows, row)
		y += rowH + 8
	}
	nc.AxisY = y
	nc.Ticks = secondsTicks(sc, ts)
	nc.H = y + axisH
	return nc
}

// ---- the GPU over time ----------------------------------------------------------------

type gpuChart struct {
	Device int
	Metric string // "vram", "util", "power"
	Title  string
	W, H   float64
	Top    float64
	Bottom float64
	Line   string
	Points int
	YTicks []tick
	XTicks []tick
	Shades []shade
}

type shade struct {
	X, W  float64
	Label string
	Class string
}

// maxChartPoints bounds the points drawn per line; beyond it neighbours are merged (the
// bucket's maximum is kept, so peaks stay visible).
const maxChartPoints = 1200

func buildGPU(r *Report) ([]gpuChart, string) {
	g := r.GPU
	if !g.Available {
		return nil, cmpOr(g.Reason, "the GPU was not sampled")
	}
	var charts []gpuChart
	tmax := 0.0
	for _, s := range g.Series {
		for _, t := range s.TS {
			tmax = math.Max(tmax, t)
		}
	}
	if c := r.ColdStart; c != nil {
		tmax = math.Max(tmax, deref(c.TotalS))
	}
	lo, hi, ts := niceRange(0, tmax, 8)
	xs := scale{lo, hi, labelW - 90, plotRight}
	const h, top, bottom = 150.0, 10.0, 150.0 - 26
	shades := phaseShades(r, xs)
	for _, s := range g.Series {
		n := min(len(s.TS), len(s.VRAMUsedBytes), len(s.UtilPct), len(s.PowerW))
		if n == 0 {
			continue
		}
		missing := func(col string) bool { return slices.Contains(s.Missing, col) }
		for _, m := range []struct {
			key, title, col string
			val             func(i int) float64
			label           func(float64) string
		}{
			{"vram", "VRAM used", "vram_used_bytes", func(i int) float64 { return float64(s.VRAMUsedBytes[i]) / (1 << 30) }, func(v float64) string { return trimFloat(v) + " GiB" }},
			{"util", "utilisation", "util_pct", func(i int) float64 { return s.UtilPct[i] }, func(v float64) string { return trimFloat(v) + " %" }},
			{"power", "power", "power_w", func(i int) float64 { return s.PowerW[i] }, func(v float64) string { return trimFloat(v) + " W" }},
		} {
			if missing(m.col) {
				continue
			}
			tsx, vs := downsample(s.TS[:n], n, m.val)
			vmax := 0.0
			for _, v := range vs {
				vmax = math.Max(vmax, v)
			}
			if m.key == "util" {
				vmax = 100
			}
			ylo, yhi, yts := niceRange(0, vmax, 3)
			ys := scale{ylo, yhi, bottom, top}
			px := make([]float64, len(vs))
			py := make([]float64, len(vs))
			for i := range vs {
				px[i], py[i] = xs.at(tsx[i]), ys.at(vs[i])
			}
			c := gpuChart{Device: s.Index, Metric: m.key, Title: fmt.Sprintf("GPU %d %s", s.Index, m.title), W: chartW, H: h, Top: top, Bottom: bottom,
				Line: polyline(px, py), Points: len(vs), Shades: shades, XTicks: secondsTicks(xs, ts)}
			for _, v := range yts {
				c.YTicks = append(c.YTicks, tick{Pos: ys.at(v), Label: m.label(v)})
			}
			charts = append(charts, c)
		}
	}
	if len(charts) == 0 {
		return nil, "no GPU samples in this report"
	}
	return charts, ""
}

// downsample returns at most maxChartPoints points of val over ts, keeping each bucket's
// maximum.
func downsample(ts []float64, n int, val func(int) float64) ([]float64, []float64) {
	if n <= maxChartPoints {
		xs, vs := make([]float64, n), make([]float64, n)
		for i := 0; i < n; i++ {
			xs[i], vs[i] = ts[i], val(i)
		}
		return xs, vs
	}
	per := int(math.Ceil(float64(n) / maxChartPoints))
	var xs, vs []float64
	for i := 0; i < n; i += per {
		best, bi := math.Inf(-1), i
		for j := i; j < min(i+per, n); j++ {
			if v := val(j); v > best {
				best, bi = v, j
			}
		}
		xs, vs = append(xs, ts[bi]), append(vs, best)
	}
	return xs, vs
}

// phaseShades are the top-level cold-start phases and the warm runs, on the run's clock.
func phaseShades(r *Report, xs scale) []shade {
	var out []shade
	if c := r.ColdStart; c != nil {
		for i, e := range c.Timeline {
			if e.Parent != "" {
				continue
			}
			out = append(out, shade{X: xs.at(e.StartS), W: math.Max(xs.at(e.EndS)-xs.at(e.StartS), 0.5), Label: e.Name, Class: fmt.Sprintf("shade-%d", i%2)})
		}
	}
	if w := r.Warm; w != nil && len(w.Runs) > 0 {
		start, end := math.Inf(1), math.Inf(-1)
		for _, run := range append(slices.Clone(w.Warmups), w.Runs...) {
			start = math.Min(start, run.StartedAtS)
			if run.E2ES != nil {
				end = math.Max(end, run.StartedAtS+*run.E2ES)
			}
		}
		if end > start {
			out = append(out, shade{X: xs.at(start), W: xs.at(end) - xs.at(start), Label: "warm runs", Class: "shade-warm"})
		}
	}
	return out
}

// WriteHTML renders r as [RenderHTML] does and stores the page at path atomically.
func WriteHTML(path string, r *Report) error {
	var b bytes.Buffer
	if err := RenderHTML(&b, r); err != nil {
		return err
	}
	return WriteFile(path, b.Bytes())
}

// WriteFile stores a rendering at path as [WriteTo] stores a report: a regular file
// atomically (a temporary file in the same folder, renamed over it), so path never holds half
// a page; a symlink's target likewise; a device or FIFO as a stream.
func WriteFile(path string, data []byte) error {
	_, err := store(path, data)
	var we *WriteError
	if errors.As(err, &we) {
		return fmt.Errorf("write %s: %w", path, we.Err)
	}
	return err
}
