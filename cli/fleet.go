package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

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
	var mu sync.Mutex // one progress line at a time on stderr
	members := make([]lab.FleetMember, len(eps))
	for i, ep := range eps {
		progress := &prefixWriter{w: e.stderr, mu: &mu, prefix: "[" + ep.Name + "] "}
		members[i] = lab.FleetMember{Label: ep.Name, Run: func(ctx context.Context, cfg lab.Config) (*report.Report, error) {
			return runOn(ctx, cfg, entries, ep, progress)
		}}
	}
	fmt.Fprintf(e.stderr, "qwenlab: run %s\n", c.RunID)
	for i, ep := range eps {
		fmt.Fprintf(e.stderr, "qwenlab: %s is run %s-%d\n", ep.Name, c.RunID, i+1)
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
				fmt.Fprintf(e.stderr, "qwenlab: report for %s written to %s\n", r.Label, p)
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

// prefixWriter writes whole lines, each with a prefix, holding mu while it writes.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    bytes.Buffer
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadBytes('\n')
		if err != nil {
			p.buf.Write(line) // an unfinished line waits for the rest
			return len(b), nil
		}
		if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, line); err != nil {
			return len(b), err
		}
	}
}
