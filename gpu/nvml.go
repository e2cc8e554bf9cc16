//go:build cgo

package gpu

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Symbols newer than the oldest drivers qwenlab supports; each is looked up once at
// Open and never called where it is missing (a missing symbol kills the process).
const (
	symMemoryInfoV2 = "nvmlDeviceGetMemoryInfo_v2"
	symTotalEnergy  = "nvmlDeviceGetTotalEnergyConsumption"
)

// Internal bits of devState.skip, beside the exported Field bits: lists and calls that
// are known not to work on a device although the field may still be had another way.
const (
	skipMemV2    = 1 << 12 // GetMemoryInfo_v2 fails: use GetMemoryInfo
	skipCompute  = 1 << 13 // compute process list not supported
	skipGraphics = 1 << 14 // graphics process list not supported
)

// notAvailable is NVML_VALUE_NOT_AVAILABLE in a 64-bit field.
const notAvailable = ^uint64(0)

// Monitor reads the GPUs of this host through NVML. Its methods may be called from
// several goroutines. After [Monitor.Close] they return errors and call no NVML.
type Monitor struct {
	lib nvml.Interface

	mu     sync.RWMutex // held for reading around every NVML call, for writing by Close
	closed bool

	devs      []devState
	driver    string
	cuda      string
	hasMemV2  bool
	hasEnergy bool

	// epoch is when the Monitor opened; energyGap spaces energy-counter reads (see
	// [DefaultEnergyGap]).
	epoch     time.Time
	energyGap time.Duration
}

// devState is one device's handle and what it was found not to support.
type devState struct {
	h nvml.Device
	// skip holds the Field bits (and skip* bits) whose NVML calls answered
	// ERROR_NOT_SUPPORTED or ERROR_NO_PERMISSION: they are not asked again.
	skip atomic.Uint32
	// nextEnergy is when (time since the Monitor's epoch, in ns) the energy counter
	// may be read again.
	nextEnergy atomic.Int64
}

// Open loads and initialises NVML and finds the GPUs. Without a driver it returns an
// [*UnavailableError] (errors.Is(err, ErrUnavailable)) with the reason; it never
// crashes. Close the Monitor when done.
func Open() (*Monitor, error) {
	return open(nvml.New())
}

// open is Open on a given NVML (the real library or a mock).
func open(lib nvml.Interface) (*Monitor, error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		// Note: nothing else may be called now, not even Shutdown: with the library
		// missing, any other NVML symbol is unresolved and kills the process.
		return nil, &UnavailableError{Reason: initReason(ret)}
	}
	m := &Monitor{lib: lib, epoch: time.Now(), energyGap: DefaultEnergyGap}
	fail := func(reason string) (*Monitor, error) {
		lib.Shutdown()
		return nil, &UnavailableError{Reason: reason}
	}
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return fail("count GPUs: " + ret.Error())
	}
	if n <= 0 {
		return fail("NVML found no NVIDIA GPU on this host")
	}
	m.devs = make([]devState, n)
	for i := range m.devs {
		h, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return fail(fmt.Sprintf("get GPU %d: %v", i, ret))
		}
		m.devs[i].h = h
	}
	if ext := lib.Extensions(); ext != nil {
		m.hasMemV2 = ext.LookupSymbol(symMemoryInfoV2) == nil
		m.hasEnergy = ext.LookupSymbol(symTotalEnergy) == nil
	}
	if v, ret := lib.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		m.driver = v
	}
	if v, ret := lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS && v > 0 {
		m.cuda = cudaVersion(v)
	}
	return m, nil
}

// initReason says, for a person, why nvmlInit answered ret.
func initReason(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "NVML not found: no NVIDIA driver on this host (libnvidia-ml.so.1)"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "NVIDIA driver not loaded: is the nvidia kernel module loaded? (nvidia-smi)"
	case nvml.ERROR_NO_PERMISSION:
		return "no permission to use the NVIDIA driver (/dev/nvidiactl)"
	case nvml.ERROR_FUNCTION_NOT_FOUND:
		return "NVIDIA driver too old for NVML (nvmlInit_v2 missing)"
	}
	return "initialise NVML: " + ret.Error()
}

// cudaVersion turns NVML's 12040 into "12.4".
func cudaVersion(v int) string {
	return strconv.Itoa(v/1000) + "." + strconv.Itoa(v%1000/10)
}

// Close shuts NVML down. Later calls of the Monitor's methods return errors.
func (m *Monitor) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if ret := m.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("shut down NVML: %w", ret)
	}
	return nil
}

// lock takes the read lock unless the Monitor is closed; the caller must RUnlock
// when it returns nil.
func (m *Monitor) lock() error {
	if m == nil {
		return errClosed
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return errClosed
	}
	return nil
}

// fatal reports whether ret means the device (or NVML) is gone, not just a field.
func fatal(ret nvml.Return) bool {
	return ret == nvml.ERROR_GPU_IS_LOST || ret == nvml.ERROR_UNINITIALIZED
}

