package lab

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/docker"
)

// pullEngine is a fake engine for the image steps only: a set of local images and a scripted
// pull. The embedded Engine is nil: any other call panics, which the test would show.
type pullEngine struct {
	Engine
	images   map[string]docker.Image
	progress []docker.PullProgress // sent during a pull
	pullErr  error                 // the pull's outcome
	pulled   docker.Image          // what a successful pull leaves
	pulls    int
}

func (e *pullEngine) ImageInspect(_ context.Context, ref string) (docker.Image, error) {
	if img, ok := e.images[ref]; ok {
		return img, nil
	}
	return docker.Image{}, fmt.Errorf("inspect image %s: %w", ref, docker.ErrImageNotFound)
}

func (e *pullEngine) Pull(_ context.Context, ref string, fn func(docker.PullProgress)) error {
	e.pulls++
	for _, p := range e.progress {
		fn(p)
	}
	if e.pullErr != nil {
		return e.pullErr
	}
	e.images[ref] = e.pulled
	return nil
}

func TestResolveImagePullPolicies(t *testing.T) {
	const ref = "127.0.0.1:5000/comfy:1"
	local := docker.Image{ID: "sha256:old", Size: 100}
	fresh := docker.Image{ID: "sha256:new", Size: 200, RepoDigests: []string{"other.io/comfy@sha256:bbb", "127.0.0.1:5000/comfy@sha256:aaa"}}
	test := func(name, policy string, present bool, pullErr error, wantPulls int, wantErr string, wantPulled bool, wantID string) {
		t.Helper()
		e := &pullEngine{images: map[string]docker.Image{}, pulled: fresh, pullErr: pullErr,
			progress: []docker.PullProgress{{Layers: 1, Total: 10, Current: 5}}}
		if present {
			e.images[ref] = local
		}
		cfg := Defaults()
		cfg.Image, cfg.Pull = ref, PullPolicy(policy)
		var out bytes.Buffer
		r := newRun(cfg, Deps{Engine: e, Progress: &out})
		got, err := r.resolveImage(context.Background())
		if e.pulls != wantPulls {
			t.Errorf("%s: %d pulls, want %d", name, e.pulls, wantPulls)
		}
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("%s: error %v, want one containing %q", name, err, wantErr)
			}
			if wantPulls > 0 && r.pullSpan == nil {
				t.Errorf("%s: a failed pull left no span on the timeline", name)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != ref || r.image.Pulled != wantPulled || r.image.ID != wantID {
			t.Errorf("%s: ref %s, image %+v; want pulled=%v id=%s", name, got, r.image, wantPulled, wantID)
		}
		if wantPulled {
			if r.image.Digest != "sha256:aaa" {
				t.Errorf("%s: digest %q, want the one of the pulled repository, sha256:aaa", name, r.image.Digest)
			}
			if r.pullSpan == nil || r.pullSpan.Name != "pull" || r.pullSpan.End.Before(r.pullSpan.Start) {
				t.Errorf("%s: pull span %+v", name, r.pullSpan)
			}
		} else if r.pullSpan != nil {
			t.Errorf("%s: no pull, but a pull span", name)
		}
	}
	test("missing, present", "missing", true, nil, 0, "", false, "sha256:old")
	test("missing, absent", "missing", false, nil, 1, "", true, "sha256:new")
	test("always, present", "always", true, nil, 1, "", true, "sha256:new")
	test("never, present", "never", true, nil, 0, "", false, "sha256:old")
	test("never, absent", "never", false, nil, 0, "--pull never forbids pulling it", false, "")
	test("stream error", "missing", false, fmt.Errorf("pull %s: manifest unknown", ref), 1, "pull "+ref+": manifest unknown", false, "")
}

