package report

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// SummaryWidth is the width the summary fits in.
const SummaryWidth = 80

// SummaryOptions adjust RenderSummaryWith.
type SummaryOptions struct {
	// Verbose lists every warm run even beyond MaxRunTable runs.
	Verbose bool
	// ReportPath, when set, ends the summary with where the report was written.
	ReportPath string
}

// MaxRunTable is the most warm runs the summary lists one by one without Verbose.
const MaxRunTable = 20

// RenderSummary writes a short human summary of r for stdout: see RenderSummaryWith.
func RenderSummary(w io.Writer, r *Report) error {
	return RenderSummaryWith(w, r, SummaryOptions{})
}

// RenderSummaryWith writes a human summary of r that fits in 80 columns and reads in a few
// seconds: the target, the cold start per phase with the slowest marked and its timeline,
// warm statistics (median, p90, confidence interval and n; invalid, cached and lagged runs)
// for end-to-end and server time, steps per second, GPU peaks, slow steps, warnings, the
// error and where the report went. Columns are aligned and durations humanised; the output
// depends only on r and o.
func RenderSummaryWith(w io.Writer, r *Report, o SummaryOptions) error {
	var b bytes.Buffer
	if r == nil {
		b.WriteString("no report\n")
	} else {
		s := summary{b: &b, r: r, o: o}
		s.header()
		s.cold()
		s.warm()
		s.gpu()
		s.slow()
		s.warnings()
		s.errorLine()
		if o.ReportPath != "" {
			s.printf("\nReport: %s\n", o.ReportPath)
		}
	}
	// Empty trailing cells leave padding behind; drop it. Lines wider than the summary are
	// wrapped at a space, continued under their own indent.
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		out = append(out, wrapLine(strings.TrimRight(l, " "), SummaryWidth)...)
	}
	if _, err := io.WriteString(w, strings.Join(out, "\n")); err != nil {
		return fmt.Errorf("render summary: %w", err)
	}
	return nil
}

// wrapLine breaks l into lines of at most width runes, at spaces where it can. A line that
// is a label and a value ("target    docker …") continues under the value; others are
// indented two more than l.
func wrapLine(l string, width int) []string {
	if utf8.RuneCountInString(l) <= width {
		return []string{l}
	}
	lead := len(l) - len(strings.TrimLeft(l, " "))
	indent := strings.Repeat(" ", lead+2)
	if gap := strings.Index(l[lead:], "  "); gap > 0 {
		value := lead + gap + len(l[lead+gap:]) - len(strings.TrimLeft(l[lead+gap:], " "))
		if value <= 16 && !strings.Contains(l[:value], "\u2192") {
			indent = strings.Repeat(" ", value)
		}
	}
	var out []string
	rs := []rune(l)
	for len(rs) > width {
		cut := -1
		for i := width; i > len(indent); i-- {
			if rs[i] == ' ' {
				cut = i
				break
			}
		}
		if cut < 0 {
			cut = width
		}
		out = append(out, strings.TrimRight(string(rs[:cut]), " "))
		rs = append([]rune(indent), []rune(strings.TrimLeft(string(rs[cut:]), " "))...)
	}
	return append(out, string(rs))
}

type summary struct {
	b *bytes.Buffer
	r *Report
	o SummaryOptions
}

func (s summary) printf(format string, a ...any) { fmt.Fprintf(s.b, format, a...) }

// table returns a tabwriter whose Flush writes into the summary.
func (s summary) table() *tabwriter.Writer {
	return tabwriter.NewWriter(s.b, 0, 0, 2, ' ', 0)
}

func (s summary) header() {
	r := s.r
	tw := s.table()
	name := r.Tool.Name
	if name == "" {
		name = "qwenlab"
	}
	head := oneLine(name+" "+r.Tool.Version, 60)
	if r.RunID != "" {
		head += "  run " + short(r.RunID)
	}
	if v := r.SchemaVersion; v != SchemaVersion {
		head += fmt.Sprintf("  (schema %d)", v)
	}
	s.printf("%s\n", strings.TrimSpace(head))

	sc := oneLine(r.Scenario.Name, 60)
	if sc == "" {
		sc = "—"
	}
	if r.Scenario.WorkflowSHA256 != "" {
		sc += "  workflow " + short(r.Scenario.WorkflowSHA256)
	}
	if p := params(r.Scenario.Params); p != "" {
		sc += "  " + p
	}
	fmt.Fprintf(tw, "scenario\t%s\n", sc)
	for i, t := range target(r.Target) {
		label := "target"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, t)
	}
	if h := host(r.Host); h != "" {
		fmt.Fprintf(tw, "host\t%s\n", h)
	}
	for _, g := range r.Host.GPUs {
		fmt.Fprintf(tw, "gpu %d\t%s\n", g.Index, gpuDevice(g))
	}
	if !r.StartedAt.IsZero() {
		t := r.StartedAt.UTC().Format(time.RFC3339)
		if !r.FinishedAt.IsZero() && !r.FinishedAt.Before(r.StartedAt) {
			t += fmt.Sprintf(" → %s (%s)", r.FinishedAt.UTC().Format(time.TimeOnly), HumanSeconds(r.FinishedAt.Sub(r.StartedAt).Seconds()))
		}
		fmt.Fprintf(tw, "time\t%s\n", t)
	}
	tw.Flush()
}

