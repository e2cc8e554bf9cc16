package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// testClient connects to the real daemon, skipping only when none answers.
func testClient(t testing.TB) *Client {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: integration test against the Docker Engine skipped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := New(ctx)
	if errors.Is(err, ErrUnreachable) {
		t.Skipf("no Docker daemon reachable, integration test skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newRunID(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "test-" + hex.EncodeToString(b)
}

// sweep removes everything labelled with runID, even if the test failed.
func sweep(t testing.TB, c *Client, runID string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		rs, err := c.ListLabelled(ctx, runID)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, r := range rs {
			if err := c.RemoveResource(ctx, r); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
}

// testImage builds the simulator image from the test binary itself (see
// TestMain) into a repository of this test's own, removed afterwards.
func testImage(t testing.TB, c *Client, runID string) string {
	t.Helper()
	c.simRepo = "qwenlab-sim-" + runID
	t.Cleanup(func() { removeRepo(t, c, c.simRepo) })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	ref, err := c.SimImage(ctx, exe, &out)
	if err != nil {
		t.Fatalf("SimImage: %v\n%s", err, out.String())
	}
	return ref
}

func removeRepo(t testing.TB, c *Client, repo string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	list, err := c.cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", repo)})
	if err != nil {
		t.Errorf("cleanup images: %v", err)
		return
	}
	for _, im := range list.Items {
		if _, err := c.cli.ImageRemove(ctx, im.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("cleanup image %s: %v", im.ID, err)
		}
	}
}

// startSleeper creates (does not start) a container of image: enough for the engine to
// refuse removing the image. The caller removes it; cleanup removes it if the test fails.
func startSleeper(t *testing.T, c *Client, image, runID string) string {
	t.Helper()
	id, err := c.Create(context.Background(), Spec{Name: "qwenlab-" + runID + "-user", Image: image, Labels: map[string]string{LabelRun: runID}, ContainerPort: SimPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(context.Background(), id) })
	return id
}

// startTest creates and starts a container of image, removed at cleanup.
func startTest(t *testing.T, c *Client, s Spec) (string, State) {
	t.Helper()
	ctx := context.Background()
	id, err := c.Create(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Remove(context.Background(), id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, err := c.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return id, st
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIntegration(t *testing.T) {
	c := testClient(t)
	runID := newRunID(t)
	sweep(t, c, runID)
	ctx := context.Background()

	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.ServerVersion == "" || info.APIVersion == "" || info.NCPU < 1 || info.MemTotal <= 0 || len(info.Runtimes) == 0 || info.NVIDIAHint == "" {
		t.Errorf("Info incomplete: %+v", info)
	}
	t.Logf("daemon %s, API %s, runtimes %v: %s", info.ServerVersion, info.APIVersion, info.Runtimes, info.NVIDIAHint)

	ref := testImage(t, c, runID)
	labels := map[string]string{LabelRun: runID}

	t.Run("SimImage", func(t *testing.T) {
		if !strings.HasPrefix(ref, c.simRepo+":") || len(ref) != len(c.simRepo)+1+12 {
			t.Errorf("ref %q, want %s:<12 hex>", ref, c.simRepo)
		}
		im, err := c.ImageInspect(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(im.Entrypoint, []string{"/qwenlab", "sim"}) ||
			!slices.Equal(im.Cmd, []string{"--listen", "0.0.0.0", "--port", "8188", "--models", "/models"}) ||
			!strings.HasPrefix(im.ID, "sha256:") || im.Size <= 0 {
			t.Errorf("image = %+v", im)
		}
		raw, err := c.cli.ImageInspect(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if raw.Config.Labels[LabelSim] != "1" {
			t.Errorf("labels %v lack %s=1", raw.Config.Labels, LabelSim)
		}
		if _, ok := raw.Config.ExposedPorts["8188/tcp"]; !ok {
			t.Errorf("exposed ports %v lack 8188/tcp", raw.Config.ExposedPorts)
		}
		// Reused, not rebuilt.
		exe, _ := os.Executable()
		var out bytes.Buffer
		again, err := c.SimImage(ctx, exe, &out)
		if err != nil || again != ref || strings.Contains(out.String(), "building") {
			t.Errorf("second SimImage = %q, %v, output %q; want %q reused", again, err, out.String(), ref)
		}
		// A new build (from another executable) leaves the other build's fresh image alone:
		// another qwenlab may be about to create its container from it (issue 10, item 4).
		dir := t.TempDir()
		static := buildStatic(t, dir)
		newRef, err := c.SimImage(ctx, static, &out)
		if err != nil {
			t.Fatalf("SimImage(static): %v\n%s", err, out.String())
		}
		if newRef == ref {
			t.Fatalf("static image has the same tag %s", ref)
		}
		if _, err := c.ImageInspect(ctx, ref); err != nil {
			t.Errorf("fresh tag %s after another build: %v, want it kept", ref, err)
		}
		// Once past the grace period and unused, an old image is pruned by the next build;
		// one a container uses is kept whatever its age.
		cont := startSleeper(t, c, ref, runID)
		c.simGrace = time.Nanosecond
		defer func() { c.simGrace = 0 }()
		rebuilt, err := c.SimImage(ctx, exe, &out) // reuses ref, prunes the static one
		if err != nil || rebuilt != ref {
			t.Fatalf("SimImage = %q, %v, want %q", rebuilt, err, ref)
		}
		if _, err := c.ImageInspect(ctx, newRef); !errors.Is(err, ErrImageNotFound) {
			t.Errorf("old unused tag %s after a build past the grace period: %v, want removed", newRef, err)
		}
		again2, err := c.SimImage(ctx, static, &out)
		if err != nil || again2 != newRef {
			t.Fatalf("SimImage(static) = %q, %v", again2, err)
		}
		if _, err := c.ImageInspect(ctx, ref); err != nil {
			t.Errorf("tag %s in use by container %s was removed: %v", ref, cont, err)
		}
		if err := c.Remove(ctx, cont); err != nil {
			t.Fatal(err)
		}
		c.simGrace = 0
		// Put the test image back as the only one for the other subtests.
		ref2, err := c.SimImage(ctx, exe, &out)
		if err != nil || ref2 != ref {
			t.Fatalf("rebuild = %q, %v, want %q", ref2, err, ref)
		}
	})

	t.Run("SimImageConcurrent", func(t *testing.T) {
		// Two builds of one tag and two of another at once (as two qwenlab processes would):
		// every call gets an image that exists afterwards, and no simulator image is left
		// dangling.
		dir := t.TempDir()
		exe, _ := os.Executable()
		other := filepath.Join(dir, "qwenlab-other")
		data, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(other, append(data, 0), 0o755); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		refs := make([]string, 4)
		errs := make([]error, 4)
		for i, x := range []string{other, other, exe, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				refs[i], errs[i] = c.SimImage(ctx, x, io.Discard)
			}()
		}
		wg.Wait()
		for i := range refs {
			if errs[i] != nil {
				t.Fatalf("build %d: %v", i, errs[i])
			}
			if _, err := c.ImageInspect(ctx, refs[i]); err != nil {
				t.Errorf("build %d: %s missing afterwards: %v", i, refs[i], err)
			}
		}
		// Under the build lock: another package's test may be building right now, and its
		// last step is an untagged image until the tag lands.
		unlock, err := lockFile(simBuildLock())
		if err != nil {
			t.Fatal(err)
		}
		dangling, err := c.cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("dangling", "true").Add("label", LabelSim+"=1")})
		unlock()
		if err != nil {
			t.Fatal(err)
		}
		if len(dangling.Items) > 0 {
			t.Errorf("%d dangling simulator image(s) left", len(dangling.Items))
		}
	})

	t.Run("Lifecycle", func(t *testing.T) {
		models := t.TempDir()
		if err := os.WriteFile(filepath.Join(models, "model.safetensors"), []byte("weights"), 0o644); err != nil {
			t.Fatal(err)
		}
		id, st := startTest(t, c, Spec{
			Name: "qwenlab-" + runID, Image: ref, Labels: labels, ContainerPort: SimPort,
			Mounts: []Mount{{Source: models, Target: "/models", ReadOnly: true}}, Init: true,
		})
		if !st.Running || st.Status != "running" || st.HostPort == 0 || st.StartedAt.IsZero() || st.Pid == 0 {
			t.Fatalf("state after start = %+v", st)
		}
		raw, err := c.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range raw.Container.NetworkSettings.Ports[network.MustParsePort("8188/tcp")] {
			if b.HostIP.String() != "127.0.0.1" {
				t.Errorf("port bound to %s, want 127.0.0.1 only", b.HostIP)
			}
		}
		if len(raw.Container.Mounts) != 1 || raw.Container.Mounts[0].RW || raw.Container.Mounts[0].Destination != "/models" {
			t.Errorf("mounts = %+v, want /models read-only", raw.Container.Mounts)
		}
		if hc := raw.Container.HostConfig; hc.Privileged || hc.NetworkMode.IsHost() || hc.Init == nil || !*hc.Init {
			t.Errorf("host config: privileged %v, network %s, init %v", hc.Privileged, hc.NetworkMode, hc.Init)
		}
		base := fmt.Sprintf("http://127.0.0.1:%d", st.HostPort)
		waitHTTP(t, base+"/system_stats")

		var mu sync.Mutex
		var lines []LogLine
		logsDone := make(chan error, 1)
		go func() {
			logsDone <- c.FollowLogs(context.Background(), id, func(l LogLine) {
				mu.Lock()
				lines = append(lines, l)
				mu.Unlock()
			})
		}()
		// Stats while it runs.
		sctx, scancel := context.WithTimeout(ctx, 2500*time.Millisecond)
		var samples []Stats
		err = c.StreamStats(sctx, id, func(s Stats) { samples = append(samples, s) })
		scancel()
		if err != nil {
			t.Errorf("StreamStats: %v", err)
		}
		if len(samples) == 0 || samples[len(samples)-1].MemUsed <= 0 || samples[len(samples)-1].MemLimit <= 0 || samples[0].Time.IsZero() {
			t.Errorf("stats samples = %+v", samples)
		}

		if resp, err := http.Get(base + "/print?n=1000"); err == nil {
			resp.Body.Close()
		} else {
			t.Fatal(err)
		}
		exitC := c.WaitExit(ctx, id)
		asked := time.Now()
		if resp, err := http.Get(base + "/exit?code=3"); err == nil {
			resp.Body.Close()
		}
		select {
		case st := <-exitC:
			t.Logf("WaitExit noticed the exit %v after it was requested", time.Since(asked))
			if st.Running || st.ExitCode != 3 || st.Status != "exited" || st.FinishedAt.IsZero() || st.Error != "" {
				t.Errorf("final state = %+v, want exited with 3", st)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("WaitExit never reported the exit")
		}
		select {
		case err := <-logsDone:
			if err != nil {
				t.Errorf("FollowLogs: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("FollowLogs did not end when the container exited")
		}
		mu.Lock()
		defer mu.Unlock()
		text := map[string]LogLine{}
		printed := 0
		for _, l := range lines {
			text[l.Text] = l
			if strings.HasPrefix(l.Text, "line ") && l.Stream == "stdout" && !l.Partial {
				printed++
			}
			if l.Time.Before(st.StartedAt.Add(-time.Second)) || l.Time.After(time.Now().Add(time.Second)) {
				t.Errorf("line %q has timestamp %v outside the container's life (started %v)", l.Text, l.Time, st.StartedAt)
			}
		}
		if printed != 1000 {
			t.Errorf("%d of 1000 printed lines seen", printed)
		}
		for _, want := range []LogLine{
			{Stream: "stdout", Text: "sim: starting"},
			{Stream: "stdout", Text: "sim: tmp mode=dtrwxrwxrwx writable=true"},
			{Stream: "stdout", Text: "sim: models readable=true writable=false"},
			{Stream: "stderr", Text: "  0%|          |", Partial: true},
			{Stream: "stderr", Text: " 50%|#####     |", Partial: true},
			{Stream: "stderr", Text: "100%|##########|"},
			{Stream: "stdout", Text: "sim: exiting with 3"},
		} {
			got, ok := text[want.Text]
			if !ok {
				t.Errorf("no log line %q", want.Text)
				continue
			}
			got.Time = time.Time{}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("line %q (-want +got):\n%s", want.Text, diff)
			}
		}
		if t.Failed() {
			t.Logf("lines: %+v", lines[:min(len(lines), 20)])
		}

		if err := c.Stop(ctx, id, time.Second); err != nil {
			t.Errorf("Stop of an exited container: %v", err)
		}
		if err := c.Remove(ctx, id); err != nil {
			t.Errorf("Remove: %v", err)
		}
		if err := c.Remove(ctx, id); err != nil {
			t.Errorf("second Remove: %v", err)
		}
		if err := c.Stop(ctx, id, time.Second); err != nil {
			t.Errorf("Stop of a removed container: %v", err)
		}
		if _, err := c.Inspect(ctx, id); err == nil {
			t.Error("Inspect of a removed container succeeded")
		}
	})

	t.Run("StopRunning", func(t *testing.T) {
		id, st := startTest(t, c, Spec{Image: ref, Labels: labels, ContainerPort: SimPort, Init: true})
		// Serving means its SIGTERM handler is installed; a stop before that would kill it.
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/system_stats", st.HostPort))
		exitC := c.WaitExit(ctx, id)
		if err := c.Stop(ctx, id, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		st = <-exitC
		if st.Running || st.ExitCode != 0 {
			t.Errorf("state after Stop = %+v, want a clean exit (SIGTERM handled)", st)
		}
		// WaitExit on a removed container reports, not hangs.
		if err := c.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
		select {
		case st := <-c.WaitExit(ctx, id):
			if st.Error == "" {
				t.Errorf("WaitExit of a removed container = %+v, want an Error", st)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("WaitExit of a removed container hung")
		}
	})

	t.Run("WaitExitCancel", func(t *testing.T) {
		id, _ := startTest(t, c, Spec{Image: ref, Labels: labels, ContainerPort: SimPort})
		wctx, cancel := context.WithCancel(ctx)
		ch := c.WaitExit(wctx, id)
		cancel()
		select {
		case st, ok := <-ch:
			if ok {
				t.Errorf("WaitExit after cancel sent %+v, want a closed channel", st)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("WaitExit did not close after cancel")
		}
		// FollowLogs ends with nil when its context does.
		lctx, lcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer lcancel()
		n := 0
		if err := c.FollowLogs(lctx, id, func(LogLine) { n++ }); err != nil {
			t.Errorf("FollowLogs after its context ended: %v", err)
		}
		if n == 0 {
			t.Error("FollowLogs saw no lines of a running container")
		}
	})

	t.Run("PortInUse", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		id, err := c.Create(ctx, Spec{Image: ref, Labels: labels, ContainerPort: SimPort, HostPort: port})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Remove(context.Background(), id) })
		err = c.Start(ctx, id)
		if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), fmt.Sprint(port)) {
			t.Errorf("Start on a taken port: %v, want ErrPortInUse naming %d", err, port)
		}
	})

	t.Run("GPUDeviceRequests", func(t *testing.T) {
		caps := [][]string{{"gpu", "compute", "utility"}}
		for _, tc := range []struct {
			gpus string
			want []container.DeviceRequest
		}{
			{"none", nil},
			{"all", []container.DeviceRequest{{Driver: "nvidia", Count: -1, Capabilities: caps}}},
			{"2", []container.DeviceRequest{{Driver: "nvidia", Count: 2, Capabilities: caps}}},
			{"count=1", []container.DeviceRequest{{Driver: "nvidia", Count: 1, Capabilities: caps}}},
			{`"device=0,2"`, []container.DeviceRequest{{Driver: "nvidia", DeviceIDs: []string{"0", "2"}, Capabilities: caps}}},
			{"device=GPU-3a23c669-1f69-c64e-cf85-44e9b07e7a2a", []container.DeviceRequest{{Driver: "nvidia", DeviceIDs: []string{"GPU-3a23c669-1f69-c64e-cf85-44e9b07e7a2a"}, Capabilities: caps}}},
			{"cdi:nvidia.com/gpu=all", []container.DeviceRequest{{Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=all"}}}},
		} {
			g, err := ParseGPUs(tc.gpus)
			if err != nil {
				t.Fatal(err)
			}
			id, err := c.Create(ctx, Spec{Image: ref, Labels: labels, GPUs: g})
			if err != nil {
				t.Fatalf("--gpus %s: %v", tc.gpus, err)
			}
			raw, err := c.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
			if rerr := c.Remove(ctx, id); rerr != nil {
				t.Errorf("remove: %v", rerr)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := raw.Container.HostConfig.DeviceRequests
			for i := range got {
				got[i].Options = nil // the daemon may add an empty map
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b []container.DeviceRequest) bool {
				return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b)
			})); diff != "" {
				t.Errorf("--gpus %s: DeviceRequests (-want +got):\n%s", tc.gpus, diff)
			}
			hasCaps := slices.Contains(raw.Container.Config.Env, "NVIDIA_DRIVER_CAPABILITIES=compute,utility")
			if hasCaps != (len(tc.want) > 0 && tc.want[0].Driver == "nvidia") {
				t.Errorf("--gpus %s: env %v", tc.gpus, raw.Container.Config.Env)
			}
		}
	})

	t.Run("GPUError", func(t *testing.T) {
		if slices.Contains(info.Runtimes, "nvidia") || len(info.CDIDevices) > 0 {
			t.Skip("this daemon advertises NVIDIA support; the no-GPU error path cannot be shown here")
		}
		for _, gpus := range []string{"all", "cdi:nvidia.com/gpu=all"} {
			g, _ := ParseGPUs(gpus)
			id, err := c.Create(ctx, Spec{Image: ref, Labels: labels, GPUs: g})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Start(ctx, id)
			var ge *GPUError
			if !errors.As(err, &ge) {
				t.Errorf("--gpus %s: Start = %v, want a *GPUError", gpus, err)
			} else {
				t.Logf("--gpus %s: %v", gpus, err)
				if !strings.Contains(err.Error(), "NVIDIA Container Toolkit") || !strings.Contains(err.Error(), "--gpus none") {
					t.Errorf("GPUError message lacks the hints: %v", err)
				}
				if wantCDI := strings.HasPrefix(gpus, "cdi:"); wantCDI != (ge.Driver == "cdi") {
					t.Errorf("--gpus %s: driver %q", gpus, ge.Driver)
				}
			}
			if st, err := c.Inspect(ctx, id); err != nil || st.Running {
				t.Errorf("after a failed start: %+v, %v", st, err)
			}
			if err := c.Remove(ctx, id); err != nil {
				t.Errorf("container of a failed start not removable: %v", err)
			}
		}
	})

	t.Run("CopyFiles", func(t *testing.T) {
		id, err := c.Create(ctx, Spec{Name: "qwenlab-copy-" + runID, Image: ref, Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Remove(context.Background(), id) })
		want := []byte(`{"3": {"class_type": "KSampler"}}`)
		if err := c.CopyFiles(ctx, id, map[string][]byte{"/qwenlab-input/workflow.json": want, "/qwenlab-input/deep/s.json": []byte("{}")}); err != nil {
			t.Fatal(err)
		}
		res, err := c.cli.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: "/qwenlab-input/workflow.json"})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Content.Close()
		tr := tar.NewReader(res.Content)
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(tr)
		if err != nil || h.Name != "workflow.json" || h.Mode&0o777 != 0o644 || !bytes.Equal(got, want) {
			t.Errorf("read back %q (mode %o): %q, %v; want %q", h.Name, h.Mode, got, err, want)
		}
		for _, bad := range []string{"/a/../etc/passwd", "/", "rel//x"} {
			if err := c.CopyFiles(ctx, id, map[string][]byte{bad: nil}); err == nil || !strings.Contains(err.Error(), "not a clean file path") {
				t.Errorf("CopyFiles(%q) = %v, want a refusal", bad, err)
			}
		}
	})

	t.Run("Labelled", func(t *testing.T) {
		id, err := c.Create(ctx, Spec{Name: "qwenlab-lab-" + runID, Image: ref, Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.cli.NetworkCreate(ctx, "qwenlab-"+runID, client.NetworkCreateOptions{Labels: labels}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "qwenlab-" + runID, Labels: labels}); err != nil {
			t.Fatal(err)
		}
		rs, err := c.ListLabelled(ctx, runID)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, r := range rs {
			kinds = append(kinds, r.Kind)
			if r.RunID != runID || r.Created.IsZero() || r.Name == "" {
				t.Errorf("resource %+v", r)
			}
		}
		if !slices.Equal(kinds, []string{"container", "network", "volume"}) {
			t.Fatalf("ListLabelled = %+v, want a container, a network and a volume", rs)
		}
		if rs[0].ID != id || rs[0].Image != ref || rs[0].State != "created" {
			t.Errorf("container resource = %+v", rs[0])
		}
		any, err := c.ListLabelled(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if !slices.ContainsFunc(any, func(a Resource) bool { return a.ID == r.ID }) {
				t.Errorf("ListLabelled(\"\") lacks %+v", r)
			}
		}
		if err := c.RemoveResource(ctx, Resource{Kind: "container", ID: id}); err == nil {
			t.Error("RemoveResource without a run id succeeded")
		}
		for _, r := range rs {
			if err := c.RemoveResource(ctx, r); err != nil {
				t.Error(err)
			}
			if err := c.RemoveResource(ctx, r); err != nil {
				t.Errorf("second removal of %s: %v", r.Kind, err)
			}
		}
		if rs, err := c.ListLabelled(ctx, runID); err != nil || len(rs) != 0 {
			t.Errorf("after removal: %+v, %v", rs, err)
		}
	})

	t.Run("MissingImage", func(t *testing.T) {
		missing := "qwenlab-no-such-image:" + runID
		_, err := c.ImageInspect(ctx, missing)
		if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), missing) ||
			!strings.Contains(err.Error(), "--pull always") || !strings.Contains(err.Error(), "docker pull") {
			t.Errorf("ImageInspect(missing) = %v", err)
		}
		if _, err := c.Create(ctx, Spec{Image: missing, Labels: labels}); !errors.Is(err, ErrImageNotFound) {
			t.Errorf("Create(missing image) = %v, want ErrImageNotFound", err)
		}
	})

	t.Run("PullUnreachable", func(t *testing.T) {
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		start := time.Now()
		calls := 0
		err := c.Pull(pctx, "127.0.0.1:1/qwenlab/nothing:latest", func(PullProgress) { calls++ })
		if err == nil || !strings.Contains(err.Error(), "pull 127.0.0.1:1/qwenlab/nothing:latest") {
			t.Errorf("Pull from a closed loopback port = %v", err)
		}
		t.Logf("pull failed after %v: %v", time.Since(start), err)
	})
}

func TestNewUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no.sock"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := New(ctx)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("New with a dead socket = %v, want ErrUnreachable", err)
	}
	// A socket that does not exist is not a permission problem (issue 10, item 15).
	for _, want := range []string{"is the Docker daemon running?", "DOCKER_HOST=unix://", "no.sock does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "docker group") {
		t.Errorf("error %q blames permissions for a missing socket", err)
	}
}

func BenchmarkCreateStart(b *testing.B) {
	c := testClient(b)
	runID := newRunID(b)
	sweep(b, c, runID)
	ref := testImage(b, c, runID)
	ctx := context.Background()
	s := Spec{Image: ref, Labels: map[string]string{LabelRun: runID}, ContainerPort: SimPort, Init: true}
	var up, down time.Duration
	for b.Loop() {
		t0 := time.Now()
		id, err := c.Create(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(ctx, id); err != nil {
			c.Remove(ctx, id)
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := c.Remove(ctx, id); err != nil {
			b.Fatal(err)
		}
		up += t1.Sub(t0)
		down += time.Since(t1)
	}
	// Create+start alone is what compares with `docker run -d`.
	b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "create+start-ms/op")
	b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "remove-ms/op")
}

// BenchmarkDockerRunCLI is the yardstick for BenchmarkCreateStart: `docker run -d` of the
// same image with the same port, label and init, through the docker CLI.
func BenchmarkDockerRunCLI(b *testing.B) {
	bin, err := exec.LookPath("docker")
	if err != nil {
		b.Skip("no docker CLI")
	}
	c := testClient(b)
	runID := newRunID(b)
	sweep(b, c, runID)
	ref := testImage(b, c, runID)
	var up time.Duration
	for b.Loop() {
		t0 := time.Now()
		out, err := exec.Command(bin, "run", "-d", "--init", "--label", LabelRun+"="+runID, "-p", "127.0.0.1::8188", ref).Output()
		if err != nil {
			b.Fatalf("docker run: %v", err)
		}
		up += time.Since(t0)
		if err := c.Remove(context.Background(), strings.TrimSpace(string(out))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "create+start-ms/op")
}
