//go:build cgo

package gpu

import (
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// The scenario the rig plays on device 0 (the others stay idle): a ComfyUI process
// (PID comfyPID) starts, loads a ~40 GB model, samples, and idles with the model loaded.
const (
	comfyPID   = 4242
	gb         = uint64(1_000_000_000)
	vramIdle   = 512 << 20 // bytes used on an idle device (contexts, reserved)
	vramModel  = 40 * gb   // the model once loaded
	vramActive = 2 * gb    // activations on top while sampling
	// accountingPeak is what NVML accounting recorded for comfyPID: a transient
	// spike between samples, above anything sampled.
	accountingPeak = 43 * gb
	reservedBytes  = 300 << 20 // GetMemoryInfo (v1) counts this as used, _v2 does not
)

// Phase boundaries of the scenario, as time since the rig's start.
var (
	loadFrom   = 2 * time.Second  // process appears, model load starts
	sampleFrom = 12 * time.Second // model loaded, sampling starts
	sampleTo   = 30 * time.Second // sampling ends; idle with the model loaded
)

// phase is what device 0 does at a point of the scenario.
type phase struct {
	vram   uint64
	util   uint32
	memU   uint32
	powerW uint32
	clock  uint32
	temp   uint32
	proc   bool
}

// busyAt is device 0's state at elapsed time e.
func busyAt(e time.Duration) phase {
	switch {
	case e < loadFrom:
		return phase{vram: vramIdle, powerW: 70, clock: 345, temp: 30}
	case e < sampleFrom:
		frac := float64(e-loadFrom) / float64(sampleFrom-loadFrom)
		return phase{vram: vramIdle + uint64(frac*float64(vramModel)), util: 5, memU: 20, powerW: 120, clock: 1980, temp: 34, proc: true}
	case e < sampleTo:
		// Temperature climbs one degree a second while sampling.
		return phase{vram: vramIdle + vramModel + vramActive, util: 98, memU: 60, powerW: 650, clock: 1980, temp: 40 + uint32((e-sampleFrom)/time.Second), proc: true}
	default:
		return phase{vram: vramIdle + vramModel, powerW: 110, clock: 1755, temp: 45, proc: true}
	}
}

// idleAt is the state of the devices that do nothing.
func idleAt(time.Duration) phase { return phase{vram: vramIdle, powerW: 70, clock: 345, temp: 28} }

// energyMJ is the exact energy counter of a device at e: ∫ power dt of the
// piecewise-constant power above, in millijoules, from a counter that started at base.
func energyMJ(busy bool, e time.Duration) uint64 {
	const base = 1_000_000_000 // the counter runs since the driver loaded
	if !busy {
		return base + uint64(70*e.Seconds()*1000)
	}
	var mj float64
	edges := []time.Duration{0, loadFrom, sampleFrom, sampleTo}
	for i, from := range edges {
		to := e
		if i+1 < len(edges) && edges[i+1] < e {
			to = edges[i+1]
		}
		if to <= from {
			break
		}
		mj += float64(busyAt(from).powerW) * (to - from).Seconds() * 1000
	}
	return base + uint64(mj)
}

// rig is the dgxh100 mock with every method qwenlab calls filled in from the
// scenario. Its clock is elapsed: time since start, or a fixed point a test sets.
type rig struct {
	*server.Server
	start time.Time

	mu      sync.Mutex
	fixed   *time.Duration
	missing map[string]bool // symbols LookupSymbol reports absent
}

func newRig() *rig {
	r := &rig{Server: dgxh100.New(), start: time.Now(), missing: map[string]bool{}}
	r.LookupSymbolFunc = func(sym string) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.missing[sym] {
			return nvml.ERROR_NOT_FOUND
		}
		return nil
	}
	for i, d := range r.Devices {
		r.fill(i, d.(*server.Device))
	}
	return r
}

// at fixes the rig's clock at e.
func (r *rig) at(e time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fixed = &e
}

func (r *rig) elapsed() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fixed != nil {
		return *r.fixed
	}
	return time.Since(r.start)
}

// dev returns mock device i, for a test to override a method.
func (r *rig) dev(i int) *server.Device { return r.Devices[i].(*server.Device) }

func (r *rig) fill(i int, d *server.Device) {
	busy := i == 0
	state := func() phase {
		if busy {
			return busyAt(r.elapsed())
		}
		return idleAt(r.elapsed())
	}
	total := d.MemoryInfo.Total
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		used := state().vram + reservedBytes
		return nvml.Memory{Total: total, Used: used, Free: total - used}, nvml.SUCCESS
	}
	d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
		used := state().vram
		return nvml.Memory_v2{Total: total, Reserved: reservedBytes, Used: used, Free: total - used - reservedBytes}, nvml.SUCCESS
	}
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		s := state()
		return nvml.Utilization{Gpu: s.util, Memory: s.memU}, nvml.SUCCESS
	}
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return state().powerW * 1000, nvml.SUCCESS }
	d.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		if c != nvml.CLOCK_SM {
			return 0, nvml.ERROR_INVALID_ARGUMENT
		}
		return state().clock, nvml.SUCCESS
	}
	d.GetTemperatureFunc = func(s nvml.TemperatureSensors) (uint32, nvml.Return) {
		if s != nvml.TEMPERATURE_GPU {
			return 0, nvml.ERROR_INVALID_ARGUMENT
		}
		return state().temp, nvml.SUCCESS
	}
	d.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) { return energyMJ(busy, r.elapsed()), nvml.SUCCESS }
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		s := state()
		if !s.proc {
			return []nvml.ProcessInfo{}, nvml.SUCCESS
		}
		return []nvml.ProcessInfo{{Pid: comfyPID, UsedGpuMemory: s.vram - vramIdle + 500<<20}}, nvml.SUCCESS
	}
	d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{}, nvml.SUCCESS
	}
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 700_000, nvml.SUCCESS }
	d.GetPowerManagementLimitFunc = func() (uint32, nvml.Return) { return 700_000, nvml.SUCCESS }
	d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return 5, nvml.SUCCESS }
	d.GetCurrPcieLinkWidthFunc = func() (int, nvml.Return) { return 16, nvml.SUCCESS }
	d.GetMaxPcieLinkGenerationFunc = func() (int, nvml.Return) { return 5, nvml.SUCCESS }
	d.GetMaxPcieLinkWidthFunc = func() (int, nvml.Return) { return 16, nvml.SUCCESS }
	d.GetAccountingModeFunc = func() (nvml.EnableState, nvml.Return) {
		if busy {
			return nvml.FEATURE_ENABLED, nvml.SUCCESS
		}
		return nvml.FEATURE_DISABLED, nvml.SUCCESS
	}
	d.GetAccountingStatsFunc = func(pid uint32) (nvml.AccountingStats, nvml.Return) {
		if !busy {
			return nvml.AccountingStats{}, nvml.ERROR_NOT_SUPPORTED
		}
		if pid != comfyPID {
			return nvml.AccountingStats{}, nvml.ERROR_NOT_FOUND
		}
		return nvml.AccountingStats{MaxMemoryUsage: accountingPeak, GpuUtilization: 80}, nvml.SUCCESS
	}
}