func params(p map[string]any) string {
	if len(p) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(p))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		switch v := p[k].(type) {
		case string, float64, bool, int, int64, uint64:
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return oneLine(strings.Join(parts, " "), 100)
}

// target describes what was benchmarked: the kind and image on the first line, the
// server's URL and version on the next.
func target(t Target) []string {
	var parts []string
	switch {
	case t.Kind != "":
		parts = append(parts, oneLine(string(t.Kind), 20))
	default:
		parts = append(parts, "—")
	}
	if im := t.Image; im != nil {
		img := oneLine(im.Ref, 80)
		var notes []string
		if im.Digest != "" {
			notes = append(notes, short(im.Digest))
		} else if im.ID != "" {
			notes = append(notes, short(im.ID))
		}
		if im.Size > 0 {
			notes = append(notes, HumanBytes(uint64(im.Size)))
		}
		if im.Pulled {
			notes = append(notes, "pulled")
		}
		if im.Simulator {
			notes = append(notes, "built-in simulator")
		}
		if len(notes) > 0 {
			img += " (" + strings.Join(notes, ", ") + ")"
		}
		parts = append(parts, img)
	}
	var second []string
	if t.ComfyUIVersion != "" {
		second = append(second, "ComfyUI "+oneLine(t.ComfyUIVersion, 30))
	}
	if t.URL != "" {
		second = append(second, oneLine(t.URL, 60))
	}
	lines := []string{strings.Join(parts, "  ")}
	if len(second) > 0 {
		lines = append(lines, strings.Join(second, "  "))
	}
	return lines
}

func host(h Host) string {
	var parts []string
	if h.OS != "" || h.Arch != "" {
		parts = append(parts, oneLine(h.OS+"/"+h.Arch, 40))
	}
	if h.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("%d CPUs", h.CPUs))
	}
	if h.MemTotal > 0 {
		parts = append(parts, HumanBytes(uint64(h.MemTotal))+" RAM")
	}
	if d := h.Docker; d != nil {
		parts = append(parts, oneLine(fmt.Sprintf("Docker %s (API %s)", d.ServerVersion, d.APIVersion), 60))
	}
	return strings.Join(parts, "  ")
}

func gpuDevice(g GPUDevice) string {
	out := oneLine(g.Name, 60)
	var notes []string
	if g.VRAMTotalBytes > 0 {
		notes = append(notes, HumanBytes(g.VRAMTotalBytes))
	}
	if g.Driver != "" {
		notes = append(notes, "driver "+oneLine(g.Driver, 20))
	}
	if g.CUDA != "" {
		notes = append(notes, "CUDA "+oneLine(g.CUDA, 20))
	}
	if g.PowerLimitW > 0 {
		notes = append(notes, fmt.Sprintf("%.0f W limit", g.PowerLimitW))
	}
	if len(notes) > 0 {
		out += " (" + strings.Join(notes, ", ") + ")"
	}
	return out
}

