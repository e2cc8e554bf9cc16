package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/internal/shortid"
	"github.com/qwenlab/qwenlab/lab"
	"github.com/qwenlab/qwenlab/report"
)

// dryRun is up-and-bench --dry-run, after every check of the flags: it asks each engine
// read-only (docker info, image inspect) what the run would find there and prints the plan
// on stdout. It creates, pulls, builds and starts nothing and writes no report. An image a
// run could not get (--pull never) fails as the run would, with exit 1.
func dryRun(ctx context.Context, w io.Writer, f *runFlags, nf *nightlyFlags, entries []lab.MatrixEntry, eps []docker.Endpoint) error {
	c := &f.cfg
	if len(entries) > 1 && len(eps) > 1 {
		return usagef("several --image and several engines at once: run the matrix on each host separately")
	}
	if len(entries) == 1 { // --compose may have named the image
		entries = []lab.MatrixEntry{{Label: cmp.Or(c.Image, "sim:"+c.SimProfile), Image: c.Image, SimProfile: c.SimProfile, GPUs: c.GPUs}}
	}
	info, err := lab.DescribePlan(*c)
	if err != nil {
		return usagef("%v", err)
	}
	var b strings.Builder
	fmt.Fprintln(&b, "dry run: nothing is created, pulled, built or started, and no report is written")
	remote := false
	for _, ep := range eps {
		r, err := dryRunEngine(ctx, &b, c, entries, ep)
		if err != nil {
			return err
		}
		remote = remote || r
	}

	// The container(s), as each would be created.
	hostIP := "127.0.0.1"
	if c.PublishAll {
		hostIP = "0.0.0.0 (every interface: ComfyUI has no authentication)"
	}
	port := "a free port"
	if c.Port != 0 {
		port = "port " + strconv.Itoa(c.Port)
	}
	fmt.Fprintln(&b, "container:")
	for _, e := range entries {
		fmt.Fprintf(&b, "  %s: GPUs %s\n", e.Label, cmp.Or(e.GPUs, c.GPUs))
	}
	if len(eps) == 1 && !remote {
		fmt.Fprintf(&b, "  port: %s on %s → container port %d\n", port, hostIP, c.ContainerPort)
	} else {
		fmt.Fprintf(&b, "  port: none published on a remote engine (a measuring container on a private network beside ComfyUI, container port %d)\n", c.ContainerPort)
	}
	switch {
	case c.ModelsDir == "":
		fmt.Fprintln(&b, "  models: none mounted for an image (it must bring its own); the simulator gets placeholder files, read-only")
	case remote:
		fmt.Fprintf(&b, "  models: %s on the engine's host, mounted read-only at %s\n", c.ModelsDir, c.ModelsTarget)
	default:
		abs, size, err := lab.CheckModels(*c, info)
		if err != nil {
			return err // exit 1, as the run's preflight
		}
		target := c.ModelsTarget
		if len(entries) == 1 && entries[0].Image == "" {
			target = "/models" // the simulator's
		}
		fmt.Fprintf(&b, "  models: %s, mounted read-only at %s (%d files the scenario needs, %s)\n", abs, target, len(info.Models), report.HumanBytes(size))
	}
	if len(c.Env) > 0 {
		fmt.Fprintf(&b, "  env: %s\n", strings.Join(report.Redact(c.Env), " "))
	}
	if len(c.ComfyArgs) > 0 {
		fmt.Fprintf(&b, "  command adds: %s\n", strings.Join(c.ComfyArgs, " "))
	}
	if c.MemoryBytes > 0 {
		fmt.Fprintf(&b, "  memory: %s\n", report.HumanBytes(uint64(c.MemoryBytes)))
	}
	if c.Keep {
		fmt.Fprintln(&b, "  --keep: the container measured last is left running")
	}

	// The cold starts and the prompts.
	rounds := max(c.ColdStarts, 1)
	if len(entries) > 1 {
		fmt.Fprintf(&b, "cold starts: %d round(s), one fresh container at a time:\n", rounds)
		for r, order := range lab.MatrixOrder(len(entries), rounds) {
			labels := make([]string, len(order))
			for k, i := range order {
				labels[k] = entries[i].Label
			}
			fmt.Fprintf(&b, "  round %d: %s\n", r+1, strings.Join(labels, ", "))
		}
	} else {
		fmt.Fprintf(&b, "cold starts: %d, each in a fresh container\n", rounds)
	}
	src := "scenario " + c.Scenario.Name
	if c.WorkflowPath != "" {
		src = "workflow " + c.WorkflowPath
	}
	switch {
	case info.SeedInput != "":
		src += ", seeds sent to " + info.SeedInput
	case info.Vary != "":
		src += ", no seed input: " + info.Vary + " varies per prompt"
	default:
		src += ", no seed input (warm runs may be served from ComfyUI's cache: see --vary)"
	}
	fmt.Fprintln(&b, "prompts: "+src)
	pc := *c
	if len(entries) > 1 {
		pc.ColdStarts = 1 // each container of a matrix is a run with one cold start
	}
	seeds := lab.PlanSeeds(pc)
	for i, s := range seeds.Cold {
		what := "cold start"
		if len(seeds.Cold) > 1 {
			what = fmt.Sprintf("cold start %d", i+1)
		}
		fmt.Fprintf(&b, "  %s: first prompt, seed %d\n", what, s)
	}
	if len(entries) > 1 && rounds > 1 {
		fmt.Fprintf(&b, "  (every image's cold start in every round: first prompt, seed %d; warm runs follow round %d's)\n", seeds.Cold[0], rounds)
	}
	fmt.Fprintf(&b, "  warm-ups: %d%s\n", c.Warmup, seedRange(seeds.WarmupFrom, c.Warmup))
	fmt.Fprintf(&b, "  measured runs: %d%s\n", c.Runs, seedRange(seeds.RunsFrom, c.Runs))
	if c.CheckDeterminism {
		fmt.Fprintf(&b, "  determinism check: the first valid measured run's seed once more (cache cleared)\n")
	}
	if len(entries) > 1 {
		fmt.Fprintln(&b, "  per image, the same seeds")
	}

	// The gates and where the report goes.
	if len(c.Compare.Thresholds) > 0 {
		ts := make([]string, len(c.Compare.Thresholds))
		for i, t := range c.Compare.Thresholds {
			ts[i] = t.Text
		}
		fmt.Fprintf(&b, "thresholds: %s (alpha %g)\n", strings.Join(ts, ", "), c.Compare.Alpha)
	}
	for _, bud := range c.Budgets {
		fmt.Fprintf(&b, "budget: %s\n", bud.Source)
	}
	if nf.baseline != "" {
		fmt.Fprintf(&b, "baseline: %s (%s)\n", nf.baseline, imageName(nf.base))
	}
	switch {
	case nf.outDir != "":
		made := ""
		if _, err := os.Stat(nf.outDir); err != nil {
			made = " (the folder would be created)"
		}
		fmt.Fprintf(&b, "report: %s%s\n", filepath.Join(nf.outDir, "TIME_IMAGE_HOST.json"), made)
	case f.out == "-":
		fmt.Fprintln(&b, "report: stdout")
	case f.out == "":
		fmt.Fprintln(&b, "report: none (--out '')")
	default:
		fmt.Fprintf(&b, "report: %s\n", f.out)
	}
	if f.html != "" {
		fmt.Fprintf(&b, "HTML report: %s\n", f.html)
	}
	if c.SaveLogs != "" {
		fmt.Fprintf(&b, "container logs: %s\n", c.SaveLogs)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// dryRunEngine connects to one engine and says, read-only, what a run would find there:
// the engine, and each image present, to be pulled, or (the simulator) built or reused. It
// reports whether the engine is remote.
func dryRunEngine(ctx context.Context, b *strings.Builder, c *lab.Config, entries []lab.MatrixEntry, ep docker.Endpoint) (bool, error) {
	dc, err := docker.NewAt(ctx, ep)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer dc.Close()
	in, err := dc.Info(ctx)
	if err != nil {
		return false, err
	}
	where := "this host"
	if dc.Remote() {
		where = "remote"
	}
	fmt.Fprintf(b, "engine %s (%s): %s, Docker %s (API %s), %s %s; %s\n", ep.Name, where, in.Name, in.ServerVersion, in.APIVersion, in.OS, in.Arch, in.NVIDIAHint)
	for _, e := range entries {
		state, err := dryRunImage(ctx, dc, c, e)
		if err != nil {
			return false, fmt.Errorf("engine %s: %w", ep.Name, err)
		}
		fmt.Fprintf(b, "  image %s: %s\n", e.Label, state)
	}
	return dc.Remote(), nil
}

// dryRunImage says what a run would do to get entry e's image on dc (see lab's
// resolveImage), without doing it.
func dryRunImage(ctx context.Context, dc *docker.Client, c *lab.Config, e lab.MatrixEntry) (string, error) {
	if e.Image == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("find qwenlab's own executable: %w", err)
		}
		ref, err := docker.SimImageRef(cmp.Or(os.Getenv("QWENLAB_SIM_REPO"), docker.SimRepo), exe)
		if err != nil {
			return "", err
		}
		sim := fmt.Sprintf("the built-in simulator (profile %s), image %s", e.SimProfile, ref)
		switch _, err := dc.ImageInspect(ctx, ref); {
		case err == nil:
			return sim + ": present, would be reused", nil
		case errors.Is(err, docker.ErrImageNotFound):
			return sim + ": not there, would be built from this qwenlab", nil
		default:
			return "", err
		}
	}
	img, err := dc.ImageInspect(ctx, e.Image)
	missing := errors.Is(err, docker.ErrImageNotFound)
	switch {
	case err != nil && !missing:
		return "", err
	case c.Pull == lab.PullAlways:
		return "would be pulled (--pull always)", nil
	case missing && c.Pull == lab.PullNever:
		return "", lab.PullForbidden(e.Image)
	case missing:
		return "not there, would be pulled (--pull missing)", nil
	}
	return fmt.Sprintf("present (%s, %s)", shortid.Of(strings.TrimPrefix(img.ID, "sha256:")), report.HumanBytes(uint64(max(img.Size, 0)))), nil
}

// seedRange shows the seeds of n prompts from first on: " (seed 5)", " (seeds 5–9)".
func seedRange(first uint64, n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(" (seed %d)", first)
	}
	return fmt.Sprintf(" (seeds %d–%d)", first, first+uint64(n)-1)
}
