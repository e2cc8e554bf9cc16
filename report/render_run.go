package report

import (
	"cmp"
	"fmt"
	"io"
	"strings"
)

// RenderRun writes the whole summary of a run as up-and-bench prints it and `qwenlab report`
// shows a stored one: a single run's summary, or a matrix's (or fleet's) sections one by one
// under "=== LABEL ===" and then their comparison with the first; the determinism verdicts,
// the comparison with a --baseline and its gate, and last where the report went.
func RenderRun(w io.Writer, r *Report, o SummaryOptions) error {
	if r == nil {
		return RenderSummaryWith(w, r, o)
	}
	path := o.ReportPath
	o.ReportPath = "" // said last, after everything else
	ew := &errWriter{w: w}
	if len(r.Sections) == 0 {
		if err := RenderSummaryWith(ew, r, o); err != nil {
			return err
		}
	} else {
		for _, s := range r.Sections {
			fmt.Fprintf(ew, "=== %s ===\n", s.Label)
			if err := RenderSummaryWith(ew, s.Report, o); err != nil {
				return err
			}
			fmt.Fprintln(ew)
		}
		if r.Comparison != nil {
			fmt.Fprintf(ew, "=== comparison with the first %s ===\n", cmp.Or(r.Sections[0].Kind, SectionImage))
			if err := RenderCompare(ew, r.Comparison, FormatText); err != nil {
				return err
			}
		}
		for _, warn := range r.Warnings {
			if strings.HasPrefix(warn, "no comparison") {
				fmt.Fprintf(ew, "warning: %s\n", warn)
			}
		}
	}
	for _, s := range append([]Section{{Label: "", Report: r}}, r.Sections...) {
		if d := s.Report.Determinism; d != nil && (s.Label != "" || len(r.Sections) == 0) {
			fmt.Fprintf(ew, "Determinism%s: %s\n", strings.TrimSuffix(" ("+s.Label+")", " ()"), d.Note)
		}
	}
	if r.Baseline != nil {
		fmt.Fprintln(ew, "\n=== comparison with the baseline ===")
		if err := RenderCompare(ew, r.Baseline, FormatText); err != nil {
			return err
		}
	}
	if path != "" {
		fmt.Fprintf(ew, "\nReport: %s\n", path)
	}
	if ew.err != nil {
		return fmt.Errorf("render summary: %w", ew.err)
	}
	return nil
}

// errWriter keeps the first write error, so that a run of Fprintf calls is checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
