//go:build cgo && linux

package gpu

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// cpuTime is the CPU time (user + system, all threads) this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCore reports the CPU time per sampling round and what it costs at 10 Hz in %
// of one core. CPU time, not wall time: NVML may wait in the driver without using CPU.
func reportCore(b *testing.B, cpu time.Duration) {
	perRound := cpu.Seconds() / float64(b.N)
	b.ReportMetric(perRound*1e9, "cpu-ns/op")
	b.ReportMetric(perRound*10*100, "%core@10Hz")
}

// BenchmarkSamplerOverhead is qwenlab's own CPU cost of one sampling round of 8 GPUs,
// against the dgxh100 mock (NVML itself costs nothing here), and what that costs at
// 10 Hz in % of one core; the target is < 1 %. BenchmarkSampleRealNVML measures the
// same with the real driver where there is one.
func BenchmarkSamplerOverhead(b *testing.B) {
	r, m := openRig(b)
	r.at(20 * time.Second)
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		ss, err := m.Sample(nil)
		if err != nil || len(ss) != 8 {
			b.Fatal(len(ss), err)
		}
	}
	reportCore(b, cpuTime(b)-start)
}

// BenchmarkSampleRealNVML is one sampling round of every GPU through the real driver.
func BenchmarkSampleRealNVML(b *testing.B) {
	m := openReal(b)
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		if _, err := m.Sample(nil); err != nil {
			b.Fatal(err)
		}
	}
	reportCore(b, cpuTime(b)-start)
}

// openReal opens the real NVML or skips.
func openReal(tb testing.TB) *Monitor {
	tb.Helper()
	m, err := Open()
	if errors.Is(err, ErrUnavailable) {
		tb.Skipf("no NVML here: %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return m
}

// TestRealSampler samples the real GPUs at 10 Hz for 2 s (skipped without NVML).
func TestRealSampler(t *testing.T) {
	m := openReal(t)
	devs, err := m.Inventory()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		t.Logf("inventory: %+v", d)
		if d.Name == "" || d.UUID == "" || d.VRAMTotal == 0 || d.Driver == "" || d.CUDA == "" {
			t.Errorf("device %d incomplete: %+v", d.Index, d)
		}
	}
	const d = 4 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	cpu0 := cpuTime(t)
	s := m.StartSampler(ctx, 100*time.Millisecond, nil)
	<-ctx.Done()
	got := s.Stop()
	cpu := cpuTime(t) - cpu0
	if n, err := s.Err(); n != 0 {
		t.Errorf("%d sampling errors, last %v", n, err)
	}
	if want := 40 * len(devs); len(got) < want-2*len(devs) || len(got) > want+len(devs) {
		t.Errorf("%d samples in 4 s at 10 Hz of %d GPUs, want about %d", len(got), len(devs), want)
	}
	for idx, sum := range byDevice(got) {
		t.Logf("GPU %d: %+v (missing: %v)", idx, sum, sum.Missing)
		// An idle GPU may use 0 bytes (_v2 counts reserved memory apart).
		if sum.Missing.Has(FieldVRAM) || sum.VRAMPeak > devs[idx].VRAMTotal {
			t.Errorf("GPU %d: VRAM peak %d of %d", idx, sum.VRAMPeak, devs[idx].VRAMTotal)
		}
	}
	t.Logf("first sample: %+v", got[0])
	t.Logf("sampler CPU time over %v at 10 Hz: %v (%.3f%% of one core)", d, cpu, cpu.Seconds()/d.Seconds()*100)
	peaks, ok := m.ProcessPeaks(PIDs(got))
	t.Logf("accounting peaks: %v %v (accounting on: %v)", peaks, ok, devs[0].Accounting)
}

// BenchmarkRealNVMLCalls is the CPU cost of each NVML call a sample makes, on GPU 0.
func BenchmarkRealNVMLCalls(b *testing.B) {
	m := openReal(b)
	h := m.devs[0].h
	for _, c := range []struct {
		name string
		call func() nvml.Return
	}{
		{"MemoryInfo", func() nvml.Return { _, r := h.GetMemoryInfo(); return r }},
		{"MemoryInfo_v2", func() nvml.Return { _, r := h.GetMemoryInfo_v2(); return r }},
		{"UtilizationRates", func() nvml.Return { _, r := h.GetUtilizationRates(); return r }},
		{"PowerUsage", func() nvml.Return { _, r := h.GetPowerUsage(); return r }},
		{"ClockInfo", func() nvml.Return { _, r := h.GetClockInfo(nvml.CLOCK_SM); return r }},
		{"Temperature", func() nvml.Return { _, r := h.GetTemperature(nvml.TEMPERATURE_GPU); return r }},
		{"TotalEnergy", func() nvml.Return { _, r := h.GetTotalEnergyConsumption(); return r }},
		{"ComputeProcs", func() nvml.Return { _, r := h.GetComputeRunningProcesses(); return r }},
		{"GraphicsProcs", func() nvml.Return { _, r := h.GetGraphicsRunningProcesses(); return r }},
	} {
		b.Run(c.name, func(b *testing.B) {
			start := cpuTime(b)
			for b.Loop() {
				if r := c.call(); r != nvml.SUCCESS {
					b.Skipf("%s: %v", c.name, r)
				}
			}
			reportCore(b, cpuTime(b)-start)
		})
	}
}
