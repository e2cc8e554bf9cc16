//go:build unix

package report

import (
	"bytes"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkTrendDir365 reads, follows and renders a folder of 365 nightly reports of a GPU box, as
// `qwenlab report DIR/ --format html` does. The target is < 1 s per operation.
func BenchmarkTrendDir365(b *testing.B) {
	dir := b.TempDir()
	for i, nr := range nightly(365, 200, 1.5) {
		// A GPU box's report: one GPU sampled, at the 600 points per GPU that lab keeps.
		g := &nr.Report.GPU.Series[0]
		g.TS, g.VRAMUsedBytes, g.UtilPct, g.PowerW = nil, nil, nil, nil
		for j := 0; j < 600; j++ {
			g.TS = append(g.TS, float64(j)*0.2013)
			g.VRAMUsedBytes = append(g.VRAMUsedBytes, 61_203_283_968-uint64(j)*1_048_576)
			g.UtilPct = append(g.UtilPct, float64(j%100))
			g.PowerW = append(g.PowerW, 400+float64(j%300)*0.9)
		}
		if err := Write(filepath.Join(dir, fmt.Sprintf("night-%03d.json", i)), nr.Report); err != nil {
			b.Fatal(err)
		}
	}
	start := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		reps, _, err := ReadDir(dir)
		if err != nil || len(reps) != 365 {
			b.Fatalf("%d reports, %v", len(reps), err)
		}
		var out bytes.Buffer
		if err := RenderTrendHTML(&out, BuildTrend(reps, nil)); err != nil {
			b.Fatal(err)
		}
	}
	// On a shared machine the wall clock says more about the neighbours than about qwenlab;
	// the process's CPU time per operation is reported beside it.
	b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
