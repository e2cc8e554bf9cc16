package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/lab"
	"github.com/qwenlab/qwenlab/report"
)

// runFleet runs up-and-bench on several engines at once: one report per host (beside --out,
// named after the host) and the combined one (--out itself), a section per host with its GPU
// and driver inventory, compared with the first.
func runFleet(ctx context.Context, e *env, f *runFlags, entries []lab.MatrixEntry, eps []docker.Endpoint) error {
	c := &f.cfg
	if len(entries) > 1 {
		return usagef("several --image and several engines at once: run the matrix on each host separately")
	}
	d := e.startDisplay(f) // every line and status names its engine
	defer e.stopDisplay()
	members := make([]lab.FleetMember, len(eps))
	for i, ep := range eps {
		members[i] = lab.FleetMember{Label: ep.Name, Run: func(ctx context.Context, cfg lab.Config) (*report.Report, error) {
			return runOn(ctx, cfg, entries, ep, d, ep.Name)
		}}
	}
	d.Println("qwenlab: run " + c.RunID)
	for i, ep := range eps {
		d.Println(fmt.Sprintf("qwenlab: %s is run %s-%d", ep.Name, c.RunID, i+1))
	}
	results, combined := lab.Fleet(ctx, *c, members)
	var failed []string
	var errs []error
	for _, r := range results {
		if f.out != "" {
			p := hostOut(f.out, r.Label)
			if err := report.Write(p, r.Report); err != nil {
				errs = append(errs, err)
			} else {
				e.note(fmt.Sprintf("qwenlab: report for %s written to %s", r.Label, p))
			}
		}
		if r.Err != nil && !errors.Is(r.Err, lab.ErrSlow) {
			failed = append(failed, fmt.Sprintf("%s: %v", r.Label, r.Err))
		}
	}
	var runErr error
	switch {
	case ctx.Err() != nil:
		runErr = ctx.Err()
	case len(failed) > 0:
		runErr = fmt.Errorf("%d of %d engines failed (the others' results are in the reports):\n  %s", len(failed), len(results), strings.Join(failed, "\n  "))
	}
	return errors.Join(finish(e, f, combined, runErr), errors.Join(errs...))
}

var notInFileName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// hostOut names a host's report after --out: r.json and ssh://me@gpu1:22 give
// r-me-gpu1-22.json.
func hostOut(out, label string) string {
	ext := filepath.Ext(out)
	if _, rest, ok := strings.Cut(label, "://"); ok {
		label = rest
	}
	slug := strings.Trim(notInFileName.ReplaceAllString(label, "-"), "-.")
	if slug == "" {
		slug = "host"
	}
	return strings.TrimSuffix(out, ext) + "-" + slug + ext
}
