package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/report"
)

// resolveImage finds the image (building the simulator's, or pulling per --pull) and records
// it for the report.
func (r *run) resolveImage(ctx context.Context) (string, error) {
	e := r.deps.Engine
	if r.cfg.Image == "" {
		done := r.stage(StageImage, fmt.Sprintf("the built-in ComfyUI simulator (profile %s)", r.cfg.SimProfile))
		ref, err := r.deps.SimImage(ctx)
		done("")
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
		return "", PullForbidden(ref)
	}
	r.image = &report.ImageInfo{Ref: ref, ID: img.ID, Digest: repoDigest(ref, img.RepoDigests), Size: img.Size, Pulled: pulled}
	r.imageCmd = img.Cmd
	return ref, nil
}

// pull pulls ref as the run's "pull" phase, showing its progress.
func (r *run) pull(ctx context.Context, ref string) error {
	done := r.stage(StagePull, ref)
	start := time.Now()
	var p docker.PullProgress // written by the pull's stream reader, read after Pull returns
	err := r.deps.Engine.Pull(ctx, ref, func(np docker.PullProgress) {
		p = np
		r.emit(Event{Kind: EventPull, Stage: StagePull, Pull: PullStatus{Layers: np.Layers, LayersDone: np.LayersDone, Current: np.Current, Total: np.Total}})
	})
	end := time.Now()
	r.pullSpan = &span{Name: report.PhasePull.Span(), Phase: report.PhasePull, Start: start, End: end, Source: report.SourceEngine}
	if err != nil {
		done("failed")
		if m := err.Error(); strings.Contains(m, "no such host") || strings.Contains(m, "dial tcp") || strings.Contains(m, "i/o timeout") {
			return fmt.Errorf("%w\nthe Docker host cannot reach the registry: on an air-gapped box bring the image with `docker load`, then run with --pull never", err)
		}
		return err // docker.Pull names the operation and the image
	}
	if p.Layers == 0 { // nothing to download: "Status: Image is up to date for …"
		done(cmp.Or(p.Status, "nothing to download"))
		return nil
	}
	how := fmt.Sprintf("%s in %d layers", humanBytes(p.Total), p.Layers)
	if el := end.Sub(start).Seconds(); el > 0 && p.Current > 0 {
		how += ", " + humanBytes(int64(float64(p.Current)/el)) + "/s"
	}
	done(how)
	return nil
}

// repoDigest picks, from an image's repo digests ("name@sha256:…"), the digest of ref's
// repository, else the first; "" when there are none (a locally built image).
func repoDigest(ref string, digests []string) string {
	if len(digests) == 0 {
		return ""
	}
	want := docker.RepoName(ref)
	pick := digests[0]
	for _, d := range digests {
		if name, _, ok := strings.Cut(d, "@"); ok && docker.RepoName(name) == want {
			pick = d
			break
		}
	}
	if i := strings.LastIndexByte(pick, '@'); i >= 0 {
		return pick[i+1:]
	}
	return pick
}

// PullForbidden is the error of an image that is not on the Docker host when --pull never
// forbids pulling it (a run's, and a dry run's).
func PullForbidden(ref string) error {
	return fmt.Errorf("image %s is not on this Docker host and --pull never forbids pulling it: pull or build it first, or use --pull missing", ref)
}
