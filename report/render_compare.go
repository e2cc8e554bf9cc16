package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Compare output formats.
const (
	FormatText     = "text"
	FormatMarkdown = "md"
	FormatJSON     = "json"
)

// CompareFormats lists the formats [RenderCompare] writes.
func CompareFormats() []string { return []string{FormatText, FormatMarkdown, FormatJSON} }

// RenderCompare writes res as aligned text (at most 80 columns), a Markdown document (for
// pull-request comments) or indented JSON.
func RenderCompare(w io.Writer, res *CompareResult, format string) error {
	var b bytes.Buffer
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("render comparison: %w", err)
		}
	case FormatMarkdown:
		renderCompareMD(&b, res)
	case FormatText, "":
		renderCompareText(&b, res)
	default:
		return fmt.Errorf("render comparison: unknown format %q (want %s)", format, strings.Join(CompareFormats(), ", "))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// formatStat shows a median with its interval as the largest relative distance from the
// median ("1.23 s ±4%", as benchstat), "±∞" when there are too few samples for one, and "—"
// for an unmeasured side.
func formatStat(u Unit, s Stat) string {
	if s.N == 0 {
		return "—"
	}
	v := u.Format(s.MedianS)
	if s.CI95LowS == nil || s.CI95HighS == nil {
		return v + " ±∞"
	}
	if s.MedianS == 0 {
		return v + " ±0%"
	}
	d := math.Max(s.MedianS-*s.CI95LowS, *s.CI95HighS-s.MedianS) / math.Abs(s.MedianS) * 100
	return fmt.Sprintf("%s ±%.0f%%", v, d)
}

func formatP(m MetricResult) string {
	if m.Base.N == 0 || m.Head.N == 0 {
		return ""
	}
	return fmt.Sprintf("p=%.3f n=%s+%s", m.P, count(m.Base.N), count(m.Head.N))
}

// count shows a sample size in at most four characters ("8", "120", "1.2k", "15k").
func count(n int) string {
	switch {
	case n < 1000:
		return fmt.Sprint(n)
	case n < 9950:
		return fmt.Sprintf("%.1fk", float64(n)/1000)
	}
	return fmt.Sprintf("%.0fk", float64(n)/1000)
}

// changeWord says whether a significant change is better or worse.
func changeWord(m MetricResult) string {
	if !m.Significant || m.ChangePct == nil || *m.ChangePct == 0 {
		return ""
	}
	if (*m.ChangePct < 0) != m.HigherIsBetter {
		return "better"
	}
	return "worse"
}

func fmtPct(p *float64) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("%+.1f%%", *p)
}

// textCell cuts s to n runes for a column.
func textCell(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return oneLine(s, n-1)
}

func renderCompareText(b *bytes.Buffer, res *CompareResult) {
	for i, p := range res.Pairs {
		if i > 0 {
			b.WriteString("\n")
		}
		if head := fmt.Sprintf("compare: %s (base) → %s", p.Base, p.Head); utf8.RuneCountInString(head) <= 80 {
			b.WriteString(head + "\n")
		} else {
			fmt.Fprintf(b, "compare:\n  base: %s\n  new:  %s\n", oneLine(p.Base, 72), oneLine(p.Head, 72))
		}
		if len(p.Differences) == 0 {
			b.WriteString("\nwhat differs: nothing recorded (same image, versions, host and flags)\n")
		} else {
			b.WriteString("\nwhat differs:\n")
			for _, d := range p.Differences {
				x, y := displayDiff(d)
				line := fmt.Sprintf("  %-16s %s → %s", d.Field, x, y)
				if len([]rune(line)) <= 80 {
					b.WriteString(line + "\n")
					continue
				}
				fmt.Fprintf(b, "  %s\n    base: %s\n    new:  %s\n", d.Field, oneLine(x, 68), oneLine(y, 68))
			}
		}
		var notes []string
		noteMark := func(m MetricResult) string {
			if len(m.Notes) == 0 {
				return ""
			}
			key := strings.Join(m.Notes, "; ")
			for j, n := range notes {
				if n == key {
					return fmt.Sprintf(" (%d)", j+1)
				}
			}
			notes = append(notes, key)
			return fmt.Sprintf(" (%d)", len(notes))
		}
		fmt.Fprintf(b, "\n%-17s %-15s %-15s %8s  %s\n", "metric", "base", "new", "change", "test")
		for _, m := range p.Metrics {
			delta := m.Delta
			if m.Significant {
				delta = fmtPct(m.ChangePct)
			}
			fmt.Fprintf(b, "%-17s %-15s %-15s %8s  %s%s\n", textCell(m.Label, 17), textCell(formatStat(m.Unit, m.Base), 15),
				textCell(formatStat(m.Unit, m.Head), 15), delta, formatP(m), noteMark(m))
		}
		for j, n := range notes {
			fmt.Fprintf(b, "%s\n", oneLine(fmt.Sprintf("(%d) %s", j+1, n), 79))
		}
		fmt.Fprintf(b, "~: not significant (Mann-Whitney U, alpha %g); ±: 95%% interval of the median\n", res.Alpha)
		if len(p.Checks) > 0 {
			b.WriteString("\nthresholds:\n")
			for _, c := range p.Checks {
				for _, l := range wrapLine(checkLine(c), SummaryWidth) {
					b.WriteString(l + "\n")
				}
			}
		}
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(b, "warning: %s\n", w)
	}
	if res.Failed {
		b.WriteString("\nFAILED: " + failedWhy(res) + "\n")
	}
}

