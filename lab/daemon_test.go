package lab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/docker"
)

// socketProxy forwards a unix socket to the Docker Engine's, until cut.
type socketProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newSocketProxy(t *testing.T, target string) *socketProxy {
	t.Helper()
	path := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	p := &socketProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("unix", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *socketProxy) host() string { return "unix://" + p.ln.Addr().String() }

// cut is the engine going away: no new connections, every open one dropped.
func (p *socketProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// syncBuffer is a progress writer the test can read while the run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDockerEngineGoesAway: the engine stops answering in the middle of the warm runs. The run
// ends at once with a clear error, the report keeps the runs measured so far and says that
// teardown could not be confirmed.
func TestDockerEngineGoesAway(t *testing.T) {
	direct, ref := realEngine(t)
	proxy := newSocketProxy(t, "/var/run/docker.sock")
	t.Setenv("DOCKER_HOST", proxy.host())
	dc, err := docker.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	cfg := engineConfig(t, "daemon")
	cfg.Runs = 500
	cfg.TeardownTimeout = 3 * time.Second
	t.Cleanup(func() { // the container outlived qwenlab's view of the engine
		left, _ := direct.ListLabelled(context.Background(), cfg.RunID)
		for _, r := range left {
			direct.RemoveResource(context.Background(), r)
		}
	})
	progress := &syncBuffer{}
	deps := engineDeps(dc, ref, cfg)
	deps.Progress = lineTo(progress)
	go func() {
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(progress.String(), "run 3/") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		proxy.cut()
	}()
	start := time.Now()
	rep, err := UpAndBench(context.Background(), cfg, deps)
	var lost *EngineLostError
	if !errors.As(err, &lost) {
		t.Fatalf("want an EngineLostError, got %v\nprogress:\n%s", err, progress.String())
	}
	if lost.Phase != "warm runs" {
		t.Errorf("lost during %q", lost.Phase)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %s to notice", took)
	}
	if rep.Warm == nil || len(rep.Warm.Runs) < 3 || rep.Warm.Summary.N < 2 {
		t.Fatalf("the runs measured before the engine went away are lost: %+v", rep.Warm)
	}
	if rep.Error == nil || !strings.Contains(rep.Error.Message, "lost the Docker Engine") {
		t.Errorf("report error: %+v", rep.Error)
	}
	if rep.Teardown.Removed || len(rep.Teardown.Leftovers) != 1 || !strings.HasPrefix(rep.Teardown.Leftovers[0], "container ") || !strings.HasSuffix(rep.Teardown.Leftovers[0], " (not confirmed removed: engine unreachable)") {
		t.Errorf("teardown claims success without an engine, or does not name the container: %+v", rep.Teardown)
	}
	// One message: the engine lost mid-run, naming the container and the cleanup command;
	// no raw request URLs.
	msg := err.Error()
	if !strings.Contains(msg, "qwenlab cleanup --run "+cfg.RunID) || !strings.Contains(msg, "may still exist") || strings.Contains(msg, "%2F") || strings.Count(msg, "lost the Docker Engine") != 1 {
		t.Errorf("error: %s", msg)
	}
	t.Logf("error: %s\nteardown: %+v", msg, rep.Teardown)
}
