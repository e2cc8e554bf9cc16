package comfysim

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestCommandUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"}, {"--profile", "warp"}, {"--comfy-version", "1.0"}, {"--log-format", "x"},
		{"--fault", "crash-at-step=0"}, {"--fault", "nope"}, {"--jitter", "2"}, {"extra"}, {"--port", "70000"},
	} {
		err := Command(context.Background(), args, &syncBuf{}, &syncBuf{})
		if !errors.Is(err, ErrUsage) {
			t.Errorf("%v: err %v, want ErrUsage", args, err)
		}
	}
}

var guiLine = regexp.MustCompile(`To see the GUI go to: http://127\.0\.0\.1:(\d+)`)

// startCommand runs Command in the background and waits for its ready line.
func startCommand(t *testing.T, args ...string) (string, *syncBuf, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuf{}
	done := make(chan error, 1)
	go func() {
		done <- Command(ctx, append([]string{"--port", "0", "--output-directory", t.TempDir()}, args...), &syncBuf{}, stderr)
	}()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(10 * time.Second):
				stopErr = errors.New("command did not stop")
			}
		})
		return stopErr
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := guiLine.FindStringSubmatch(stderr.String()); m != nil {
			t.Cleanup(func() { _ = stop() })
			return "http://127.0.0.1:" + m[1], stderr, stop
		}
		select {
		case err := <-done:
			t.Fatalf("command ended early: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	_ = stop()
	t.Fatalf("no ready line:\n%s", stderr.String())
	return "", nil, nil
}

func TestCommandStartupLogAndServe(t *testing.T) {
	url, stderr, stop := startCommand(t, "--profile", "instant", "--custom-node-import-failure", "ComfyUI-Broken")
	resp, err := http.Get(url + "/system_stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/system_stats %d", resp.StatusCode)
	}
	log := stderr.String()
	order := []string{"Total VRAM ", "Set vram state to: NORMAL_VRAM", "Device: cuda:0", "Python version: ", "ComfyUI version: 0.21.0",
		"Import times for custom nodes:", "(IMPORT FAILED): /ComfyUI/custom_nodes/ComfyUI-Broken", "Starting server\n\nTo see the GUI go to: "}
	pos := 0
	for _, want := range order {
		i := strings.Index(log[pos:], want)
		if i < 0 {
			t.Fatalf("startup log lacks %q after offset %d:\n%s", want, pos, log)
		}
		pos += i
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func TestCommandFailStartup(t *testing.T) {
	stderr := &syncBuf{}
	err := Command(context.Background(), []string{"--profile", "instant", "--fault", "fail-startup"}, &syncBuf{}, stderr)
	if err == nil || errors.Is(err, ErrUsage) {
		t.Fatalf("err %v, want a non-usage error", err)
	}
	if !strings.Contains(stderr.String(), "********** ERROR ***********") || strings.Contains(stderr.String(), "To see the GUI") {
		t.Errorf("log:\n%s", stderr.String())
	}
}

func TestCommandStartupStall(t *testing.T) {
	start := time.Now()
	_, stderr, _ := startCommand(t, "--profile", "instant", "--fault", "slow-startup=300ms")
	if time.Since(start) < 300*time.Millisecond {
		t.Errorf("ready after %v, want ≥ 300ms quiet gap", time.Since(start))
	}
	if !strings.Contains(stderr.String(), "web root") {
		t.Errorf("log:\n%s", stderr.String())
	}
}

// TestCommandIgnoreSIGTERMOnlyAsPID1: like python, the simulator survives SIGTERM only as PID 1
// (the container's first process without --init); this test process is not PID 1, so SIGTERM
// must stay fatal here. The PID-1 case runs in lab's engine tests (TestTeardownIsFastWithInit).
func TestCommandIgnoreSIGTERMOnlyAsPID1(t *testing.T) {
	if os.Getpid() == 1 {
		t.Skip("running as PID 1")
	}
	_, _, stop := startCommand(t, "--profile", "instant", "--ignore-sigterm")
	if signal.Ignored(syscall.SIGTERM) {
		t.Error("SIGTERM ignored by a process that is not PID 1")
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

func TestLoadStatFormats(t *testing.T) {
	for format, want := range map[string]string{
		LogFormat0364:    "loaded completely 9.5367431640625e+25 19520.119140625 True",
		LogFormat0368:    "loaded completely; 74619.97 MB usable, 19520.12 MB loaded, full load: True",
		LogFormat081:     "loaded completely;  19520.12 MB loaded, full load: True",
		LogFormatDynamic: "Model QwenImage prepared for dynamic VRAM loading. 19520MB Staged. 0 patches attached.",
	} {
		if got := loadStatLine(format, "QwenImage", mbQwenImage); got != want {
			t.Errorf("%s: %q, want %q", format, got, want)
		}
	}
}
