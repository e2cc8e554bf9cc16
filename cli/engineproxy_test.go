package cli_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/qwenlab/qwenlab/docker"
)

// engineProxy stands in front of the machine's Docker Engine socket so a script can make "the
// engine" die or freeze under a qwenlab run without touching the real engine: qwenlab talks to
// the proxy (DOCKER_HOST), the helper commands to the real engine.
type engineProxy struct {
	ln     net.Listener
	dir    string
	target string

	mu      sync.Mutex
	conns   []net.Conn
	frozen  bool   // nothing is forwarded any more; new connections are accepted and ignored
	gone    bool   // the proxy is closed
	trigger string // a request containing this fails the engine (action) before it is forwarded
	action  string // "cut" or "freeze"
}

var proxies sync.Map // *testscript.TestScript -> *engineProxy

// cmdEngineProxy drives a script's engine proxy:
//
//	engineproxy start VAR [cut-on|freeze-on TEXT]  start one, set $VAR to its unix:// address; with
//	                                               cut-on/freeze-on the engine dies (or freezes, as
//	                                               under SIGSTOP) at the first request containing TEXT
//	engineproxy cut                                the engine goes away: every connection dropped
//	engineproxy shutdown RUNID                     a normal engine shutdown (SIGTERM to dockerd): no
//	                                               new connections, the run's containers stopped
//	                                               through the open ones, then every connection closed
func cmdEngineProxy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: engineproxy start VAR [cut-on|freeze-on TEXT] | cut | shutdown RUNID")
	}
	if args[0] == "start" {
		if len(args) != 2 && len(args) != 4 {
			ts.Fatalf("usage: engineproxy start VAR [cut-on|freeze-on TEXT]")
		}
		p := startEngineProxy(ts)
		if len(args) == 4 {
			p.action, p.trigger = strings.TrimSuffix(args[2], "-on"), args[3]
			if p.action != "cut" && p.action != "freeze" {
				ts.Fatalf("engineproxy: %s: want cut-on or freeze-on", args[2])
			}
		}
		ts.Setenv(args[1], "unix://"+p.ln.Addr().String())
		return
	}
	v, ok := proxies.Load(ts)
	if !ok {
		ts.Fatalf("engineproxy %s: no proxy started", args[0])
	}
	p := v.(*engineProxy)
	switch {
	case args[0] == "cut" && len(args) == 1:
		p.cut()
	case args[0] == "shutdown" && len(args) == 2:
		p.shutdown(ts, args[1])
	default:
		ts.Fatalf("usage: engineproxy start VAR [cut-on|freeze-on TEXT] | cut | shutdown RUNID")
	}
}

func startEngineProxy(ts *testscript.TestScript) *engineProxy {
	target := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		t, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			ts.Fatalf("engineproxy: DOCKER_HOST %s is not a unix socket", h)
		}
		target = t
	}
	dir, err := os.MkdirTemp("", "qep-") // short: a socket path has a length limit
	ts.Check(err)
	ln, err := net.Listen("unix", filepath.Join(dir, "docker.sock"))
	ts.Check(err)
	p := &engineProxy{ln: ln, dir: dir, target: target}
	proxies.Store(ts, p)
	ts.Defer(func() {
		p.cut()
		proxies.Delete(ts)
		os.RemoveAll(dir)
	})
	go p.serve()
	return p
}

func (p *engineProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		frozen := p.frozen
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		if frozen { // a stopped process: the kernel accepts, nobody answers
			continue
		}
		u, err := net.Dial("unix", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, u)
		p.mu.Unlock()
		go p.pipe(u, c, true)
		go p.pipe(c, u, false)
	}
}

// pipe copies from src to dst while the engine is neither frozen nor gone; a request
// (toEngine) that holds the trigger text fails the engine before it is forwarded.
func (p *engineProxy) pipe(dst, src net.Conn, toEngine bool) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			hit := toEngine && p.trigger != "" && bytes.Contains(buf[:n], []byte(p.trigger))
			if hit {
				p.trigger = ""
				if p.action == "freeze" {
					p.frozen = true
				}
			}
			frozen := p.frozen
			p.mu.Unlock()
			if hit && p.action == "cut" {
				p.cut()
				return
			}
			if frozen {
				io.Copy(io.Discard, src) // swallowed, never answered
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// cut is the engine going away: no new connections, every open one dropped.
func (p *engineProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = true
	for _, c := range p.conns {
		c.Close()
	}
}

// shutdown is what dockerd does on SIGTERM: its listener closes first (the socket file goes),
// the requests already open are still answered while it stops every container, then it exits.
func (p *engineProxy) shutdown(ts *testscript.TestScript, runID string) {
	p.ln.Close()
	cl, err := client.New(client.FromEnv) // the real engine
	ts.Check(err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	list, err := cl.ContainerList(ctx, client.ContainerListOptions{Filters: make(client.Filters).Add("label", docker.LabelRun+"="+runID)})
	ts.Check(err)
	if len(list.Items) == 0 {
		ts.Fatalf("engineproxy shutdown: no running container of run %s", runID)
	}
	timeout := 10
	for _, c := range list.Items {
		_, err := cl.ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: &timeout})
		ts.Check(err)
	}
	time.Sleep(time.Second) // the engine answers the open requests (the wait) before it exits
	p.cut()
}
