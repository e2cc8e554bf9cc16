package report

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
)

// RenderMarkdown writes r as GitHub-flavoured Markdown for a pull request or an issue:
// tables for the cold-start phases, the warm statistics, each run, the per-node time of a
// typical run, the GPU and the environment, and the cold-start timeline as a fenced text
// chart. Text taken from r is escaped, so a prompt or a log line cannot add markup.
func RenderMarkdown(w io.Writer, r *Report) error {
	if r == nil {
		return fmt.Errorf("render markdown: no report")
	}
	var b bytes.Buffer
	if secs := SectionReports(r); len(secs) >= 2 {
		// A matrix: the images side by side (compare's Markdown), then each one.
		if err := renderMatrixMarkdown(&b, r, secs); err != nil {
			return err
		}
		if err := baselineMarkdown(&b, r); err != nil {
			return err
		}
		_, err := w.Write(b.Bytes())
		return err
	}
	p := buildPage(r)
	m := md{b: &b}
	m.printf("## qwenlab: %s\n\n", mdText(p.Title))
	if p.Subtitle != "" {
		m.printf("%s\n\n", mdText(p.Subtitle))
	}
	if e := r.Error; e != nil {
		verdict := "The report is partial."
		if !e.CutShort() {
			verdict = "Every measurement was taken; only the teardown failed."
		}
		m.printf("> **The run failed during %s:** %s  \n> %s\n\n", mdText(e.Phase), mdText(e.Message), verdict)
	}
	if len(p.Cards) > 0 {
		row := make([]string, 0, len(p.Cards))
		head := make([]string, 0, len(p.Cards))
		for _, c := range p.Cards {
			head = append(head, c.Label)
			v := "**" + c.Value + "**"
			if c.Note != "" {
				v += "<br>" + mdText(c.Note)
			}
			row = append(row, v)
		}
		m.table(head, nil, [][]string{row})
	}

	m.printf("### Cold start\n\n")
	if c := r.ColdStart; c != nil {
		rows := [][]string{}
		for _, ph := range p.Phases {
			note := mdText(ph.Note)
			if ph.Slow {
				note = strings.TrimSpace(note + " **slow**")
			}
			rows = append(rows, []string{mdText(ph.Label), ph.Value, note})
		}
		m.table([]string{"phase", "duration", "note"}, []bool{false, true, false}, rows)
		m.timeline(c)
		if len(c.Runs) > 1 {
			rows := [][]string{}
			for _, ph := range (Phases{}).List() {
				if st, ok := c.Summary[ph.Name]; ok && st.N > 0 {
					rows = append(rows, []string{ph.Label, HumanSeconds(st.MedianS), HumanSeconds(st.MinS), HumanSeconds(st.MaxS), fmt.Sprint(st.N)})
				}
			}
			if st, ok := c.Summary["total_s"]; ok && st.N > 0 {
				rows = append(rows, []string{"**total**", HumanSeconds(st.MedianS), HumanSeconds(st.MinS), HumanSeconds(st.MaxS), fmt.Sprint(st.N)})
			}
			m.printf("%d cold starts:\n\n", len(c.Runs))
			m.table([]string{"phase", "median", "min", "max", "n"}, []bool{false, true, true, true, true}, rows)
		}
	} else {
		m.printf("%s\n\n", mdText(p.ColdNote))
	}

	m.printf("### Warm runs\n\n")
	if v := p.Warm; v != nil {
		rows := [][]string{}
		for _, s := range v.Stats {
			rows = append(rows, []string{s.Metric, s.Median, s.CI, s.P90, s.P95, s.Stddev, s.N})
		}
		m.table([]string{"metric", "median", "95 % CI of the median", "p90", "p95", "stddev", "n"}, []bool{false, true, false, true, true, true, true}, rows)
		if len(v.Runs) > 0 {
			rows := [][]string{}
			for _, r := range v.Runs {
				flag := ""
				if r.Flag != "" {
					flag = "**" + r.Flag + "**"
				}
				rows = append(rows, []string{fmt.Sprint(r.Index), mdText(r.Seed), r.E2E, r.Server, r.Lag, r.StepsS, strings.TrimSpace(mdText(r.Status) + " " + flag)})
			}
			m.printf("<details><summary>Each run</summary>\n\n")
			m.table([]string{"run", "seed", "e2e", "server", "lag", "steps/s", "status"}, []bool{true, false, true, true, true, true, false}, rows)
			m.printf("</details>\n\n")
		}
	} else {
		m.printf("%s\n\n", mdText(p.WarmNote))
	}

	if n := p.Nodes; n != nil {
		m.printf("### Per-node time of a typical run\n\n%s\n\n", mdText(n.RunNote))
		rows := [][]string{}
		for _, row := range n.Rows {
			rows = append(rows, []string{mdText(row.ID), mdText(row.Class), row.Warm, row.Cold})
		}
		m.table([]string{"node", "class", "warm", "first prompt"}, []bool{false, false, true, true}, rows)
	}

	m.printf("### GPU\n\n")
	if p.GPUNote != "" {
		m.printf("%s\n\n", mdText(p.GPUNote))
	}
	if len(p.GPUStats) > 0 {
		m.kvTable([]string{"phase", "GPU"}, p.GPUStats)
	}

	if len(p.Slow) > 0 {
		m.printf("### Slow steps\n\n")
		rows := [][]string{}
		for _, s := range p.Slow {
			rows = append(rows, []string{mdText(s.Phase), mdText(s.Kind), s.Took, s.Budget, mdText(s.Context)})
		}
		m.table([]string{"phase", "kind", "took", "budget", "log"}, []bool{false, false, true, true, false}, rows)
	}
	if len(p.Warnings) > 0 {
		m.printf("### Warnings\n\n")
		for _, wn := range p.Warnings {
			m.printf("- %s\n", mdText(wn))
		}
		m.printf("\n")
	}
	m.printf("### Environment\n\n")
	m.kvTable([]string{"", ""}, append(append(append([]kv(nil), p.Env...), prefixed("param ", p.Params)...), prefixed("flag ", p.Config)...))
	if err := baselineMarkdown(&b, r); err != nil {
		return err
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("render markdown: %w", err)
	}
	return nil
}

