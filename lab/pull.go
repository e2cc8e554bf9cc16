package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/report"
)

// resolveImage finds the image (building the simulator's, or pulling per --pull) and records
// it for the report.
func (r *run) resolveImage(ctx context.Context) (string, error) {
	e := r.deps.Engine
	if r.cfg.Image == "" {
		r.progressf("no --image: using the built-in ComfyUI simulator (profile %s)", r.cfg.SimProfile)
		ref, err := r.deps.SimImage(ctx)
		if err != nil {
			return "", fmt.Errorf("build simulator image: %w", err)
		}
		img, err := e.ImageInspect(ctx, ref)
		if err != nil {
			return "", err
		}
		r.image = &report.ImageInfo{Ref: ref, ID: img.ID, Size: img.Size, Simulator: true}
		return ref, nil
	}
	ref := r.cfg.Image
	img, err := e.ImageInspect(ctx, ref)
	missing := errors.Is(err, docker.ErrImageNotFound)
	if err != nil && !missing {
		return "", err
	}
	pulled := false
	switch {
	case r.cfg.Pull == PullAlways || (missing && r.cfg.Pull == PullMissing):
		if err := r.pull(ctx, ref); err != nil {
			return "", err
		}
		pulled = true
		if img, err = e.ImageInspect(ctx, ref); err != nil {
			return "", fmt.Errorf("after pulling: %w", err)
		}
	case missing:
		return "", fmt.Errorf("image %s is not on this Docker host and --pull never forbids pulling it: pull or build it first, or use --pull missing", ref)
	}
	r.image = &report.ImageInfo{Ref: ref, ID: img.ID, Digest: repoDigest(ref, img.RepoDigests), Size: img.Size, Pulled: pulled}
	r.imageCmd = img.Cmd
	return ref, nil
}

// pull pulls ref as the run's "pull" phase, showing its progress.
func (r *run) pull(ctx context.Context, ref string) error {
	r.progressf("pulling %s …", ref)
	d := newPullDisplay(r.deps.Progress, isTerminal(r.deps.Progress), time.Now)
	start := time.Now()
	err := r.deps.Engine.Pull(ctx, ref, d.update)
	end := time.Now()
	d.finish()
	r.pullSpan = &span{Name: report.PhasePull.Span(), Phase: report.PhasePull, Start: start, End: end, Source: report.SourceEngine}
	if err != nil {
		if m := err.Error(); strings.Contains(m, "no such host") || strings.Contains(m, "dial tcp") || strings.Contains(m, "i/o timeout") {
			return fmt.Errorf("%w\nthe Docker host cannot reach the registry: on an air-gapped box bring the image with `docker load`, then run with --pull never", err)
		}
		return err // docker.Pull names the operation and the image
	}
	p := d.p
	if p.Layers == 0 { // nothing to download: "Status: Image is up to date for …"
		r.progressf("pulled %s in %.1fs: %s", ref, end.Sub(start).Seconds(), cmp.Or(p.Status, "nothing to download"))
		return nil
	}
	r.progressf("pulled %s in %.1fs (%s in %d layers%s)", ref, end.Sub(start).Seconds(), humanBytes(p.Total), p.Layers, d.rate(end))
	return nil
}

// repoDigest picks, from an image's repo digests ("name@sha256:…"), the digest of ref's
// repository, else the first; "" when there are none (a locally built image).
func repoDigest(ref string, digests []string) string {
	if len(digests) == 0 {
		return ""
	}
	want := repoName(ref)
	pick := digests[0]
	for _, d := range digests {
		if name, _, ok := strings.Cut(d, "@"); ok && repoName(name) == want {
			pick = d
			break
		}
	}
	if i := strings.LastIndexByte(pick, '@'); i >= 0 {
		return pick[i+1:]
	}
	return pick
}

// repoName is ref without tag or digest, in Docker's familiar form ("busybox" for
// "docker.io/library/busybox:latest").
func repoName(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	ref = strings.TrimPrefix(ref, "docker.io/")
	return strings.TrimPrefix(ref, "library/")
}

// isTerminal reports whether w is a terminal (then a pull draws a live line).
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Pull display intervals: a terminal's live line is redrawn at most every ttyEvery; without
// a terminal a plain line is written every plainEvery.
const (
	ttyEvery   = 100 * time.Millisecond
	plainEvery = 3 * time.Second
)

// pullDisplay shows a pull's progress: on a terminal one live line (bytes, layers, rate)
// redrawn in place, otherwise a plain line every few seconds. It is used from the goroutine
// that reads the pull stream only.
type pullDisplay struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	start time.Time
	last  time.Time // of the last line written
	p     docker.PullProgress
	live  bool // a live line is on the terminal and needs ending
}

func newPullDisplay(w io.Writer, tty bool, now func() time.Time) *pullDisplay {
	t := now()
	return &pullDisplay{w: w, tty: tty, now: now, start: t, last: t}
}

func (d *pullDisplay) update(p docker.PullProgress) {
	d.p = p
	t := d.now()
	every := plainEvery
	if d.tty {
		every = ttyEvery
	}
	if t.Sub(d.last) < every {
		return
	}
	d.last = t
	d.draw(t)
}

func (d *pullDisplay) draw(t time.Time) {
	if d.tty {
		fmt.Fprintf(d.w, "\r\x1b[K%s", d.line(t))
		d.live = true
		return
	}
	fmt.Fprintln(d.w, d.line(t))
}

// finish draws the final state of the live line and ends it; a plain display writes nothing
// more (the caller reports the outcome).
func (d *pullDisplay) finish() {
	if !d.tty {
		return
	}
	if d.p.Layers > 0 || d.live {
		d.draw(d.now())
	}
	if d.live {
		fmt.Fprintln(d.w)
		d.live = false
	}
}

// line is "pull: 12.0 MiB / 17.0 MiB (70%), layers 2/3, 4.0 MiB/s".
func (d *pullDisplay) line(t time.Time) string {
	p := d.p
	var b strings.Builder
	b.WriteString("  pull: ")
	b.WriteString(humanBytes(p.Current))
	if p.Total > 0 {
		fmt.Fprintf(&b, " / %s (%d%%)", humanBytes(p.Total), min(p.Current*100/p.Total, 100))
	}
	fmt.Fprintf(&b, ", layers %d/%d%s", p.LayersDone, p.Layers, d.rate(t))
	return b.String()
}

// rate is ", 4.0 MiB/s" (bytes so far over the time since the pull began), or "" before
// there is anything to divide.
func (d *pullDisplay) rate(t time.Time) string {
	el := t.Sub(d.start).Seconds()
	if el <= 0 || d.p.Current <= 0 {
		return ""
	}
	return ", " + humanBytes(int64(float64(d.p.Current)/el)) + "/s"
}
