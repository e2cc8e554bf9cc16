package lab

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

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
		r := newRun(cfg, Deps{Engine: e, Progress: lineTo(&out)})
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