// permanent reports whether ret will not change on the next call.
func permanent(ret nvml.Return) bool {
	return ret == nvml.ERROR_NOT_SUPPORTED || ret == nvml.ERROR_NO_PERMISSION ||
		ret == nvml.ERROR_FUNCTION_NOT_FOUND || ret == nvml.ERROR_ARGUMENT_VERSION_MISMATCH
}

// Inventory describes every GPU. Properties a device does not report are left zero;
// the error is non-nil only when a device is lost (the others are still returned).
func (m *Monitor) Inventory() ([]Device, error) {
	if err := m.lock(); err != nil {
		return nil, fmt.Errorf("gpu inventory: %w", err)
	}
	defer m.mu.RUnlock()
	out := make([]Device, 0, len(m.devs))
	var errs []error
	for i := range m.devs {
		d, err := m.describe(i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

func (m *Monitor) describe(i int) (Device, error) {
	h := m.devs[i].h
	d := Device{Index: i, Driver: m.driver, CUDA: m.cuda}
	var lost nvml.Return
	ok := func(ret nvml.Return) bool {
		if fatal(ret) {
			lost = ret
		}
		return ret == nvml.SUCCESS
	}
	if v, ret := h.GetName(); ok(ret) {
		d.Name = v
	}
	if v, ret := h.GetUUID(); ok(ret) {
		d.UUID = v
	}
	if v, ret := h.GetMemoryInfo(); ok(ret) {
		d.VRAMTotal = v.Total
	}
	if v, ret := h.GetEnforcedPowerLimit(); ok(ret) {
		d.PowerLimitW = float64(v) / 1000
	} else if v, ret := h.GetPowerManagementLimit(); ok(ret) {
		d.PowerLimitW = float64(v) / 1000
	}
	if v, ret := h.GetCurrPcieLinkGeneration(); ok(ret) {
		d.PCIeGen = v
	}
	if v, ret := h.GetCurrPcieLinkWidth(); ok(ret) {
		d.PCIeWidth = v
	}
	if v, ret := h.GetMaxPcieLinkGeneration(); ok(ret) {
		d.PCIeMaxGen = v
	}
	if v, ret := h.GetMaxPcieLinkWidth(); ok(ret) {
		d.PCIeMaxWidth = v
	}
	if v, ret := h.GetAccountingMode(); ok(ret) {
		d.Accounting = v == nvml.FEATURE_ENABLED
	}
	if lost != nvml.SUCCESS {
		return d, fmt.Errorf("describe GPU %d: %w", i, lost)
	}
	return d, nil
}

// Sample reads one sample per device in indexes (nil: every device), in that order.
// A measurement a device does not support is left zero and listed in
// [Sample.Missing]. A device that cannot be read at all (lost) is left out and named
// in the error, beside the samples of the others.
func (m *Monitor) Sample(indexes []int) ([]Sample, error) {
	if err := m.lock(); err != nil {
		return nil, fmt.Errorf("gpu sample: %w", err)
	}
	defer m.mu.RUnlock()
	if indexes == nil {
		indexes = make([]int, len(m.devs))
		for i := range indexes {
			indexes[i] = i
		}
	}
	for _, i := range indexes {
		if i < 0 || i >= len(m.devs) {
			return nil, fmt.Errorf("gpu sample: no GPU with index %d (this host has %d)", i, len(m.devs))
		}
	}
	every := m.energyGap * time.Duration(len(indexes))
	out := make([]Sample, 0, len(indexes))
	var errs []error
	for _, i := range indexes {
		s, err := m.read(i, every)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// read samples device i, reading its energy counter if the last read is energyEvery
// old. The caller holds the read lock.
func (m *Monitor) read(i int, energyEvery time.Duration) (Sample, error) {
	d := &m.devs[i]
	h := d.h
	skip := Field(d.skip.Load())
	s := Sample{Index: i}
	var lost nvml.Return
	var lastErr nvml.Return
	// ok records what ret says about the bits of f: permanent failures are not
	// asked again.
	ok := func(f Field, ret nvml.Return) bool {
		switch {
		case ret == nvml.SUCCESS:
			return true
		case permanent(ret):
			d.skip.Or(uint32(f))
		case fatal(ret):
			lost = ret
		}
		lastErr = ret
		return false
	}

	// VRAM: _v2 separates reserved memory from used (as nvidia-smi shows it).
	gotMem := false
	if m.hasMemV2 && !skip.Has(skipMemV2) {
		if v, ret := h.GetMemoryInfo_v2(); ok(skipMemV2, ret) {
			s.VRAMUsed, gotMem = v.Used, true
		}
	}
	if !gotMem && !skip.Has(FieldVRAM) {
		if v, ret := h.GetMemoryInfo(); ok(FieldVRAM, ret) {
			s.VRAMUsed, gotMem = v.Used, true
		}
	}
	if !gotMem {
		s.Missing |= FieldVRAM
	}

	if u, ret := getIf(skip, FieldUtil, h.GetUtilizationRates); ok(FieldUtil, ret) {
		s.UtilGPU, s.UtilMem = float64(u.Gpu), float64(u.Memory)
	} else {
		s.Missing |= FieldUtil
	}
	if p, ret := getIf(skip, FieldPower, h.GetPowerUsage); ok(FieldPower, ret) {
		s.PowerW = float64(p) / 1000
	} else {
		s.Missing |= FieldPower
	}
	if c, ret := getIf(skip, FieldClock, func() (uint32, nvml.Return) { return h.GetClockInfo(nvml.CLOCK_SM) }); ok(FieldClock, ret) {
		s.SMClockMHz = int(c)
	} else {
		s.Missing |= FieldClock
	}
	// Note: GetTemperature is deprecated for GetTemperatureV, which needs a newer
	// driver; the old call works on every driver.
	if t, ret := getIf(skip, FieldTemp, func() (uint32, nvml.Return) { return h.GetTemperature(nvml.TEMPERATURE_GPU) }); ok(FieldTemp, ret) {
		s.TempC = int(t)
	} else {
		s.Missing |= FieldTemp
	}
	since := int64(time.Since(m.epoch))
	if !m.hasEnergy || since < d.nextEnergy.Load() {
		s.Missing |= FieldEnergy
	} else if e, ret := getIf(skip, FieldEnergy, h.GetTotalEnergyConsumption); ok(FieldEnergy, ret) {
		s.EnergyMJ = e
		d.nextEnergy.Store(since + int64(energyEvery))
	} else {
		s.Missing |= FieldEnergy
	}

	listed := false
	add := func(ps []nvml.ProcessInfo) {
		listed = true
		if s.ProcVRAM == nil {
			s.ProcVRAM = make(map[uint32]uint64, len(ps))
		}
		for _, p := range ps {
			if p.UsedGpuMemory == notAvailable {
				continue
			}
			// A process in both lists is counted once, at its larger figure.
			s.ProcVRAM[p.Pid] = max(s.ProcVRAM[p.Pid], p.UsedGpuMemory)
		}
	}
	if ps, ret := getIf(skip, skipCompute, h.GetComputeRunningProcesses); ok(skipCompute, ret) {
		add(ps)
	}
	if ps, ret := getIf(skip, skipGraphics, h.GetGraphicsRunningProcesses); ok(skipGraphics, ret) {
		add(ps)
	}
	if !listed {
		s.Missing |= FieldProcs
	}

	s.T = time.Now()
	if lost != nvml.SUCCESS {
		return Sample{}, fmt.Errorf("read GPU %d: %w", i, lost)
	}
	if s.Missing.Has(AllFields) {
		return Sample{}, fmt.Errorf("read GPU %d: no measurement available: %w", i, lastErr)
	}
	return s, nil
}

// getIf calls get unless f is in skip, in which case it answers ERROR_NOT_SUPPORTED
// without calling NVML.
func getIf[T any](skip, f Field, get func() (T, nvml.Return)) (T, nvml.Return) {
	if skip&f != 0 {
		var zero T
		return zero, nvml.ERROR_NOT_SUPPORTED
	}
	return get()
}

// StartSampler samples the devices in indexes (nil: all) every interval (and once at
// once) in its own goroutine, until ctx ends or [Sampler.Stop]. It keeps at most
// [DefaultMaxTicks] rounds, decimating beyond (see [Sampler]).
func (m *Monitor) StartSampler(ctx context.Context, interval time.Duration, indexes []int) *Sampler {
	return m.StartSamplerCap(ctx, interval, indexes, DefaultMaxTicks)
}

// StartSamplerCap is [Monitor.StartSampler] keeping at most maxTicks rounds (at least 2).
func (m *Monitor) StartSamplerCap(ctx context.Context, interval time.Duration, indexes []int, maxTicks int) *Sampler {
	idx := append([]int(nil), indexes...)
	if indexes == nil {
		idx = nil
	}
	return newSampler(ctx, interval, maxTicks, func() ([]Sample, error) { return m.Sample(idx) })
}

// ProcessPeaks returns, for the given host PIDs, the largest device memory each used as
// NVML accounting recorded it (summed over devices where a process used several), in
// bytes. ok is false when accounting mode is enabled on no device or it recorded none
// of the PIDs; then the sampled peak is all there is.
func (m *Monitor) ProcessPeaks(pids []uint32) (map[uint32]uint64, bool) {
	if len(pids) == 0 || m.lock() != nil {
		return nil, false
	}
	defer m.mu.RUnlock()
	peaks := map[uint32]uint64{}
	for i := range m.devs {
		h := m.devs[i].h
		mode, ret := h.GetAccountingMode()
		if ret != nvml.SUCCESS || mode != nvml.FEATURE_ENABLED {
			continue
		}
		for _, pid := range pids {
			st, ret := h.GetAccountingStats(pid)
			if ret != nvml.SUCCESS || st.MaxMemoryUsage == notAvailable {
				continue
			}
			peaks[pid] += st.MaxMemoryUsage
		}
	}
	if len(peaks) == 0 {
		return nil, false
	}
	return peaks, true
}