func (s summary) cold() {
	c := s.r.ColdStart
	if c == nil {
		if reason := s.r.Missing["cold_start"]; reason != "" {
			s.printf("\nCold start: none (%s)\n", oneLine(reason, 100))
		}
		return
	}
	// The slowest phase that adds up to the total is what to look at first.
	slowest, most := "", 0.0
	for _, p := range c.Phases.List() {
		if p.Seconds != nil && p.Additive && *p.Seconds > most {
			slowest, most = p.Name, *p.Seconds
		}
	}
	total := humanPtr(c.TotalS)
	if c.TotalS == nil {
		if why := s.r.Missing["cold_start.total_s"]; why != "" {
			total += " (" + oneLine(why, 80) + ")"
		}
	}
	s.printf("\nCold start  total %s\n", total)
	tw := s.table()
	fmt.Fprintf(tw, "  phase\tduration\t\n")
	for _, p := range c.Phases.List() {
		note := ""
		if p.Seconds == nil {
			reason := s.r.Missing["cold_start.phases."+p.Name]
			if reason == "" {
				continue // never reached, or not measured in this kind of run
			}
			note = oneLine(reason, 80)
		} else if !p.Additive {
			note = "(within first prompt)"
		} else if p.Name == slowest && most > 0 {
			note = "◀ slowest"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Label, humanPtr(p.Seconds), note)
	}
	tw.Flush()

	if len(c.Timeline) > 0 {
		s.timeline(c)
	}
	if len(c.Runs) > 1 {
		s.coldRuns(c)
	}
}

// timelineWidth is the width of a timeline bar, in characters.
const timelineWidth = 30

// summaryBarWidth is the width of the summary's timeline bars: narrower, to fit 80 columns.
const summaryBarWidth = 20

func (s summary) timeline(c *ColdStart) {
	end := deref(c.TotalS)
	for _, e := range c.Timeline {
		end = math.Max(end, e.EndS)
	}
	s.printf("  timeline\n")
	tw := s.table()
	for _, e := range c.Timeline {
		name := oneLine(e.Name, 20)
		if e.Parent != "" {
			name = "  " + oneLine(e.Name, 18) // lies inside its parent
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t→ %s\t%s\n", name, oneLine(string(e.Source), 10),
			HumanSeconds(e.StartS), HumanSeconds(e.EndS), barOf(e.StartS, e.EndS, end, summaryBarWidth))
	}
	tw.Flush()
}

// bar draws [start, end] on a line that spans [0, total].
func bar(start, end, total float64) string { return barOf(start, end, total, timelineWidth) }

// barOf draws [start, end] on a line of width characters that spans [0, total].
func barOf(start, end, total float64, width int) string {
	if !(total > 0) || math.IsInf(total, 0) || math.IsNaN(start) || math.IsNaN(end) {
		return ""
	}
	pos := func(x float64) int {
		p := int(math.Round(x / total * float64(width)))
		return min(max(p, 0), width)
	}
	a, z := pos(start), pos(end)
	if z <= a {
		if a == width {
			a--
		}
		z = a + 1
	}
	return "|" + strings.Repeat(" ", a) + strings.Repeat("=", z-a) + strings.Repeat(" ", width-z) + "|"
}

