package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/internal/shortid"
	"github.com/qwenlab/qwenlab/report"
)

// nightlyFlags are up-and-bench's flags for unattended runs: a stored baseline to gate on,
// and a folder of reports named by time, image and host.
type nightlyFlags struct {
	baseline string
	outDir   string
	dryRun   bool           // --dry-run: check --out-dir, create nothing
	base     *report.Report // the baseline, read before the run starts
}

func (n *nightlyFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&n.baseline, "baseline", "", "compare the fresh report with this stored one (printed at the end, kept in the report); with --threshold a significant regression exits 3")
	fs.StringVar(&n.outDir, "out-dir", "", "write the report into DIR, named by time, image and host (TIME_IMAGE_HOST.json), instead of --out")
}

// validate checks the flags before anything starts: the baseline must be a readable report
// (exit 1 otherwise: its content is wrong), thresholds need something to compare with, and
// --out-dir replaces --out.
func (n *nightlyFlags) validate(fs *pflag.FlagSet, f *runFlags, matrix bool, thresholds int) error {
	if thresholds > 0 && n.baseline == "" && !matrix {
		return usagef("--threshold needs something to compare with: --baseline FILE, or several --image")
	}
	if n.outDir != "" {
		if fs.Changed("out") {
			return usagef("--out-dir and --out: give one (--out-dir names the file itself)")
		}
		if n.dryRun {
			if err := checkOutDir(n.outDir); err != nil {
				return err
			}
		} else if err := os.MkdirAll(n.outDir, 0o755); err != nil {
			return usagef("--out-dir %s: %v", n.outDir, err)
		}
		f.out = "" // set once the run has a time, an image and a host
	}
	if n.baseline != "" {
		b, err := report.Read(n.baseline)
		if err != nil {
			return fmt.Errorf("--baseline: %w", err)
		}
		// A baseline that failed before its warm runs would make every gate "not measured":
		// say so now, not after the run.
		switch {
		case b.Error != nil && (b.Warm == nil || b.Warm.Summary.N == 0) && len(b.Sections) == 0:
			msg, _, _ := strings.Cut(b.Error.Message, "\n")
			msg = strings.TrimSuffix(msg, "; its last log lines:")
			return fmt.Errorf("--baseline %s: its run failed in %s before any warm run was measured (%s); give the report of a run that succeeded", n.baseline, b.Error.Phase, msg)
		case !report.Measured(b):
			return fmt.Errorf("--baseline %s: it holds no measurement; give the report of a run that measured something", n.baseline)
		}
		n.base = b
	}
	return nil
}

// apply runs after the measurement, before the report is written: it compares the report
// (each image of a matrix) with the baseline into rep.Baseline, and names the report file
// under --out-dir.
func (n *nightlyFlags) apply(f *runFlags, rep *report.Report, opt report.CompareOptions) error {
	if rep == nil {
		return nil
	}
	if n.outDir != "" {
		f.out = filepath.Join(n.outDir, nightlyName(rep))
	}
	if n.base == nil {
		return nil
	}
	heads := report.SectionReports(rep)
	if len(heads) == 0 {
		heads = []report.NamedReport{{Name: "this run", Report: rep}}
	}
	res, err := report.CompareReports(append([]report.NamedReport{{Name: n.baseline, Report: n.base}}, heads...), opt)
	if err != nil {
		return fmt.Errorf("--baseline: %w", err)
	}
	rep.Baseline = res
	return nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// nightlyName is TIME_IMAGE_HOST.json: the run's start in UTC (sortable), the image (the
// images of a matrix joined by "+"; "sim-PROFILE" for the simulator) and the host name, each
// reduced to characters safe in a file name.
func nightlyName(rep *report.Report) string {
	var images []string
	if len(rep.Sections) > 0 {
		for _, s := range rep.Sections {
			images = append(images, s.Label)
		}
	} else {
		images = append(images, imageName(rep))
	}
	clean := func(s string, max int) string {
		s = strings.Trim(unsafeName.ReplaceAllString(s, "-"), "-.")
		if len(s) > max {
			s = s[:max]
		}
		if s == "" {
			s = "unknown"
		}
		return s
	}
	return fmt.Sprintf("%s_%s_%s.json", rep.StartedAt.UTC().Format("20060102T150405Z"),
		clean(strings.Join(images, "+"), 100), clean(rep.Host.Hostname, 60))
}

func imageName(rep *report.Report) string {
	img := rep.Target.Image
	switch {
	case img == nil && rep.Target.URL != "":
		return "url"
	case img == nil:
		return "unknown"
	case img.Simulator:
		return "sim:" + rep.Target.Config["sim_profile"]
	}
	return img.Ref
}

// notRecorded are the flags an invocation leaves out: where the output goes, how it is
// gated, and the images (recorded with their digests in the report itself).
var notRecorded = map[string]bool{
	"out": true, "json": true, "out-dir": true, "baseline": true, "threshold": true,
	"alpha": true, "force": true, "rerun": true, "image": true,
}

// invocation records the flags the user set that shape the measurement, as --name=value
// in the order pflag lists them, secret --env values redacted.
func invocation(command string, fs *pflag.FlagSet) *report.Invocation {
	inv := &report.Invocation{Command: command, Args: []string{}}
	fs.Visit(func(f *pflag.Flag) {
		if notRecorded[f.Name] {
			return
		}
		vals := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			vals = sv.GetSlice()
		}
		if f.Name == "env" {
			vals = report.Redact(vals)
		}
		for _, v := range vals {
			inv.Args = append(inv.Args, "--"+f.Name+"="+v)
		}
	})
	return inv
}

