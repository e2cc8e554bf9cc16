package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/comfysim"
)

// BenchmarkMemory100Runs measures qwenlab's own peak RSS (the process, not the server) during a
// 100-run benchmark against the simulator at zero work. Target: ≤ 60 MB.
func BenchmarkMemory100Runs(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "qwenlab")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		b.Fatalf("build qwenlab: %v\n%s", err, out)
	}
	url := startSim(b, comfysim.Config{})
	var peak int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "bench", "--url", url, "--runs", "100", "--warmup", "1", "--set", "width=64", "--set", "height=64", "-o", filepath.Join(b.TempDir(), "r.json"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		// Note: the child's rusage maxrss can include this (large) test process's pages from
		// before exec, so the high-water mark is read from /proc while it runs.
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	poll:
		for {
			if kb := vmHWM(status); kb > peak {
				peak = kb
			}
			select {
			case err := <-done:
				if err != nil {
					b.Fatalf("bench: %v\n%s", err, out.String())
				}
				break poll
			case <-time.After(20 * time.Millisecond):
			}
		}
		b.ReportMetric(time.Since(start).Seconds()/101*1000, "ms/prompt")
	}
	b.ReportMetric(float64(peak)/1024, "maxrss-MB")
}

// vmHWM reads a process's peak resident set size (KiB) from /proc/PID/status; 0 if gone.
func vmHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
