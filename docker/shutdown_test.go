package docker

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestAliveSeesARealEngineShutdown runs a second Docker Engine of its own — in its own network
// namespace, with its own data, exec root, socket and pidfile, no bridge and no iptables: never
// the machine's — starts a container on it and stops the engine the normal way (SIGTERM). The
// connections the client already holds still answer: the wait reports a clean exit (code 0) and
// an inspect succeeds, exactly what a crashing container looks like (issue 10, item 17). Only a
// fresh connection, Alive, shows the engine is going away.
func TestAliveSeesARealEngineShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Docker Engine of its own")
	}
	dockerd, err1 := exec.LookPath("dockerd")
	unshare, err2 := exec.LookPath("unshare")
	if os.Geteuid() != 0 || err1 != nil || err2 != nil {
		t.Skip("needs root, dockerd and unshare to run a Docker Engine of its own")
	}
	dir, err := os.MkdirTemp("", "qwd2-") // short: the engine's sockets live below it
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(unshare, "-n", "--", "sh", "-c", `ip link set lo up 2>/dev/null; exec "$0" "$@"`,
		dockerd, "--config-file", filepath.Join(dir, "daemon.json"), "--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"), "-H", "unix://"+sock, "--pidfile", filepath.Join(dir, "docker.pid"),
		"--bridge=none", "--iptables=false", "--ip6tables=false")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
		os.RemoveAll(dir)
	})

	t.Setenv("DOCKER_HOST", "unix://"+sock)
	var c *Client
	for deadline := time.Now().Add(60 * time.Second); ; {
		c, err = New(context.Background())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("our own engine did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ref, err := c.SimImage(ctx, exe, &out)
	if err != nil {
		t.Fatalf("SimImage: %v\n%s", err, out.String())
	}
	id, err := c.Create(ctx, Spec{Name: "qwenlab-shutdown", Image: ref, Network: "none", Labels: map[string]string{LabelRun: "shutdown"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	exitC := c.WaitExit(ctx, id)
	started := make(chan struct{})
	go c.FollowLogs(ctx, id, func(l LogLine) {
		t.Logf("container: %s", l.Text)
		if l.Text == "sim: starting" {
			close(started)
		}
	})
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the container did not start")
	}
	time.Sleep(100 * time.Millisecond)
	if st, err := c.Inspect(ctx, id); err != nil || !st.Running {
		t.Fatalf("container not running: %+v, %v\n%s", st, err, logs.String())
	}
	if err := c.Alive(ctx); err != nil {
		t.Fatalf("a live engine: Alive = %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil { // our own engine, nobody else's
		t.Fatal(err)
	}
	var st State
	select {
	case st = <-exitC:
	case <-time.After(60 * time.Second):
		t.Fatalf("no exit reported after the engine's SIGTERM\n%s", logs.String())
	}
	t.Logf("after SIGTERM to the engine, the held connection reports %+v", st)
	if st.Running || st.Error != "" || st.Status == "removed" {
		t.Logf("the engine's shutdown shows in the wait itself here: %+v", st)
	} else if st.ExitCode != 0 && st.ExitCode != 143 {
		t.Errorf("exit code %d: want the clean stop of an engine shutdown (0 or 143)", st.ExitCode)
	}
	actx, acancel := context.WithTimeout(ctx, 2*time.Second)
	defer acancel()
	if err := c.Alive(actx); !errors.Is(err, ErrUnreachable) {
		t.Errorf("the engine is shutting down, yet Alive = %v", err)
	} else {
		t.Logf("Alive: %v", err)
	}
}