func renderMatrixMarkdown(b *bytes.Buffer, r *Report, secs []NamedReport) error {
	var names []string
	for _, s := range secs {
		names = append(names, s.Name)
	}
	fmt.Fprintf(b, "# qwenlab: %s on %s\n\n", mdText(r.Scenario.Name), mdText(strings.Join(names, " vs ")))
	res := r.Comparison
	if res == nil {
		res, _ = CompareReports(secs, CompareOptions{Force: true})
	}
	if res != nil {
		if err := RenderCompare(b, res, FormatMarkdown); err != nil {
			return err
		}
		b.WriteString("\n")
	}
	for _, s := range secs {
		if err := RenderMarkdown(b, s.Report); err != nil {
			return err
		}
		b.WriteString("\n")
	}
	return nil
}

func prefixed(prefix string, kvs []kv) []kv {
	out := make([]kv, len(kvs))
	for i, x := range kvs {
		out[i] = kv{prefix + x.Key, x.Value}
	}
	return out
}

type md struct{ b *bytes.Buffer }

func (m md) printf(format string, a ...any) { fmt.Fprintf(m.b, format, a...) }

// table writes a GitHub table; right marks the columns aligned right. Cells are expected
// to be escaped already (mdText) or to be markup qwenlab made.
func (m md) table(head []string, right []bool, rows [][]string) {
	if len(rows) == 0 {
		return
	}
	m.printf("|")
	for _, h := range head {
		m.printf(" %s |", mdText(h))
	}
	m.printf("\n|")
	for i := range head {
		if i < len(right) && right[i] {
			m.printf("---:|")
		} else {
			m.printf("---|")
		}
	}
	m.printf("\n")
	for _, r := range rows {
		m.printf("|")
		for i := range head {
			cell := ""
			if i < len(r) {
				cell = r[i]
			}
			m.printf(" %s |", cell)
		}
		m.printf("\n")
	}
	m.printf("\n")
}

func (m md) kvTable(head []string, kvs []kv) {
	rows := make([][]string, 0, len(kvs))
	for _, x := range kvs {
		rows = append(rows, []string{mdText(x.Key), mdText(x.Value)})
	}
	m.table(head, nil, rows)
}

// timeline draws each cold start's spans as a fenced text chart.
func (m md) timeline(c *ColdStart) {
	runs := coldRunsOf(c)
	end := deref(c.TotalS)
	for _, cr := range runs {
		end = math.Max(end, deref(cr.TotalS))
		for _, e := range cr.Timeline {
			end = math.Max(end, e.EndS)
		}
	}
	var t strings.Builder
	for i, cr := range runs {
		if len(cr.Timeline) == 0 {
			continue
		}
		if len(runs) > 1 {
			fmt.Fprintf(&t, "cold start %d  %s", i+1, humanPtr(cr.TotalS))
			if cr.Error != "" {
				t.WriteString("  failed: " + oneLine(cr.Error, 80))
			}
			t.WriteString("\n")
		}
		for _, e := range cr.Timeline {
			name := oneLine(e.Name, 30)
			if e.Parent != "" {
				name = "  " + name
			}
			fmt.Fprintf(&t, "%-32s %-6s %9s %s\n", name, oneLine(string(e.Source), 6), HumanSeconds(e.EndS-e.StartS), bar(e.StartS, e.EndS, end))
		}
	}
	if t.Len() == 0 {
		return
	}
	fmt.Fprintf(&t, "%-32s %-6s %9s 0%s%s\n", "", "", "", strings.Repeat(" ", timelineWidth), HumanSeconds(end))
	fence := strings.Repeat("`", max(3, longestRun(t.String(), '`')+1))
	m.printf("%stext\n%s%s\n\n", fence, t.String(), fence)
}

func longestRun(s string, c rune) int {
	best, n := 0, 0
	for _, r := range s {
		if r == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// mdText makes s one line of Markdown text that renders as written: every character that
// Markdown or HTML could read as markup (and one that could open a block at the start) is
// backslash-escaped.
func mdText(s string) string {
	s = oneLine(s, 300)
	var b strings.Builder
	for i, r := range s {
		if strings.ContainsRune("\\`*_{}[]<>|&~", r) || (i == 0 && strings.ContainsRune("#+-!=>", r)) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// baselineMarkdown appends a nightly's comparison with its --baseline and the gate's
// verdicts, when the report kept one.
func baselineMarkdown(b *bytes.Buffer, r *Report) error {
	if r.Baseline == nil {
		return nil
	}
	b.WriteString("\n### Against the baseline\n\n")
	return RenderCompare(b, r.Baseline, FormatMarkdown)
}
