package comfysim

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The probe's documented ignores, and nothing else:
//
//	a.system_stats.*                   hardware and install: the recordings are CPU-only, the
//	                                   simulator reports an H100 (type cuda, index 0).
//	a.object_info.*.facts.inputs*      install: the model pickers list the files under --models,
//	                                   which differ from the recording machine's (none).
var conformanceIgnores = []string{
	"a.system_stats.*",
	"a.object_info.*.facts.inputs*",
}

func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "shared"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// skipOrFail skips where the probe cannot run, but fails in CI (CI or QWENLAB_REQUIRE_DOCKER
// set), where .ci/run installs what it needs: the conformance check must really run there.
func skipOrFail(t *testing.T, format string, a ...any) {
	t.Helper()
	if os.Getenv("CI") != "" || os.Getenv("QWENLAB_REQUIRE_DOCKER") == "1" {
		t.Fatalf(format, a...)
	}
	t.Skipf(format, a...)
}

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance battery takes ~20 s per version; skipped with -short")
	}
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import websocket").Run(); err != nil {
		skipOrFail(t, "conformance probe needs %s with the websocket module (apt-get install python3-websocket): %v", python, err)
	}
	shared := sharedDir(t)
	probe := filepath.Join(shared, "conformance", "comfyprobe.py")
	for _, version := range []string{v0210, v0364} {
		t.Run(version, func(t *testing.T) {
			transcript := filepath.Join(shared, "conformance", "comfyui-"+version+".json")
			if _, err := os.Stat(transcript); err != nil {
				skipOrFail(t, "transcript missing: %v", err)
			}
			if _, err := os.Stat(probe); err != nil {
				skipOrFail(t, "probe missing: %v", err)
			}
			cfg, err := Config{ComfyVersion: version, OutputDir: t.TempDir()}.ApplyProfile("conformance")
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, ln) }()
			t.Cleanup(func() {
				cancel()
				<-done
			})
			args := []string{probe, "--compare", transcript, "http://" + ln.Addr().String(), "--wait", "10"}
			for _, g := range conformanceIgnores {
				args = append(args, "--ignore", g)
			}
			pctx, pcancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer pcancel()
			out, err := exec.CommandContext(pctx, python, args...).CombinedOutput()
			if err != nil {
				t.Errorf("probe against simulated ComfyUI %s reports differences (%v):\n%s", version, err, out)
				return
			}
			t.Logf("%s", out)
			if !strings.Contains(string(out), "0 differences") {
				t.Errorf("unexpected probe output:\n%s", out)
			}
		})
	}
}
