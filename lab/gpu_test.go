package lab

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/gpu"
	"github.com/qwenlab/qwenlab/report"
)

// gpuFakeGPU is two H100s on a virtual clock: each Sample call is one round 250 ms after
// the last, starting at base-0.5s. GPU 0 runs the container (PID 4242 from base on):
// model load ramps its VRAM during startup, the first prompt and the warm runs load it.
// GPU 1 is exposed (--gpus all) but idle, with another workload's PID 77 on it
// from the start. Energy counters integrate the power (trapezoids), as the driver's do.
type gpuFakeGPU struct {
	mu         sync.Mutex
	base       time.Time
	round      int
	energy     [2]uint64 // mJ
	lastPower  [2]float64
	accounting bool
	asked      [][]uint32
}

const gpuFakeStep = 250 * time.Millisecond

func (f *gpuFakeGPU) Inventory() ([]gpu.Device, error) {
	d := gpu.Device{Name: "NVIDIA H100 80GB HBM3", Driver: "580.159.04", CUDA: "13.0", VRAMTotal: 85520809984, PowerLimitW: 700, PCIeGen: 5, PCIeWidth: 16, Accounting: f.accounting}
	d1 := d
	d.UUID, d1.Index, d1.UUID = "GPU-aaaa", 1, "GPU-bbbb"
	return []gpu.Device{d, d1}, nil
}

// gpuFakeProfile is GPU 0 at offset t from base: VRAM, utilisation, power.
func gpuFakeProfile(t time.Duration) (uint64, float64, float64) {
	switch {
	case t < 0:
		return 0, 0, 70
	case t <= time.Second: // startup: model load, 1..5 GB
		return uint64(1+t/gpuFakeStep) * 1e9, 10, 100
	case t < 1500*time.Millisecond:
		return 6e9, 20, 150
	case t <= 2500*time.Millisecond: // first prompt
		return 8e9, 90, 600
	case t < 3*time.Second:
		return 8e9, 0, 120
	case t <= 4500*time.Millisecond: // warm runs
		return 8e9, 70, 500
	}
	return 8e9, 0, 120
}

func (f *gpuFakeGPU) Sample(indexes []int) ([]gpu.Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	off := time.Duration(f.round)*gpuFakeStep - 500*time.Millisecond
	f.round++
	at := f.base.Add(off)
	v0, u0, p0 := gpuFakeProfile(off)
	var out []gpu.Sample
	for _, i := range indexes {
		s := gpu.Sample{T: at, Index: i, SMClockMHz: 1980, TempC: 40}
		if i == 0 {
			s.VRAMUsed, s.UtilGPU, s.PowerW = v0, u0, p0
			if off >= 0 {
				s.ProcVRAM = map[uint32]uint64{4242: v0 - 5e8}
			}
		} else {
			s.VRAMUsed, s.PowerW = 5e8, 60
			s.ProcVRAM = map[uint32]uint64{77: 3e8}
		}
		if f.round > 1 {
			f.energy[i] += uint64((f.lastPower[i] + s.PowerW) / 2 * gpuFakeStep.Seconds() * 1000)
		}
		f.lastPower[i] = s.PowerW
		s.EnergyMJ = f.energy[i]
		out = append(out, s)
	}
	return out, nil
}

func (f *gpuFakeGPU) ProcessPeaks(pids []uint32) (map[uint32]uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, slices.Clone(pids))
	if !f.accounting || !slices.Contains(pids, 4242) {
		return nil, false
	}
	// The driver caught a peak between samples: 8.6 GB against 7.5 GB sampled.
	return map[uint32]uint64{4242: 8.6e9}, true
}

