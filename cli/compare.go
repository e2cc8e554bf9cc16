package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/qwenlab/qwenlab/report"
)

const compareArgs = "BASE.json NEW.json [MORE.json…] | DIR/ [flags]"

// compareFlags are compare's flags; up-and-bench shares --threshold, --alpha and --force
// for its --baseline gate.
type compareFlags struct {
	alpha      float64
	force      bool
	thresholds []string
	format     string
}

func (f *compareFlags) register(fs *pflag.FlagSet) {
	group(fs, groupWorkload, func() { f.define(fs) })
}

func (f *compareFlags) define(fs *pflag.FlagSet) {
	fs.Float64Var(&f.alpha, "alpha", report.DefaultAlpha, "significance level of the Mann-Whitney U test")
	fs.BoolVar(&f.force, "force", false, "compare reports of different workflows or GPU models anyway")
	fs.StringArrayVar(&f.thresholds, "threshold", nil, "regression gate METRIC[.median]<+N% (e.g. 'warm.e2e.median<+5%', 'cold_start.total<+10%'); a significant change past it exits 3; repeatable")
}

// options validates the flags into comparison options (usage errors exit 2).
func (f *compareFlags) options() (report.CompareOptions, error) {
	opt := report.CompareOptions{Alpha: f.alpha, Force: f.force}
	if !(f.alpha > 0 && f.alpha < 1) {
		return opt, usagef("--alpha %g: want a value between 0 and 1, such as 0.05", f.alpha)
	}
	for _, s := range f.thresholds {
		t, err := report.ParseThreshold(s)
		if err != nil {
			return opt, usagef("--threshold: %v", err)
		}
		opt.Thresholds = append(opt.Thresholds, t)
	}
	return opt, nil
}

func compareCmd(_ context.Context, e *env, args []string) error {
	f := &compareFlags{}
	fs := newFlagSet(e, "compare", compareArgs)
	f.register(fs)
	group(fs, groupOutput, func() {
		fs.StringVar(&f.format, "format", report.FormatText, "output: text | md (Markdown, for pull-request comments) | json | html (one self-contained page, the reports side by side)")
	})
	values(fs, "format", report.CompareFormats()...)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usagef("compare: %v (see 'qwenlab compare --help')", err)
	}
	if err := oneOf("format", f.format, append(report.CompareFormats(), "html")...); err != nil {
		return err
	}
	opt, err := f.options()
	if err != nil {
		return err
	}
	named, err := compareInputs(e, fs.Args())
	if err != nil {
		return err
	}
	res, err := report.CompareReports(named, opt)
	if err != nil {
		return err
	}
	if f.format == "html" {
		err = report.RenderCompareHTML(e.stdout, res, named)
	} else {
		err = report.RenderCompare(e.stdout, res, f.format)
	}
	if err != nil {
		return err
	}
	return thresholdErr(res)
}

// thresholdErr is the exit-3 error of a comparison whose thresholds failed, or nil.
func thresholdErr(res *report.CompareResult) error {
	if !res.Failed {
		return nil
	}
	var failed []string
	for _, c := range res.Checks {
		if c.Fails() {
			failed = append(failed, fmt.Sprintf("%s (%s: %s)", c.Threshold.Text, c.Head, c.Verdict()))
		}
	}
	return fmt.Errorf("%w failed: %s", errThreshold, strings.Join(failed, ", "))
}

// compareInputs reads the reports named on the command line: two or more files, or one
// folder whose latest two reports (by their start time) are compared.
func compareInputs(e *env, args []string) ([]report.NamedReport, error) {
	if len(args) == 0 {
		return nil, usagef("compare: give two reports (BASE.json NEW.json) or a folder of reports")
	}
	if len(args) == 1 {
		st, err := os.Stat(args[0])
		if err != nil {
			return nil, usagef("compare %s: %v", args[0], errors.Unwrap(err))
		}
		if !st.IsDir() {
			r, err := report.Read(args[0])
			if err != nil {
				return nil, err
			}
			if secs := report.SectionReports(r); len(secs) >= 2 {
				return secs, nil // a matrix: its images, compared with the first
			}
			return nil, usagef("compare %s: one report alone; give a second one to compare it with (or a folder of reports, or a matrix report)", args[0])
		}
		paths, err := latestReports(e, args[0], 2)
		if err != nil {
			return nil, err
		}
		args = paths
	}
	out := make([]report.NamedReport, 0, len(args))
	for _, p := range args {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return nil, usagef("compare %s: is a folder; give a folder alone (its latest two reports are compared) or only files", p)
		}
		r, err := report.Read(p)
		if err != nil {
			return nil, err
		}
		out = append(out, report.NamedReport{Name: p, Report: r})
	}
	return out, nil
}

// latestReports returns the n reports in dir that started last, oldest first. Files that
// are not qwenlab reports are passed over with a note on stderr.
func latestReports(e *env, dir string, n int) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read folder %s: %w", dir, err)
	}
	type found struct {
		path    string
		started time.Time
	}
	var reps []found
	for _, de := range entries {
		if de.IsDir() || !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		p := filepath.Join(dir, de.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read report: %w", err)
		}
		var head struct {
			SchemaVersion *int      `json:"schema_version"`
			StartedAt     time.Time `json:"started_at"`
		}
		if json.Unmarshal(data, &head) != nil || head.SchemaVersion == nil {
			fmt.Fprintf(e.stderr, "qwenlab: compare: %s is not a qwenlab report, passed over\n", p)
			continue
		}
		reps = append(reps, found{p, head.StartedAt})
	}
	if len(reps) < n {
		return nil, fmt.Errorf("compare %s: %d report(s) in the folder, need %d", dir, len(reps), n)
	}
	slices.SortFunc(reps, func(a, b found) int {
		if c := a.started.Compare(b.started); c != 0 {
			return c
		}
		return strings.Compare(a.path, b.path)
	})
	var out []string
	for _, r := range reps[len(reps)-n:] {
		out = append(out, r.path)
	}
	return out, nil
}
