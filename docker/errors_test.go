package docker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// droppingEngine is an engine on a unix socket that answers every request by closing the
// connection (an engine going away mid-request), or by never answering (frozen).
func droppingEngine(t *testing.T, frozen bool) (*Client, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf) // the request
				if frozen {
					<-release
				}
			}()
		}
	}()
	cli, err := client.New(client.WithHost("unix://"+sock), client.WithAPIVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return &Client{cli: cli, apiVersion: "1.41"}, sock
}

// Engine errors are readable (issue 10, item 19): no URL-encoded socket path, the engine's
// endpoint named, and classified as unreachable so teardown can say the engine is gone.
func TestUnansweredRequestsNameTheEngine(t *testing.T) {
	c, sock := droppingEngine(t, false)
	for name, err := range map[string]error{
		"stop":   c.Stop(context.Background(), "0123456789abcdef0123456789abcdef", time.Second),
		"remove": c.Remove(context.Background(), "0123456789abcdef0123456789abcdef"),
		"list": func() error {
			_, err := c.ListLabelled(context.Background(), "run1")
			return err
		}(),
	} {
		if err == nil {
			t.Fatalf("%s: no error from an engine that drops the connection", name)
		}
		msg := err.Error()
		if strings.Contains(msg, "%2F") || strings.Contains(msg, "http://") {
			t.Errorf("%s: raw request URL in %q", name, msg)
		}
		if !strings.Contains(msg, "unix://"+sock) {
			t.Errorf("%s: %q does not name the engine at unix://%s", name, msg, sock)
		}
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("%s: %v does not wrap ErrUnreachable", name, err)
		}
	}

	frozen, _ := droppingEngine(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := frozen.Stop(ctx, "0123456789ab", time.Second)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnreachable) || strings.Contains(err.Error(), "%2F") {
		t.Errorf("frozen engine: stop gave %v, want a readable deadline error that wraps ErrUnreachable", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := frozen.Stop(cctx, "0123456789ab", time.Second); errors.Is(err, ErrUnreachable) {
		t.Errorf("a request the caller cancelled blames the engine: %v", err)
	}
}

// Alive uses a fresh connection: an engine that stopped accepting connections is not alive
// even while connections the client already holds still work.
func TestAliveDialsAfresh(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	cli, err := client.New(client.WithHost("unix://"+sock), client.WithAPIVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	c := &Client{cli: cli, apiVersion: "1.41"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Alive(ctx); err != nil {
		t.Fatalf("a live engine: %v", err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil { // a pooled keep-alive connection
		t.Fatal(err)
	}
	ln.Close() // the engine's shutdown: no new connections; the open one still answers
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		t.Fatalf("the held connection should still answer: %v", err)
	}
	err = c.Alive(ctx)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "unix://"+sock) {
		t.Errorf("an engine that accepts no connections: Alive = %v", err)
	}
}