func (s summary) coldRuns(c *ColdStart) {
	failed := 0
	for _, r := range c.Runs {
		if r.Error != "" {
			failed++
		}
	}
	s.printf("  %d cold starts", len(c.Runs))
	if failed > 0 {
		s.printf(", %d failed", failed)
	}
	s.printf("\n")
	tw := s.table()
	fmt.Fprintf(tw, "    phase\tmedian\tmin\tmax\tn\n")
	names := []struct{ key, label string }{}
	for _, p := range (Phases{}).List() {
		names = append(names, struct{ key, label string }{p.Name, p.Label})
	}
	names = append(names, struct{ key, label string }{"total_s", "total"})
	for _, n := range names {
		st, ok := c.Summary[n.key]
		if !ok || st.N == 0 {
			continue
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%d\n", n.label, HumanSeconds(st.MedianS), HumanSeconds(st.MinS), HumanSeconds(st.MaxS), st.N)
	}
	tw.Flush()
}

func (s summary) warm() {
	w := s.r.Warm
	if w == nil {
		if reason := s.r.Missing["warm"]; reason != "" {
			s.printf("\nWarm runs: none (%s)\n", oneLine(reason, 100))
		}
		return
	}
	valid := len(w.Runs) - w.Invalid
	cached := 0
	for _, r := range w.Runs {
		if !r.Valid && strings.Contains(r.Invalid, "cache") {
			cached++
		}
	}
	s.printf("\nWarm runs  %d valid", valid)
	if len(w.Runs) != valid {
		s.printf(" of %d", len(w.Runs))
	}
	s.printf(" (%d invalid, %d cached, %d lagged)", w.Invalid, cached, w.LagFlagged)
	if len(w.Warmups) > 0 {
		s.printf(", after %d warmup", len(w.Warmups))
	}
	s.printf("\n")

	tw := s.table()
	fmt.Fprintf(tw, "  metric\tmedian\tp90\t95%% CI of median\tn\n")
	var ciWarnings []string
	row := func(label string, st Stat, f func(float64) string) {
		if st.N == 0 {
			fmt.Fprintf(tw, "  %s\t—\t\t\t0\n", label)
			return
		}
		ci := "—"
		if st.CI95LowS != nil && st.CI95HighS != nil {
			ci = f(*st.CI95LowS) + " … " + f(*st.CI95HighS)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\n", label, f(st.MedianS), f(st.P90S), ci, st.N)
		for _, wn := range st.Warnings {
			if !slices.Contains(ciWarnings, wn) {
				ciWarnings = append(ciWarnings, wn)
			}
		}
	}
	e2e, ok := w.Summaries[MetricE2E]
	if !ok {
		e2e = w.Summary
	}
	// The metric chosen with --metric leads; the others follow.
	metrics := []struct{ key, label string }{{MetricE2E, "e2e"}, {MetricServer, "server"}, {MetricImage, "image"}, {MetricLag, "lag"}, {MetricQueue, "queue"}}
	if w.Metric == HeadlineServer {
		metrics[0], metrics[1] = metrics[1], metrics[0]
	}
	for i, m := range metrics {
		st, ok := w.Summaries[m.key]
		if m.key == MetricE2E {
			st, ok = e2e, true
		}
		if !ok {
			continue
		}
		label := m.label
		if i == 0 && w.Metric != "" {
			label += " *"
		}
		row(label, st, HumanSeconds)
	}
	if w.StepsPerSecond != nil {
		row("steps/s", *w.StepsPerSecond, func(v float64) string { return fmt.Sprintf("%.2f", v) })
	}
	tw.Flush()
	if w.Metric != "" {
		s.printf("  * the headline metric (--metric %s)\n", w.Metric)
	}
	for _, wn := range ciWarnings {
		if need, ok := strings.CutPrefix(wn, "need >= "); ok { // benchmath's words, with the cure added
			n, _, _ := strings.Cut(need, " ")
			wn = "fewer than " + n + " valid runs, no 95% CI of the median: use --runs 10 or more"
		}
		s.printf("  note: %s\n", oneLine(wn, 120))
	}
	s.runTable(w)
	for _, r := range w.Runs {
		switch {
		case !r.Valid:
			why := r.Invalid
			if why == "" {
				why = r.Error
			}
			if why == "" {
				why = "no reason given"
			}
			s.printf("  run %d invalid: %s\n", r.Index+1, oneLine(why, 120))
		case r.LagFlagged:
			s.printf("  run %d: delivery lag %s (e2e %s, server %s)\n", r.Index+1, humanPtr(r.LagS), humanPtr(r.E2ES), humanPtr(r.ServerS))
		}
		if r.Recovered {
			s.printf("  run %d: result recovered from /history after the WebSocket was lost\n", r.Index+1)
		}
		if r.Contention != "" && r.Valid {
			s.printf("  run %d: %s (counted: --allow-contention)\n", r.Index+1, r.Contention)
		}
		if r.FinalState != "" {
			s.printf("  run %d: %s on the server: %s\n", r.Index+1, r.Status, finalStateText(r.FinalState))
		}
	}
}

// finalStateText says where a prompt given up on was left on the server.
func finalStateText(st string) string {
	switch st {
	case "running", "pending":
		return "still " + st + " when qwenlab exited"
	case "removed":
		return "taken off the queue before it ran"
	case "unknown":
		return "its end is unknown (the server did not answer)"
	}
	return "it ended " + st + " after qwenlab gave up on it"
}

// runTable lists each measured run (up to MaxRunTable, all with Verbose) with its clocks,
// and the means: what a person comparing two servers reads first.
func (s summary) runTable(w *Warm) {
	if len(w.Runs) == 0 {
		return
	}
	if len(w.Runs) > MaxRunTable && !s.o.Verbose {
		s.printf("  (%d runs: --verbose lists each, the report has them all)\n", len(w.Runs))
		return
	}
	tw := s.table()
	fmt.Fprintf(tw, "\n  run\tseed\te2e\tserver\tlag\t\n")
	for _, r := range w.Runs {
		mark := ""
		switch {
		case r.Contention != "":
			mark = "contended"
		case !r.Valid:
			mark = "invalid"
		case r.LagFlagged:
			mark = "lag flagged"
		case r.Recovered:
			mark = "recovered"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", r.Index+1, cmp.Or(r.Seed, "—"), humanPtr(r.E2ES), humanPtr(r.ServerS), humanPtr(r.LagS), mark)
	}
	e2e, srv := w.Summaries[MetricE2E], w.Summaries[MetricServer]
	if e2e.N > 0 {
		line := "  mean\t\t" + HumanSeconds(e2e.MeanS) + "\t"
		if srv.N > 0 {
			line += HumanSeconds(srv.MeanS)
		}
		fmt.Fprintf(tw, "%s\t\t\n", line)
	}
	tw.Flush()
}

func (s summary) gpu() {
	g := s.r.GPU
	s.printf("\n")
	if !g.Available {
		reason := oneLine(g.Reason, 120)
		if reason == "" {
			reason = "no reason given"
		}
		s.printf("GPU: unavailable: %s\n", reason)
	} else {
		var parts []string
		if g.VRAMPeakBytes != nil {
			p := "VRAM peak " + HumanBytes(*g.VRAMPeakBytes)
			if g.PeakSource != "" {
				p += " (" + oneLine(g.PeakSource, 20) + ")"
			}
			parts = append(parts, p)
		} else {
			parts = append(parts, "VRAM peak —")
		}
		if g.UtilMeanPct != nil {
			parts = append(parts, fmt.Sprintf("mean util %.0f %%", *g.UtilMeanPct))
		}
		if g.PowerMeanW != nil {
			parts = append(parts, fmt.Sprintf("power %.0f W", *g.PowerMeanW))
		}
		s.printf("GPU: %s; %d samples\n", strings.Join(parts, ", "), g.Samples)
		if g.Reason != "" {
			s.printf("  note: %s\n", oneLine(g.Reason, 120))
		}
	}
	if c := s.r.Container; c != nil {
		limit := "no limit"
		if c.MemLimitBytes > 0 {
			limit = "limit " + HumanBytes(uint64(c.MemLimitBytes))
		}
		peak := "—"
		if c.MemPeakBytes > 0 {
			peak = HumanBytes(uint64(c.MemPeakBytes))
		}
		s.printf("Container: CPU mean %.0f %%, max %.0f %%  memory peak %s (%s)\n", c.CPUPercentMean, c.CPUPercentMax, peak, limit)
	}
	t := s.r.Teardown
	switch {
	case t.Removed:
		if t.StopS == nil && t.RemoveS == nil {
			s.printf("Teardown: nothing to remove (no container was created)\n")
		} else {
			s.printf("Teardown: removed (stop %s, remove %s)\n", humanPtr(t.StopS), humanPtr(t.RemoveS))
		}
	case len(t.Leftovers) > 0:
		s.printf("Teardown: NOT removed, left behind: %s (run qwenlab cleanup)\n", oneLine(strings.Join(t.Leftovers, ", "), 200))
	case s.r.Target.Kind == TargetDocker:
		s.printf("Teardown: not removed\n")
	}
}

func (s summary) slow() {
	steps := s.r.Logs.SlowSteps
	if len(steps) == 0 {
		return
	}
	s.printf("\nSlow steps\n")
	tw := s.table()
	fmt.Fprintf(tw, "  phase\tkind\ttook\tbudget\n")
	for _, st := range steps {
		var ctx string
		before, after := fmt.Sprintf("%q", oneLine(st.Before, 60)), fmt.Sprintf("%q", oneLine(st.After, 60))
		switch {
		case st.Before != "" && st.After != "":
			ctx = "between " + before + " and " + after
		case st.Before != "":
			ctx = "after " + before
		case st.After != "":
			ctx = "until " + after
		}
		budget := "—"
		if st.Kind == SlowBudget {
			budget = HumanSeconds(st.BudgetS)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", oneLine(st.Phase, 30), oneLine(string(st.Kind), 10),
			HumanSeconds(st.DurationS), budget)
		if ctx != "" {
			tw.Flush() // the log context goes on a line of its own, under its row
			fmt.Fprintf(s.b, "    %s\n", ctx)
		}
	}
	tw.Flush()
}

func (s summary) warnings() {
	if len(s.r.Warnings) == 0 {
		return
	}
	s.printf("\nWarnings\n")
	for _, w := range s.r.Warnings {
		s.printf("  - %s\n", oneLine(w, 200))
	}
}

func (s summary) errorLine() {
	e := s.r.Error
	if e == nil {
		return
	}
	phase := oneLine(e.Phase, 30)
	if phase == "" {
		phase = "unknown phase"
	}
	s.printf("\nError (%s): %s\n", phase, oneLine(e.Message, 300))
	if e.CutShort() {
		s.printf("The report is partial: measurements after the failure are missing.\n")
	} else {
		s.printf("Every measurement was taken; only the teardown failed.\n")
	}
}
