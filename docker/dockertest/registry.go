package dockertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv, set to 1, turns a skip for want of Docker or the registry
// binary into a failure (CI sets it).
const RequireEnv = "QWENLAB_REQUIRE_DOCKER"

// RegistryBinary is where Debian's docker-registry package installs
// Distribution's registry.
const RegistryBinary = "/usr/bin/docker-registry"

// Registry is a running registry on 127.0.0.1.
type Registry struct {
	// Host is "127.0.0.1:PORT", the prefix of image references in it.
	Host string
	// Dir is the registry's storage root.
	Dir string
}

// Ref returns the reference of repo:tag in the registry.
func (r *Registry) Ref(repo, tag string) string { return r.Host + "/" + repo + ":" + tag }

// SkipOrFail skips t with msg, or fails it when [RequireEnv] is 1.
func SkipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1 forbids skipping)", msg, RequireEnv)
	}
	t.Skip(msg)
}

// StartRegistry starts `docker-registry serve CONFIG` with filesystem
// storage in a temporary directory, listening on a free port of 127.0.0.1,
// waits until /v2/ answers and stops it at cleanup. Without the binary it
// skips t (see [SkipOrFail]).
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		bin = RegistryBinary
		if _, err := os.Stat(bin); err != nil {
			SkipOrFail(t, "no docker-registry binary (apt-get install docker-registry): registry test skipped")
		}
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and start
		r, err := startRegistry(t, bin)
		if err == nil {
			return r
		}
		lastErr = err
	}
	t.Fatalf("start registry: %v", lastErr)
	return nil
}

// lockedBuffer collects the registry's output, written by exec's copying
// goroutine and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startRegistry(t testing.TB, bin string) (*Registry, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "storage")
	host := "127.0.0.1:" + strconv.Itoa(port)
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, store, host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case werr := <-exited:
			exited <- werr // for stop, should anyone call it
			return nil, fmt.Errorf("registry exited (%v): %s", werr, out.String())
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("registry on %s did not answer /v2/ within 15s: %s", host, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("registry output:\n%s", out.String())
		}
	})
	return &Registry{Host: host, Dir: store}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
