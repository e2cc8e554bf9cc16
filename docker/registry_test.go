package docker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/docker/dockertest"
)

// TestRegistryPushPull pushes the test simulator image to a loopback
// registry, removes it locally and pulls it back: progress is reported,
// the image returns with a repo digest, and errors of the pull (a tag the
// registry lacks, a malformed reference, a registry that is not there) are
// errors.
func TestRegistryPushPull(t *testing.T) {
	c := testClient(t)
	reg := dockertest.StartRegistry(t)
	runID := newRunID(t)
	src := testImage(t, c, runID)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ref := reg.Ref("qwenlab-sim-"+runID, "test")
	if err := c.Tag(ctx, src, ref); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeRepo(t, c, reg.Host+"/qwenlab-sim-"+runID) })
	if err := c.Push(ctx, ref); err != nil {
		t.Fatal(err)
	}
	// Remove every reference so the layers go too and the pull is a real one.
	for _, r := range []string{ref, src} {
		if err := c.RemoveImage(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ImageInspect(ctx, ref); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("after RemoveImage: inspect gave %v, want ErrImageNotFound", err)
	}
	if err := c.RemoveImage(ctx, ref); !errors.Is(err, ErrImageNotFound) {
		t.Errorf("RemoveImage of a missing reference: %v, want ErrImageNotFound", err)
	}

	var last PullProgress
	calls := 0
	if err := c.Pull(ctx, ref, func(p PullProgress) { last = p; calls++ }); err != nil {
		t.Fatal(err)
	}
	if calls == 0 || last.Layers == 0 || last.LayersDone != last.Layers || last.Total <= 0 || last.Current != last.Total {
		t.Errorf("after %d progress calls the last was %+v; want every layer done and all bytes counted", calls, last)
	}
	img, err := c.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.RepoDigests) == 0 || !strings.Contains(img.RepoDigests[0], "@sha256:") {
		t.Errorf("pulled image has repo digests %q, want one", img.RepoDigests)
	}

	// Errors: a tag the registry lacks, a bad reference, nobody listening.
	missing := reg.Ref("qwenlab-sim-"+runID, "nope")
	if err := c.Pull(ctx, missing, nil); err == nil || !strings.Contains(err.Error(), "pull "+missing) {
		t.Errorf("pull of a missing tag: %v, want an error naming it", err)
	} else {
		t.Logf("missing tag: %v", err)
	}
	if err := c.Pull(ctx, "Not_A/Valid::Ref", nil); err == nil {
		t.Error("pull of a malformed reference succeeded")
	}
	if err := c.Push(ctx, reg.Ref("qwenlab-sim-"+runID, "absent")); err == nil {
		t.Error("push of an image that does not exist succeeded")
	}
}