// gpuFakeRun is a measured run on the fake GPU's clock: a cold start (ready at 1 s, first
// prompt 1.5..2.5 s) and two warm runs (3.0..3.5 s, 3.75..4.5 s), sampled from -0.5 s to
// 5 s, with 20 GB of model files.
func gpuFakeRun(t *testing.T, f *gpuFakeGPU) *run {
	t.Helper()
	cfg := testConfig()
	cfg.GPUs = "all"
	r := newRun(cfg, Deps{GPU: f})
	r.t0 = f.base
	r.modelBytes = 20e9
	at := func(ms int) time.Time { return f.base.Add(time.Duration(ms) * time.Millisecond) }
	prompt := func(kind report.RunKind, i, from, to int) *promptRun {
		return &promptRun{Kind: kind, Index: i, Seed: uint64(42 + i), Res: &comfy.Result{PromptID: string(kind), Status: "success", Submit: at(from), Started: at(from + 1), End: at(to), ImageAt: at(to)}}
	}
	r.colds = []*coldRun{{Start: at(0), Ready: at(1000), First: prompt("cold", 0, 1500, 2500)}}
	r.warm = []*promptRun{prompt("warm", 0, 3000, 3500), prompt("warm", 1, 3750, 4500)}
	r.gpus, _ = f.Inventory() // a run that samples has looked at its GPUs
	r.gpuWatch.set(gpu.NewSampler(0))
	for range 23 { // -0.5 s .. 5 s
		s, err := f.Sample([]int{0, 1})
		if err != nil {
			t.Fatal(err)
		}
		r.gpuWatch.get().Add(s, nil)
	}
	return r
}

func TestGPUSectionFromTwoGPUs(t *testing.T) {
	f := &gpuFakeGPU{base: time.Now(), accounting: true}
	rep := gpuFakeRun(t, f).assemble(nil)
	g := rep.GPU

	if !g.Available || g.Reason != "" || g.Samples != 46 {
		t.Fatalf("gpu section: available %v reason %q samples %d, want available with 46 samples", g.Available, g.Reason, g.Samples)
	}
	if len(f.asked) != 1 || !slices.Equal(f.asked[0], []uint32{4242}) {
		t.Errorf("accounting asked for %v, want only the container's PID [4242] (77 was there before it)", f.asked)
	}
	if g.PeakSource != "accounting" || g.VRAMPeakBytes == nil || *g.VRAMPeakBytes != 8.6e9 {
		t.Errorf("peak: %v from %q, want 8.6e9 from accounting", deref(g.VRAMPeakBytes), g.PeakSource)
	}
	if len(g.Processes) != 1 || g.Processes[0] != (report.GPUProcess{PID: 4242, VRAMPeakBytes: 8.6e9, Source: "accounting"}) {
		t.Errorf("processes %+v, want only the container's PID 4242 with its accounted peak", g.Processes)
	}

	type want struct {
		n                       int
		vramPeak, vramMean      uint64
		utilMean, utilP95       float64
		powerMean, powerMax, eJ float64
	}
	for name, w := range map[string]want{
		// 0..1 s: 5 rounds; GPU 0 ramps 1..5 GB at 10 %, 100 W; GPU 1 0.5 GB, 0 %, 60 W.
		"startup": {10, 5e9, 1.75e9, 5, 10, 80, 100, 100 + 60},
		// 1.5..2.5 s: 5 rounds; GPU 0 8 GB at 90 %, 600 W.
		"first_prompt": {10, 8e9, 4.25e9, 45, 90, 330, 600, 600 + 60},
		// 3.0..4.5 s: 7 rounds; GPU 0 8 GB at 70 %, 500 W.
		"warm": {14, 8e9, 4.25e9, 35, 70, 280, 500, 1.5 * (500 + 60)},
	} {
		p, ok := g.Phases[name]
		if !ok {
			t.Errorf("phase %s missing (have %v)", name, g.Phases)
			continue
		}
		if p.Samples != w.n || deref(p.VRAMPeakBytes) != w.vramPeak || deref(p.VRAMMeanBytes) != w.vramMean {
			t.Errorf("%s: %d samples, VRAM peak %d mean %d; want %d, %d, %d", name, p.Samples, deref(p.VRAMPeakBytes), deref(p.VRAMMeanBytes), w.n, w.vramPeak, w.vramMean)
		}
		if !near(deref(p.UtilMeanPct), w.utilMean) || !near(deref(p.UtilP95Pct), w.utilP95) {
			t.Errorf("%s: util mean %v p95 %v, want %v %v", name, deref(p.UtilMeanPct), deref(p.UtilP95Pct), w.utilMean, w.utilP95)
		}
		if !near(deref(p.PowerMeanW), w.powerMean) || !near(deref(p.PowerMaxW), w.powerMax) || !near(deref(p.EnergyJ), w.eJ) {
			t.Errorf("%s: power mean %v max %v energy %v J, want %v %v %v", name, deref(p.PowerMeanW), deref(p.PowerMaxW), deref(p.EnergyJ), w.powerMean, w.powerMax, w.eJ)
		}
	}
	if e := g.Phases["warm"].EnergyPerImageJ; e == nil || !near(*e, 840.0/2) {
		t.Errorf("energy per image %v J, want 420 (840 J over 2 valid warm runs)", deref(e))
	}
	if _, ok := g.Phases["first_prompt"]; ok && g.Phases["first_prompt"].EnergyPerImageJ != nil {
		t.Errorf("energy per image belongs to the warm phase only")
	}

	if len(g.Series) != 2 || g.Series[0].Index != 0 || g.Series[1].Index != 1 {
		t.Fatalf("series: %d entries %+v, want GPUs 0 and 1", len(g.Series), g.Series)
	}
	s0 := g.Series[0]
	if len(s0.TS) != 23 || len(s0.VRAMUsedBytes) != 23 || len(s0.UtilPct) != 23 || len(s0.PowerW) != 23 {
		t.Fatalf("GPU 0 series has %d/%d/%d/%d points, want 23 each", len(s0.TS), len(s0.VRAMUsedBytes), len(s0.UtilPct), len(s0.PowerW))
	}
	if !near(s0.TS[0], -0.5) || !near(s0.TS[22], 5) || s0.VRAMUsedBytes[4] != 3e9 || s0.UtilPct[10] != 90 || s0.PowerW[16] != 500 || len(s0.Missing) != 0 {
		t.Errorf("GPU 0 series off the clock or values: t %v..%v vram[4] %d util[10] %v power[16] %v missing %v", s0.TS[0], s0.TS[22], s0.VRAMUsedBytes[4], s0.UtilPct[10], s0.PowerW[16], s0.Missing)
	}

	var offload, saturated string
	for _, w := range rep.Warnings {
		switch {
		case strings.HasPrefix(w, "model not fully on the GPU: offloading?"):
			offload = w
		case strings.HasPrefix(w, "GPU not saturated"):
			saturated = w
		}
	}
	if !strings.Contains(offload, "8.0 GB") || !strings.Contains(offload, "20.0 GB") {
		t.Errorf("offloading warning %q, want VRAM after first prompt 8.0 GB against 20.0 GB of model files (warnings %q)", offload, rep.Warnings)
	}
	// Judged on GPU 0, which the container's process used (70 % during the warm runs); the
	// idle GPU 1 that --gpus all also exposed would dilute it to 35 %.
	if !strings.Contains(saturated, "70%") {
		t.Errorf("saturation warning %q, want GPU 0's mean utilisation during the warm runs, 70%% (warnings %q)", saturated, rep.Warnings)
	}
}

