package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/qwenlab/qwenlab/report"
)

// reportCmd renders a report (or, for a directory, the trend of the reports in it) as text,
// Markdown or one self-contained HTML page.
func reportCmd(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report", "REPORT.json|DIR/ [--format text|md|html] [-o FILE]")
	format := fs.String("format", "text", "output format: text | md | html")
	out := fs.StringP("out", "o", "", "write to FILE (atomically) instead of stdout")
	var thresholds []string
	fs.StringArrayVar(&thresholds, "threshold", nil, "trend only: mark a regression when METRIC grows past PCT over the previous report, e.g. 'cold_start.total<+10%' or 'warm.e2e.median<+5%'; repeatable")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usagef("report: %v (see 'qwenlab report --help')", err)
	}
	if fs.NArg() != 1 {
		return usagef("report: want one REPORT.json or DIR/, got %d arguments (see 'qwenlab report --help')", fs.NArg())
	}
	if err := oneOf("format", *format, "text", "md", "html"); err != nil {
		return err
	}
	path := fs.Arg(0)
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return usagef("report: %s does not exist; give a report written by up-and-bench (-o FILE) or a folder of them", path)
		}
		return fmt.Errorf("report: %w", err)
	}
	var b bytes.Buffer
	if st.IsDir() {
		if err := renderTrend(&b, path, *format, thresholds, e); err != nil {
			return err
		}
	} else {
		if len(thresholds) > 0 {
			return usagef("report: --threshold applies to a folder of reports (the trend), not to one report")
		}
		r, err := report.Read(path)
		if err != nil {
			return err
		}
		switch *format {
		case "html":
			err = report.RenderHTML(&b, r)
		case "md":
			err = report.RenderMarkdown(&b, r)
		default:
			err = report.RenderRun(&b, r, report.SummaryOptions{})
		}
		if err != nil {
			return err
		}
	}
	if *out == "" {
		_, err := e.stdout.Write(b.Bytes())
		return err
	}
	if err := report.WriteFile(*out, b.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "qwenlab: %s written to %s\n", *format, *out)
	return nil
}

// renderTrend renders the trend of the reports in dir.
func renderTrend(w io.Writer, dir, format string, exprs []string, e *env) error {
	var ths []report.Threshold
	for _, x := range exprs {
		th, err := report.ParseThreshold(x)
		if err != nil {
			return usagef("--threshold: %v", err)
		}
		ths = append(ths, th)
	}
	reps, skipped, err := report.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Fprintf(e.stderr, "qwenlab: report %s: passed over %s\n", dir, s)
	}
	if len(reps) == 0 {
		return fmt.Errorf("report %s: no qwenlab reports (*.json) in the folder", dir)
	}
	t := report.BuildTrend(reps, ths)
	t.Skipped = skipped
	switch format {
	case "html":
		return report.RenderTrendHTML(w, t)
	case "md":
		return report.RenderTrendMarkdown(w, t)
	}
	return report.RenderTrendText(w, t)
}
