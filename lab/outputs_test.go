package lab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/qwenlab/qwenlab/comfy"
)

// imageComfy is a fakeComfy that also serves output images (/view) and clears its cache
// (/free). An image's bytes are its workflow's hash (the seed is in it); with noisy set each
// one also carries a counter, like non-deterministic GPU kernels.
type imageComfy struct {
	*fakeComfy
	mu      sync.Mutex
	images  map[string][]byte
	n       int
	noisy   bool
	viewErr error
	freed   int
}

func (c *imageComfy) Run(ctx context.Context, w comfy.Workflow) (*comfy.Result, error) {
	res, err := c.fakeComfy.Run(ctx, w)
	if err == nil && len(res.Cached) == 0 {
		c.mu.Lock()
		c.n++
		name := fmt.Sprintf("img%d.png", c.n)
		data := w.SHA256()
		if c.noisy {
			data += fmt.Sprint(c.n)
		}
		if c.images == nil {
			c.images = map[string][]byte{}
		}
		c.images[name] = []byte(data)
		c.mu.Unlock()
		res.Outputs = map[string][]comfy.ImageRef{"9": {{Filename: name, Type: "output"}}}
	}
	return res, err
}

func (c *imageComfy) View(_ context.Context, img comfy.ImageRef) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.viewErr != nil {
		return nil, c.viewErr
	}
	return c.images[img.Filename], nil
}

func (c *imageComfy) Free(_ context.Context, _, freeMemory bool) error {
	c.fakeComfy.mu.Lock()
	defer c.fakeComfy.mu.Unlock()
	if freeMemory {
		clear(c.fakeComfy.seen)
	}
	c.freed++
	return nil
}

func TestImagesAreHashedAndDeterminismChecked(t *testing.T) {
	for _, noisy := range []bool{false, true} {
		e, inner := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
		c := &imageComfy{fakeComfy: inner, noisy: noisy}
		cfg := testConfig()
		cfg.CheckDeterminism = true
		deps := testDeps(e, inner)
		deps.Dial = func(string) (Comfy, error) { return c, nil }
		rep, err := UpAndBench(context.Background(), cfg, deps)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range rep.Warm.Runs {
			if len(r.ImageSHA256) != 1 || len(r.ImageSHA256[0]) != 64 {
				t.Fatalf("run %d: image_sha256 %v", r.Index, r.ImageSHA256)
			}
			if seen[r.ImageSHA256[0]] {
				t.Errorf("two seeds gave the same image hash")
			}
			seen[r.ImageSHA256[0]] = true
		}
		d := rep.Determinism
		if d == nil || !d.Checked || c.freed != 1 || d.Seed != rep.Warm.Runs[0].Seed {
			t.Fatalf("noisy=%v: determinism %+v, freed %d", noisy, d, c.freed)
		}
		if d.Identical == noisy || (d.First[0] == d.Second[0]) == noisy {
			t.Errorf("noisy=%v: identical=%v first %s second %s", noisy, d.Identical, d.First, d.Second)
		}
		if len(rep.Warm.Runs) != cfg.Runs || rep.Warm.Summary.N != cfg.Runs {
			t.Errorf("the repeat was counted as a measured run: %d runs", len(rep.Warm.Runs))
		}
	}
}

func TestDeterminismWithoutViewOrFree(t *testing.T) {
	// The plain fake serves no images: no hashes, and a verdict that says why there is none.
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	cfg := testConfig()
	cfg.CheckDeterminism = true
	rep, err := UpAndBench(context.Background(), cfg, testDeps(e, c))
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Determinism; d == nil || d.Checked || !strings.Contains(d.Note, "no valid warm run with a hashed output image") {
		t.Errorf("determinism %+v", rep.Determinism)
	}
}

func TestImageFetchFailureIsAWarningOnce(t *testing.T) {
	e, inner := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	c := &imageComfy{fakeComfy: inner, viewErr: errors.New("view img1.png: 404")}
	deps := testDeps(e, inner)
	deps.Dial = func(string) (Comfy, error) { return c, nil }
	rep, err := UpAndBench(context.Background(), testConfig(), deps)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, w := range rep.Warnings {
		if strings.Contains(w, "output image not hashed") {
			n++
		}
	}
	if n != 1 || len(rep.Warm.Runs[0].ImageSHA256) != 0 || !rep.Warm.Runs[0].Valid {
		t.Errorf("warnings %q, run %+v", rep.Warnings, rep.Warm.Runs[0])
	}
}
