package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/report"
)

// imageViewer is the part of a ComfyUI server that serves output images (GET /view). A
// Comfy that lacks it gets no image hashes.
type imageViewer interface {
	View(ctx context.Context, img comfy.ImageRef) ([]byte, error)
}

// cacheFreer is the part of a ComfyUI server that clears its execution cache (POST /free
// with free_memory), so that a prompt repeated with the same seed really runs again.
type cacheFreer interface {
	Free(ctx context.Context, unloadModels, freeMemory bool) error
}

// hashImages fetches a finished prompt's output images, after its timing is taken, and keeps
// their sha256 in the order of the output nodes' IDs. A fetch that fails is a warning (once):
// the measurement stands without the hash.
func (r *run) hashImages(ctx context.Context, c Comfy, pr *promptRun) {
	v, ok := c.(imageViewer)
	if !ok || pr.Err != nil || pr.Res == nil || len(pr.Res.Outputs) == 0 {
		return
	}
	nodes := make([]string, 0, len(pr.Res.Outputs))
	for id := range pr.Res.Outputs {
		nodes = append(nodes, id)
	}
	slices.SortFunc(nodes, compareNodeIDs)
	for _, id := range nodes {
		for _, img := range pr.Res.Outputs[id] {
			data, err := v.View(ctx, img)
			if err != nil {
				if !r.hashWarned {
					r.hashWarned = true
					r.warnf("output image not hashed (%v): the report has no image_sha256 for such runs", err)
				}
				pr.ImageSHA256 = nil
				return
			}
			sum := sha256.Sum256(data)
			pr.ImageSHA256 = append(pr.ImageSHA256, hex.EncodeToString(sum[:]))
		}
	}
}

// compareNodeIDs orders ComfyUI node IDs numerically where they are numbers ("9" < "10").
func compareNodeIDs(a, b string) int {
	x, errx := strconv.Atoi(a)
	y, erry := strconv.Atoi(b)
	if errx == nil && erry == nil {
		return x - y
	}
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// checkDeterminism runs the first valid warm run's seed once more, after clearing ComfyUI's
// execution cache (else the cache would serve the same image), and compares the images'
// hashes. The repeat is not a measured run.
func (r *run) checkDeterminism(ctx context.Context, c Comfy) *report.Determinism {
	d := &report.Determinism{}
	var first *promptRun
	for _, pr := range r.warm {
		if pr.Err == nil && pr.Invalid == "" && len(pr.ImageSHA256) > 0 {
			first = pr
			break
		}
	}
	switch {
	case first == nil:
		d.Note = "no valid warm run with a hashed output image to repeat"
		return d
	case !implementsFree(c):
		d.Note = "this server cannot clear its cache (POST /free), so a repeat would be served from it"
		return d
	}
	d.Seed = strconv.FormatUint(first.Seed, 10)
	d.First = first.ImageSHA256
	if err := c.(cacheFreer).Free(ctx, false, true); err != nil {
		d.Note = fmt.Sprintf("could not clear the cache: %v", err)
		return d
	}
	pr := r.runSeed(ctx, c, report.RunDeterminism, 0, first.Seed)
	r.progressf("determinism: seed %s again: %s", d.Seed, describe(pr))
	switch {
	case pr.Err != nil:
		d.Note = "the repeat failed: " + oneLine(pr.Err.Error())
		return d
	case len(pr.Res.Cached) > 0 && len(pr.Res.Cached) == len(r.plan.wf):
		d.Note = "the repeat was served from ComfyUI's cache despite /free: no verdict"
		return d
	case len(pr.ImageSHA256) == 0:
		d.Note = "the repeat's image could not be hashed"
		return d
	}
	d.Second = pr.ImageSHA256
	d.Identical = slices.Equal(d.First, d.Second)
	d.Checked = true
	if d.Identical {
		d.Note = "the same seed gave byte-identical images: images can be compared across runs"
	} else {
		d.Note = "the same seed gave different images (non-deterministic GPU kernels?): compare images across runs with care"
	}
	return d
}

func implementsFree(c Comfy) bool {
	_, ok := c.(cacheFreer)
	return ok
}