func TestRepoDigest(t *testing.T) {
	test := func(ref string, digests []string, want string) {
		t.Helper()
		if got := repoDigest(ref, digests); got != want {
			t.Errorf("repoDigest(%q, %q) = %q, want %q", ref, digests, got, want)
		}
	}
	test("busybox", nil, "")
	test("busybox", []string{"busybox@sha256:1"}, "sha256:1")
	test("docker.io/library/busybox:latest", []string{"mirror.io/busybox@sha256:2", "busybox@sha256:1"}, "sha256:1")
	test("127.0.0.1:5000/q:t", []string{"127.0.0.1:5000/q@sha256:3"}, "sha256:3")
	test("127.0.0.1:5000/q@sha256:3", []string{"x/y@sha256:9", "127.0.0.1:5000/q@sha256:3"}, "sha256:3")
	test("unrelated:1", []string{"a/b@sha256:4"}, "sha256:4") // no match: the first
}

// fakeClock advances by step on every reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

func TestPullDisplayPlain(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0), step: time.Second}
	var out bytes.Buffer
	d := newPullDisplay(&out, false, clk.now) // t=1s
	for i := 1; i <= 7; i++ {                 // t=2s … 8s
		d.update(docker.PullProgress{Layers: 2, LayersDone: i / 4, Current: int64(i) << 20, Total: 8 << 20})
	}
	d.finish()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	// One line every 3 s: at t=4s (3 MiB after 3 s) and t=7s (6 MiB after 6 s).
	want := []string{
		"  pull: 3.0 MiB / 8.0 MiB (37%), layers 0/2, 1.0 MiB/s",
		"  pull: 6.0 MiB / 8.0 MiB (75%), layers 1/2, 1.0 MiB/s",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("plain display wrote\n%q\nwant\n%q", lines, want)
	}
	if strings.ContainsAny(out.String(), "\r\x1b") {
		t.Errorf("plain display wrote terminal control characters: %q", out.String())
	}
}

func TestPullDisplayTTY(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0), step: 50 * time.Millisecond}
	var out bytes.Buffer
	d := newPullDisplay(&out, true, clk.now)
	for i := 1; i <= 10; i++ {
		d.update(docker.PullProgress{Layers: 3, LayersDone: i * 3 / 10, Current: int64(i) * 100, Total: 1000})
	}
	d.finish()
	s := out.String()
	// Redrawn in place (carriage return, erase line) at most every 100 ms, ended by a newline.
	draws := strings.Count(s, "\r\x1b[K")
	if draws < 4 || draws > 6 || !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Errorf("%d redraws in %q; want 4–6 redraws and one final newline", draws, s)
	}
	last := s[strings.LastIndex(s, "\r\x1b[K")+4:]
	if want := "  pull: 1000 B / 1000 B (100%), layers 3/3, "; !strings.HasPrefix(last, want) || !strings.HasSuffix(last, "B/s\n") {
		t.Errorf("final line %q, want %q… with a rate", last, want)
	}
}

func TestPullDisplayNothingToShow(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var out bytes.Buffer
		clk := &fakeClock{t: time.Unix(0, 0), step: time.Millisecond}
		d := newPullDisplay(&out, tty, clk.now)
		d.finish() // a pull that failed before any progress
		if out.Len() != 0 {
			t.Errorf("tty=%v: wrote %q for a pull without progress", tty, out.String())
		}
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}

// FuzzRepoDigest: whatever the engine reports, the digest is taken from one of its repo
// digests, and nothing panics.
func FuzzRepoDigest(f *testing.F) {
	f.Add("127.0.0.1:5000/q:t", "127.0.0.1:5000/q@sha256:3", "x@sha256:1")
	f.Add("docker.io/library/busybox", "busybox@sha256:1", "")
	f.Add("a@b:c/d", "@", ":@/")
	f.Fuzz(func(t *testing.T, ref, d1, d2 string) {
		got := repoDigest(ref, []string{d1, d2})
		if !strings.HasSuffix(d1, got) && !strings.HasSuffix(d2, got) {
			t.Fatalf("repoDigest(%q, %q, %q) = %q, not from either", ref, d1, d2, got)
		}
	})
}
