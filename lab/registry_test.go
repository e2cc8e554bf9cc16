package lab

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/docker/dockertest"
	"github.com/qwenlab/qwenlab/report"
)

// progressEngine is the real engine, with the last progress of each pull kept.
type progressEngine struct {
	*docker.Client
	mu   sync.Mutex
	last docker.PullProgress
}

func (e *progressEngine) Pull(ctx context.Context, ref string, fn func(docker.PullProgress)) error {
	return e.Client.Pull(ctx, ref, func(p docker.PullProgress) {
		e.mu.Lock()
		e.last = p
		e.mu.Unlock()
		fn(p)
	})
}

// TestPullFromLocalRegistry times real pulls of the simulator image from a registry on
// 127.0.0.1 through UpAndBench: --pull missing with the image absent pulls it (timed as the
// cold start's first phase, with the page cache of the models dropped), --pull always pulls a
// present image again, and --pull never with the image absent is a clear error.
func TestPullFromLocalRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("real engine tests are skipped with -short")
	}
	ctx := context.Background()
	dc, err := docker.New(ctx)
	if err != nil {
		if errors.Is(err, docker.ErrUnreachable) {
			dockertest.SkipOrFail(t, "no Docker Engine: "+err.Error())
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	reg := dockertest.StartRegistry(t)

	// Push the simulator image built from this test binary, then remove every local
	// reference so that the pull downloads it.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().Format("150405.000")
	src, err := dc.SimImageIn(ctx, "qwenlab-sim-pulltest-"+strings.ReplaceAll(stamp, ".", ""), exe, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Ref("qwenlab-sim", "test")
	t.Cleanup(func() {
		for _, r := range []string{ref, src} {
			if err := dc.RemoveImage(context.Background(), r); err != nil && !errors.Is(err, docker.ErrImageNotFound) {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	if err := dc.Tag(ctx, src, ref); err != nil {
		t.Fatal(err)
	}
	if err := dc.Push(ctx, ref); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{ref, src} {
		if err := dc.RemoveImage(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	eng := &progressEngine{Client: dc}
	run := func(name, pull string, drop bool) (*report.Report, error) {
		t.Helper()
		cfg := engineConfig(t, "pull-"+name)
		cfg.Runs = 1
		cfg.Image, cfg.Pull = ref, PullPolicy(pull)
		cfg.ModelsDir, cfg.ModelsTarget, cfg.DropCaches = modelsDir(t, cfg), "/models", drop
		cfg.ComfyArgs = []string{"--listen", "0.0.0.0", "--port", "8188", "--models", "/models", "--profile", "instant"}
		rep, err := UpAndBench(ctx, cfg, Deps{Engine: eng, Dial: realDial(cfg), GPUReason: "no NVML in tests"})
		assertNoLeftovers(t, dc, cfg.RunID)
		return rep, err
	}
	checkPulled := func(name string, rep *report.Report) {
		t.Helper()
		img := rep.Target.Image
		if img == nil || !img.Pulled || !strings.HasPrefix(img.Digest, "sha256:") || !strings.HasPrefix(img.ID, "sha256:") || img.Size <= 0 {
			t.Fatalf("%s: image %+v, want pulled with a repo digest", name, img)
		}
		cs := rep.ColdStart
		if cs == nil || cs.Phases.PullS == nil || *cs.Phases.PullS <= 0 {
			t.Fatalf("%s: cold start %+v, want a pull phase", name, cs)
		}
		if len(cs.Timeline) == 0 || cs.Timeline[0].Name != "pull" || cs.Timeline[0].StartS != 0 {
			t.Errorf("%s: timeline starts with %+v, want the pull at 0", name, cs.Timeline)
		}
		eng.mu.Lock()
		p := eng.last
		eng.mu.Unlock()
		t.Logf("%s: pulled %s (%d bytes, layers %d/%d, image %d bytes) in %.3fs; cold start %.3fs",
			name, img.Ref, p.Total, p.LayersDone, p.Layers, img.Size, *cs.Phases.PullS, *cs.TotalS)
	}

	rep, err := run("missing", "missing", true)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled("--pull missing", rep)
	if cs := rep.ColdStart; cs.PageCache != PageCacheDropped || cs.ModelBytesCachedBefore == nil || cs.ModelReadBytesPerS == nil || *cs.ModelReadBytesPerS <= 0 {
		t.Errorf("page cache %q, cached before %v, model read bandwidth %v; want dropped, a count and a bandwidth", cs.PageCache, cs.ModelBytesCachedBefore, cs.ModelReadBytesPerS)
	}

	rep, err = run("always", "always", false)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled("--pull always", rep)
	if rep.ColdStart.PageCache != PageCacheAsFound {
		t.Errorf("without --drop-caches the page cache is %q, want %q", rep.ColdStart.PageCache, PageCacheAsFound)
	}

	if err := dc.RemoveImage(ctx, ref); err != nil {
		t.Fatal(err)
	}
	rep, err = run("never", "never", false)
	if err == nil || !strings.Contains(err.Error(), "--pull never forbids pulling it") {
		t.Fatalf("--pull never with the image absent: %v", err)
	}
	if rep.Error == nil || rep.Error.Phase != "pull" {
		t.Errorf("--pull never: report error %+v, want phase pull", rep.Error)
	}
}

// modelsDir makes a models folder with a placeholder for each file the scenario needs.
func modelsDir(t *testing.T, cfg Config) string {
	t.Helper()
	p, err := newPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, m := range p.models {
		writeModel(t, dir, filepath.FromSlash(m), 4096)
	}
	os.Chmod(dir, 0o755)
	return dir
}