func TestGPUSectionSampledPeakWithoutAccounting(t *testing.T) {
	f := &gpuFakeGPU{base: time.Now()}
	g := gpuFakeRun(t, f).assemble(nil).GPU
	if g.PeakSource != "sampled" || deref(g.VRAMPeakBytes) != 8e9 {
		t.Errorf("peak %d from %q, want the sampled 8e9", deref(g.VRAMPeakBytes), g.PeakSource)
	}
	if len(g.Processes) != 1 || g.Processes[0] != (report.GPUProcess{PID: 4242, VRAMPeakBytes: 7.5e9, Source: "sampled"}) {
		t.Errorf("processes %+v, want PID 4242 with its sampled peak 7.5e9", g.Processes)
	}
}

// gpuFakeLive is the fake GPU on the real clock for a whole run: PID 4242 shows once the
// engine has created the container.
type gpuFakeLive struct {
	gpuFakeGPU
	engine *fakeEngine
	calls  int
}

func (f *gpuFakeLive) Sample(indexes []int) ([]gpu.Sample, error) {
	created := f.engine.called("create") > 0
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var out []gpu.Sample
	for _, i := range indexes {
		s := gpu.Sample{T: time.Now(), Index: i, VRAMUsed: 5e8, PowerW: 70, Missing: gpu.FieldEnergy}
		if created && i == 0 {
			s.VRAMUsed, s.UtilGPU, s.PowerW = 8e9, 95, 650
			s.ProcVRAM = map[uint32]uint64{4242: 7.5e9}
		}
		out = append(out, s)
	}
	return out, nil
}

// upAndBenchWithLiveGPU runs a whole fake run with --gpus gpus and the live two-GPU fake.
func upAndBenchWithLiveGPU(t *testing.T, gpus string) (*fakeEngine, *report.Report) {
	t.Helper()
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	cfg := testConfig()
	cfg.GPUs = gpus
	cfg.GPUInterval = 2 * time.Millisecond
	deps := testDeps(e, c)
	deps.GPU, deps.GPUReason = &gpuFakeLive{gpuFakeGPU: gpuFakeGPU{accounting: true}, engine: e}, ""
	rep, err := UpAndBench(context.Background(), cfg, deps)
	if err != nil {
		t.Fatalf("UpAndBench: %v", err)
	}
	return e, rep
}