// checkLine is one threshold's verdict: "  FAIL  cold_start.total<+10%  +50.0%, untested: …",
// the outcome first so that a wrapped line still leads with it.
func checkLine(c ThresholdCheck) string {
	verdict := "ok"
	if c.Fails() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("  %-4s  %s  %s", verdict, oneLine(c.Threshold.Text, 60), c.Verdict())
}

// displayDiff shortens digests and IDs for text.
func displayDiff(d Difference) (string, string) {
	f := func(s string) string {
		if s == "" {
			return "(none)"
		}
		if strings.HasPrefix(s, "sha256:") || len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "" {
			return short(s)
		}
		return s
	}
	return f(d.Base), f(d.Head)
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}

func renderCompareMD(b *bytes.Buffer, res *CompareResult) {
	for i, p := range res.Pairs {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(b, "### `%s` → `%s`\n\n", mdEscape(p.Base), mdEscape(p.Head))
		if len(p.Differences) == 0 {
			b.WriteString("Nothing differs between the runs but the measurements.\n\n")
		} else {
			b.WriteString("| what differs | base | new |\n|---|---|---|\n")
			for _, d := range p.Differences {
				fmt.Fprintf(b, "| %s | `%s` | `%s` |\n", mdEscape(d.Field), mdEscape(d.Base), mdEscape(d.Head))
			}
			b.WriteString("\n")
		}
		b.WriteString("| metric | base | new | change | p | |\n|---|---:|---:|---:|---|---|\n")
		for _, m := range p.Metrics {
			delta := m.Delta
			if m.Significant {
				delta = "**" + fmtPct(m.ChangePct) + "** " + changeWord(m)
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", mdEscape(m.Label), formatStat(m.Unit, m.Base), formatStat(m.Unit, m.Head),
				delta, formatP(m), mdEscape(strings.Join(m.Notes, "; ")))
		}
		fmt.Fprintf(b, "\n`~`: not significant at α = %g (Mann-Whitney U); `±`: the 95 %% interval of the median.\n", res.Alpha)
		if len(p.Checks) > 0 {
			b.WriteString("\n| threshold | change | verdict |\n|---|---:|---|\n")
			for _, c := range p.Checks {
				verdict := "ok: " + c.why()
				if c.Fails() {
					verdict = "**FAIL**: " + c.why()
				}
				fmt.Fprintf(b, "| `%s` | %s | %s |\n", mdEscape(c.Threshold.Text), fmtPct(c.ChangePct), mdEscape(verdict))
			}
		}
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(b, "\n> warning: %s\n", mdEscape(w))
	}
	if res.Failed {
		b.WriteString("\n**FAILED**: " + mdEscape(failedWhy(res)) + ".\n")
	}
}

// failedWhy sums up why the gate failed: the outcomes that did not pass, in a few words.
func failedWhy(res *CompareResult) string {
	var why []string
	for _, r := range []struct{ result, words string }{
		{CheckFail, "a significant change went past a threshold"},
		{CheckUntested, "a change went past a threshold with too few samples to test it"},
		{CheckNotMeasured, "a threshold's metric was not measured (a gate that cannot judge does not pass)"},
	} {
		if slices.ContainsFunc(res.Checks, func(c ThresholdCheck) bool { return c.Result == r.result }) {
			why = append(why, r.words)
		}
	}
	return strings.Join(why, "; ")
}