// setInvocation puts inv into the report and each of its sections.
func setInvocation(rep *report.Report, inv *report.Invocation) {
	if rep == nil {
		return
	}
	rep.Invocation = inv
	for _, s := range rep.Sections {
		if s.Report != nil {
			s.Report.Invocation = inv
		}
	}
}

// rerunFlag finds --rerun FILE (or --rerun=FILE) in args and returns the file and the
// other arguments.
func rerunFlag(args []string) (file string, rest []string, ok bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return file, append(rest, args[i:]...), ok, nil
		case a == "--rerun":
			if i+1 >= len(args) {
				return "", nil, false, usagef("--rerun needs a REPORT.json")
			}
			file, ok = args[i+1], true
			i++
		case strings.HasPrefix(a, "--rerun="):
			file, ok = strings.TrimPrefix(a, "--rerun="), true
		default:
			rest = append(rest, a)
		}
	}
	return file, rest, ok, nil
}

// rerunArgs builds the up-and-bench arguments that repeat the run of rep: its recorded
// flags, every image pinned to its digest (or ID), and, for a --workflow run, the graph it
// ran (written into dir) in place of --workflow and --set. notes tell the user what could not be repeated
// exactly.
func rerunArgs(rep *report.Report, path, dir string) (args, notes []string, err error) {
	inv := rep.Invocation
	if inv == nil {
		return nil, nil, fmt.Errorf("--rerun %s: the report does not record its command (written by an older qwenlab, or by bench --url)", path)
	}
	if inv.Command != "up-and-bench" {
		return nil, nil, usagef("--rerun %s: the report was made by %q; up-and-bench repeats only its own reports", path, inv.Command)
	}
	// A run of an embedded scenario repeats by name (with its --set values); a --workflow
	// FILE, which may be gone or changed, is replaced by the graph the report recorded.
	haveWorkflow := len(rep.Scenario.Workflow) > 0 && slices.ContainsFunc(inv.Args, func(a string) bool {
		return strings.HasPrefix(a, "--workflow=")
	})
	for _, a := range inv.Args {
		name, val, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		switch {
		case haveWorkflow && (name == "workflow" || name == "set"):
			continue
		case name == "env" && strings.HasSuffix(val, "="+report.Redacted):
			k, _, _ := strings.Cut(val, "=")
			notes = append(notes, fmt.Sprintf("--env %s was redacted in the report: give it again (--env %s=…)", k, k))
			continue
		}
		args = append(args, a)
	}
	if haveWorkflow {
		wf := filepath.Join(dir, "workflow.json")
		if err := os.WriteFile(wf, rep.Scenario.Workflow, 0o644); err != nil {
			return nil, nil, fmt.Errorf("--rerun: write the workflow: %w", err)
		}
		args = append(args, "--workflow="+wf)
	}
	secs := report.SectionReports(rep)
	if len(secs) == 0 {
		secs = []report.NamedReport{{Name: imageName(rep), Report: rep}}
	}
	for _, s := range secs {
		img, note := pinnedImage(s.Name, s.Report)
		if note != "" {
			notes = append(notes, note)
		}
		args = append(args, "--image="+img)
	}
	return args, notes, nil
}

// pinnedImage is the image of a section pinned to what ran: repository@digest, else the
// image ID; the simulator stays "sim:PROFILE" (it is rebuilt from this qwenlab).
func pinnedImage(label string, r *report.Report) (string, string) {
	img := r.Target.Image
	switch {
	case img == nil || img.Simulator:
		p := r.Target.Config["sim_profile"]
		if p == "" {
			p = "default"
		}
		return "sim:" + p, ""
	case strings.Contains(img.Ref, "@"):
		return img.Ref, ""
	case img.Digest != "":
		return docker.RepoName(img.Ref) + "@" + img.Digest, ""
	case img.ID != "":
		return img.ID, fmt.Sprintf("%s has no registry digest (a local image): pinned to its ID %s, which only this host has", label, shortid.Of(img.ID))
	}
	return img.Ref, fmt.Sprintf("%s: neither digest nor ID recorded; repeated by its reference", label)
}

// rerun repeats the run recorded in the report at path; rest are further flags (an output
// file, a baseline), which win over the recorded ones.
func rerun(ctx context.Context, e *env, path string, rest []string) error {
	for _, a := range rest {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "--") && (name == "image" || name == "workflow" || name == "set" || name == "scenario") {
			return usagef("--rerun repeats the report's %s; leave --%s off (or run without --rerun)", name, name)
		}
	}
	rep, err := report.Read(path)
	if err != nil {
		return fmt.Errorf("--rerun: %w", err)
	}
	dir, err := os.MkdirTemp("", "qwenlab-rerun-")
	if err != nil {
		return fmt.Errorf("--rerun: %w", err)
	}
	defer os.RemoveAll(dir)
	args, notes, err := rerunArgs(rep, path, dir)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(e.stderr, "qwenlab: rerun: note: %s\n", n)
	}
	out := true
	for _, a := range rest {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		out = out && !(name == "o" || name == "out" || name == "out-dir" || strings.HasPrefix(a, "-o"))
	}
	if out { // never over the report being repeated
		args = append(args, "--out="+strings.TrimSuffix(path, ".json")+".rerun.json")
	}
	args = append(args, rest...)
	fmt.Fprintf(e.stderr, "qwenlab: rerun of %s: qwenlab up-and-bench %s\n", path, strings.Join(args, " "))
	return upAndBench(ctx, e, args)
}

// checkOutDir checks, without creating it, that --out-dir DIR is a folder or could be made
// one: its nearest existing ancestor is a folder.
func checkOutDir(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		switch {
		case err == nil && st.IsDir():
			return nil
		case err == nil:
			return usagef("--out-dir %s: %s is not a folder", dir, d)
		case !errors.Is(err, os.ErrNotExist):
			return usagef("--out-dir %s: %v", dir, err)
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}