func TestUpAndBenchSamplesTheContainersGPUs(t *testing.T) {
	e, rep := upAndBenchWithLiveGPU(t, "device=1")
	g := rep.GPU
	if !g.Available || g.Samples == 0 || len(rep.Host.GPUs) != 2 {
		t.Fatalf("gpu section %+v, host GPUs %d", g, len(rep.Host.GPUs))
	}
	// --gpus device=1: only GPU 1 is the container's, so only it is sampled, and the
	// accounting peak of a process on GPU 0 is not asked for.
	for _, s := range g.Series {
		if s.Index != 1 {
			t.Errorf("sampled GPU %d, want only GPU 1", s.Index)
		}
	}
	if g.PeakSource != "sampled" || deref(g.VRAMPeakBytes) != 5e8 {
		t.Errorf("peak %d from %q, want GPU 1's sampled 5e8", deref(g.VRAMPeakBytes), g.PeakSource)
	}
	if s := e.specs[0].GPUs; s.Kind != "devices" || len(s.DeviceIDs) != 1 || s.DeviceIDs[0] != "1" {
		t.Errorf("container spec GPUs %+v, want device 1 passed through", s)
	}
}

func TestUpAndBenchAccountingPeakOfTheContainer(t *testing.T) {
	_, rep := upAndBenchWithLiveGPU(t, "all")
	g := rep.GPU
	if g.PeakSource != "accounting" || deref(g.VRAMPeakBytes) != 8.6e9 || len(g.Series) != 2 {
		t.Errorf("peak %d from %q over %d series, want 8.6e9 from accounting over 2", deref(g.VRAMPeakBytes), g.PeakSource, len(g.Series))
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func near(a, b float64) bool { d := a - b; return d < 1e-6*max(1, b, -b) && -d < 1e-6*max(1, b, -b) }

var _ = report.GPUSection{}

// TestGPUSamplingErrorsAreCounted: rounds the GPU could not be read in are counted and
// reported, not dropped in silence.
func TestGPUSamplingErrorsAreCounted(t *testing.T) {
	f := &gpuFakeGPU{base: time.Now()}
	r := gpuFakeRun(t, f)
	r.gpuWatch.get().Add(nil, errors.New("nvml: GPU is lost"))
	r.gpuWatch.get().Add(nil, errors.New("nvml: GPU is lost"))
	rep := r.assemble(nil)
	if !hasWarning(rep.Warnings, "GPU sampling failed in 2 round(s) (last: nvml: GPU is lost)") {
		t.Errorf("warnings %q lack the 2 failed sampling rounds", rep.Warnings)
	}
	if rep.GPU.Samples != 46 {
		t.Errorf("sample_count %d, want the 23 rounds × 2 GPUs read", rep.GPU.Samples)
	}
}

// TestGPUDevice: host.gpus (and `qwenlab gpu --json`) carry every field NVML read, PCIe
// maximum and accounting included, and leave out what it could not read.
func TestGPUDevice(t *testing.T) {
	full := gpu.Device{Index: 1, Name: "H100", UUID: "GPU-1", Driver: "580", CUDA: "13.0", VRAMTotal: 80 << 30, PowerLimitW: 700,
		PCIeGen: 4, PCIeWidth: 8, PCIeMaxGen: 5, PCIeMaxWidth: 16, Accounting: true}
	got, err := json.Marshal(GPUDevice(full))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"index":1,"name":"H100","uuid":"GPU-1","driver":"580","cuda":"13.0","vram_total_bytes":85899345920,"power_limit_w":700,"pcie_gen":4,"pcie_width":8,"pcie_max_gen":5,"pcie_max_width":16,"accounting":true}`; string(got) != want {
		t.Errorf("full device:\n got %s\nwant %s", got, want)
	}
	got, _ = json.Marshal(GPUDevice(gpu.Device{Index: 0, Name: "H100", UUID: "GPU-0", VRAMTotal: 1}))
	if want := `{"index":0,"name":"H100","uuid":"GPU-0","driver":"","cuda":"","vram_total_bytes":1}`; string(got) != want {
		t.Errorf("device with nothing else read:\n got %s\nwant %s", got, want)
	}
}
