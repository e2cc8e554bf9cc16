//go:build cgo

package gpu

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/google/go-cmp/cmp"
)

// recordingLib is an nvml.Interface that records the calls it gets. Only Init and a few
// methods are implemented; any other call hits the nil embedded interface and panics,
// which the tests catch and report as a call that must not happen.
type recordingLib struct {
	nvml.Interface
	initRet  nvml.Return
	count    int
	countRet nvml.Return
	calls    []string
}

func (l *recordingLib) Init() nvml.Return {
	l.calls = append(l.calls, "Init")
	return l.initRet
}

func (l *recordingLib) Shutdown() nvml.Return {
	l.calls = append(l.calls, "Shutdown")
	return nvml.SUCCESS
}

func (l *recordingLib) DeviceGetCount() (int, nvml.Return) {
	l.calls = append(l.calls, "DeviceGetCount")
	return l.count, l.countRet
}

// openCatching calls open and turns a panic (a call recordingLib does not implement)
// into a test failure.
func openCatching(t *testing.T, lib nvml.Interface) (m *Monitor, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("open made an NVML call it must not make: %v", r)
		}
	}()
	return open(lib)
}

func TestOpenInitFailsNoOtherCall(t *testing.T) {
	for _, tc := range []struct {
		ret  nvml.Return
		want string
	}{
		{nvml.ERROR_LIBRARY_NOT_FOUND, "NVML not found: no NVIDIA driver on this host (libnvidia-ml.so.1)"},
		{nvml.ERROR_DRIVER_NOT_LOADED, "NVIDIA driver not loaded"},
		{nvml.ERROR_NO_PERMISSION, "no permission"},
		{nvml.ERROR_UNKNOWN, "initialise NVML: ERROR_UNKNOWN"},
	} {
		t.Run(tc.ret.Error(), func(t *testing.T) {
			lib := &recordingLib{initRet: tc.ret}
			m, err := openCatching(t, lib)
			if m != nil {
				t.Errorf("open returned a Monitor after a failed Init")
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want one matching ErrUnavailable", err)
			}
			if r := Reason(err); !strings.Contains(r, tc.want) {
				t.Errorf("Reason = %q, want it to contain %q", r, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "GPU metrics unavailable: ") {
				t.Errorf("err = %q, want the prefix %q", err, "GPU metrics unavailable: ")
			}
			if diff := cmp.Diff([]string{"Init"}, lib.calls); diff != "" {
				t.Errorf("NVML calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenNoDevicesShutsDown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		count int
		ret   nvml.Return
		want  string
	}{
		{"zero", 0, nvml.SUCCESS, "no NVIDIA GPU"},
		{"count fails", 0, nvml.ERROR_UNKNOWN, "count GPUs: ERROR_UNKNOWN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lib := &recordingLib{initRet: nvml.SUCCESS, count: tc.count, countRet: tc.ret}
			_, err := openCatching(t, lib)
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrUnavailable containing %q", err, tc.want)
			}
			if diff := cmp.Diff([]string{"Init", "DeviceGetCount", "Shutdown"}, lib.calls); diff != "" {
				t.Errorf("NVML calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOpenThisHost runs the real Open: on a host without a driver (CI) it must say so
// and not crash; on a GPU host it must describe the GPUs.
func TestOpenThisHost(t *testing.T) {
	m, err := Open()
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Open: %v, want ErrUnavailable", err)
		}
		t.Logf("Open: %v", err)
		return
	}
	defer m.Close()
	devs, err := m.Inventory()
	if err != nil || len(devs) == 0 {
		t.Fatalf("Inventory = %v, %v", devs, err)
	}
	ss, err := m.Sample(nil)
	if err != nil || len(ss) != len(devs) {
		t.Fatalf("Sample = %d samples, %v; want %d", len(ss), err, len(devs))
	}
	for i, d := range devs {
		if d.Name == "" || d.VRAMTotal == 0 {
			t.Errorf("device %d: %+v: want a name and VRAM", i, d)
		}
		t.Logf("%+v\n  %+v (missing: %v)", d, ss[i], ss[i].Missing)
	}
}

func openRig(t testing.TB) (*rig, *Monitor) {
	t.Helper()
	r := newRig()
	m, err := open(r)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	m.energyGap = 0 // read the counter on every sample; TestEnergyGap tests the gap
	t.Cleanup(func() { m.Close() })
	return r, m
}

func TestInventory(t *testing.T) {
	r, m := openRig(t)
	got, err := m.Inventory()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 {
		t.Fatalf("got %d devices, want 8", len(got))
	}
	var want []Device
	uuids := map[string]bool{}
	for i := range 8 {
		uuid := r.dev(i).UUID
		if !strings.HasPrefix(uuid, "GPU-") || uuids[uuid] {
			t.Fatalf("mock UUID %q: not a fresh GPU- UUID", uuid)
		}
		uuids[uuid] = true
		want = append(want, Device{
			Index: i, Name: "NVIDIA H100 80GB HBM3", UUID: uuid, Driver: "550.54.15", CUDA: "12.4",
			VRAMTotal: 85899345920, PowerLimitW: 700, PCIeGen: 5, PCIeWidth: 16, PCIeMaxGen: 5, PCIeMaxWidth: 16,
			Accounting: i == 0,
		})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Inventory (-want +got):\n%s", diff)
	}
}

func TestInventoryUnsupportedFields(t *testing.T) {
	r, m := openRig(t)
	d := r.dev(3)
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	d.GetPowerManagementLimitFunc = func() (uint32, nvml.Return) { return 350_000, nvml.SUCCESS }
	d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	d.GetCurrPcieLinkWidthFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	d.GetAccountingModeFunc = func() (nvml.EnableState, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	d.GetNameFunc = func() (string, nvml.Return) { return "", nvml.ERROR_NO_PERMISSION }
	devs, err := m.Inventory()
	if err != nil {
		t.Fatalf("Inventory: %v (unsupported fields must not fail it)", err)
	}
	got := devs[3]
	if got.PowerLimitW != 350 || got.PCIeGen != 0 || got.PCIeWidth != 0 || got.PCIeMaxGen != 5 || got.Accounting || got.Name != "" || got.VRAMTotal != 85899345920 {
		t.Errorf("device 3 = %+v; want the management limit, no current link, no name, the rest", got)
	}
}

func TestInventoryLostGPU(t *testing.T) {
	r, m := openRig(t)
	r.dev(5).GetUUIDFunc = func() (string, nvml.Return) { return "", nvml.ERROR_GPU_IS_LOST }
	devs, err := m.Inventory()
	if !errors.Is(err, nvml.ERROR_GPU_IS_LOST) || !strings.Contains(err.Error(), "describe GPU 5") {
		t.Errorf("err = %v, want GPU 5 lost", err)
	}
	if len(devs) != 7 {
		t.Errorf("got %d devices, want the 7 others", len(devs))
	}
}

func TestSampleScenario(t *testing.T) {
	r, m := openRig(t)
	for _, tc := range []struct {
		at   time.Duration
		want Sample // for device 0; T is not compared
	}{
		{1 * time.Second, Sample{Index: 0, VRAMUsed: vramIdle, ProcVRAM: map[uint32]uint64{}, PowerW: 70, SMClockMHz: 345, TempC: 30, EnergyMJ: energyMJ(true, time.Second)}},
		{7 * time.Second, Sample{Index: 0, VRAMUsed: vramIdle + vramModel/2, ProcVRAM: map[uint32]uint64{comfyPID: vramModel/2 + 500<<20},
			UtilGPU: 5, UtilMem: 20, PowerW: 120, SMClockMHz: 1980, TempC: 34, EnergyMJ: energyMJ(true, 7*time.Second)}},
		{20 * time.Second, Sample{Index: 0, VRAMUsed: vramIdle + vramModel + vramActive, ProcVRAM: map[uint32]uint64{comfyPID: vramModel + vramActive + 500<<20},
			UtilGPU: 98, UtilMem: 60, PowerW: 650, SMClockMHz: 1980, TempC: 48, EnergyMJ: energyMJ(true, 20*time.Second)}},
	} {
		t.Run(tc.at.String(), func(t *testing.T) {
			r.at(tc.at)
			before := time.Now()
			ss, err := m.Sample(nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) != 8 {
				t.Fatalf("got %d samples, want 8", len(ss))
			}
			for i, s := range ss {
				if s.Index != i || s.T.Before(before) || s.Missing != 0 {
					t.Errorf("sample %d: Index %d, T %v (before %v), Missing %v", i, s.Index, s.T, before, s.Missing)
				}
			}
			if diff := cmp.Diff(tc.want, ss[0], cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "T" }, cmp.Ignore())); diff != "" {
				t.Errorf("device 0 (-want +got):\n%s", diff)
			}
			if ss[1].VRAMUsed != vramIdle || ss[1].UtilGPU != 0 || len(ss[1].ProcVRAM) != 0 {
				t.Errorf("idle device 1 = %+v", ss[1])
			}
		})
	}
}

func TestSampleIndexes(t *testing.T) {
	_, m := openRig(t)
	ss, err := m.Sample([]int{3, 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Index != 3 || ss[1].Index != 0 {
		t.Errorf("Sample([3 0]) = %+v, want devices 3 then 0", ss)
	}
	for _, bad := range [][]int{{8}, {-1}, {0, 99}} {
		if ss, err := m.Sample(bad); err == nil || ss != nil || !strings.Contains(err.Error(), "no GPU with index") {
			t.Errorf("Sample(%v) = %v, %v; want an index error", bad, ss, err)
		}
	}
}

func TestSampleUnsupportedFields(t *testing.T) {
	r, m := openRig(t)
	r.at(20 * time.Second)
	d := r.dev(0)
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, nvml.ERROR_NO_PERMISSION }
	d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }
	d.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, nvml.ERROR_TIMEOUT } // transient
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: 1, UsedGpuMemory: notAvailable}, {Pid: comfyPID, UsedGpuMemory: 7}}, nvml.SUCCESS
	}
	for round := range 3 {
		ss, err := m.Sample([]int{0})
		if err != nil {
			t.Fatal(err)
		}
		s := ss[0]
		if want := FieldPower | FieldTemp | FieldClock; s.Missing != want {
			t.Errorf("round %d: Missing = %v, want %v", round, s.Missing, want)
		}
		if s.PowerW != 0 || s.TempC != 0 || s.UtilGPU != 98 || s.VRAMUsed == 0 {
			t.Errorf("round %d: %+v", round, s)
		}
		if diff := cmp.Diff(map[uint32]uint64{comfyPID: 7}, s.ProcVRAM); diff != "" {
			t.Errorf("ProcVRAM (-want +got), a process without a figure left out:\n%s", diff)
		}
	}
	// Permanent failures are asked once; a transient one every time.
	for name, n := range map[string]int{
		"GetPowerUsage":               len(d.GetPowerUsageCalls()),
		"GetTemperature":              len(d.GetTemperatureCalls()),
		"GetGraphicsRunningProcesses": len(d.GetGraphicsRunningProcessesCalls()),
	} {
		if n != 1 {
			t.Errorf("%s called %d times in 3 rounds, want 1", name, n)
		}
	}
	if n := len(d.GetClockInfoCalls()); n != 3 {
		t.Errorf("GetClockInfo called %d times in 3 rounds, want 3", n)
	}
}

func TestSampleNewerSymbolsGuarded(t *testing.T) {
	r := newRig()
	r.missing[symMemoryInfoV2] = true
	r.missing[symTotalEnergy] = true
	m, err := open(r)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.energyGap = 0
	r.at(20 * time.Second)
	ss, err := m.Sample(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if s.Missing != FieldEnergy || s.EnergyMJ != 0 {
			t.Errorf("device %d: Missing %v, EnergyMJ %d; want only energy missing", s.Index, s.Missing, s.EnergyMJ)
		}
	}
	// Without _v2, used memory comes from v1 and includes the reserved memory.
	if want := vramIdle + vramModel + vramActive + reservedBytes; ss[0].VRAMUsed != want {
		t.Errorf("VRAMUsed = %d, want v1's %d", ss[0].VRAMUsed, want)
	}
	for i := range 8 {
		d := r.dev(i)
		if n, e := len(d.GetMemoryInfo_v2Calls()), len(d.GetTotalEnergyConsumptionCalls()); n+e != 0 {
			t.Errorf("device %d: GetMemoryInfo_v2 called %d times, GetTotalEnergyConsumption %d times; their symbols are missing", i, n, e)
		}
	}
}

func TestSampleMemV2FailsFallsBack(t *testing.T) {
	r, m := openRig(t)
	r.at(20 * time.Second)
	r.dev(0).GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) { return nvml.Memory_v2{}, nvml.ERROR_ARGUMENT_VERSION_MISMATCH }
	for range 2 {
		ss, err := m.Sample([]int{0, 1})
		if err != nil {
			t.Fatal(err)
		}
		if want := vramIdle + vramModel + vramActive + reservedBytes; ss[0].VRAMUsed != want || ss[0].Missing != 0 {
			t.Errorf("device 0: VRAMUsed %d Missing %v, want %d from v1", ss[0].VRAMUsed, ss[0].Missing, want)
		}
		if ss[1].VRAMUsed != vramIdle {
			t.Errorf("device 1: VRAMUsed %d, want %d from v2", ss[1].VRAMUsed, vramIdle)
		}
	}
	if n := len(r.dev(0).GetMemoryInfo_v2Calls()); n != 1 {
		t.Errorf("GetMemoryInfo_v2 called %d times after it failed for good, want 1", n)
	}
}

func TestSampleLostGPU(t *testing.T) {
	r, m := openRig(t)
	r.dev(2).GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_GPU_IS_LOST }
	ss, err := m.Sample(nil)
	if !errors.Is(err, nvml.ERROR_GPU_IS_LOST) || !strings.Contains(err.Error(), "read GPU 2") {
		t.Errorf("err = %v, want GPU 2 lost", err)
	}
	if len(ss) != 7 {
		t.Fatalf("got %d samples, want the other 7", len(ss))
	}
	for _, s := range ss {
		if s.Index == 2 {
			t.Errorf("lost device 2 sampled: %+v", s)
		}
	}
}

func TestSampleNothingReadable(t *testing.T) {
	r := newRig()
	r.missing[symTotalEnergy] = true
	m, err := open(r)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d := r.dev(1)
	no := nvml.ERROR_UNKNOWN
	d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) { return nvml.Memory_v2{}, no }
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, no }
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, no }
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, no }
	d.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, no }
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, no }
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, no }
	d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, no }
	ss, err := m.Sample([]int{0, 1})
	if err == nil || !strings.Contains(err.Error(), "read GPU 1: no measurement available") || !errors.Is(err, nvml.ERROR_UNKNOWN) {
		t.Errorf("err = %v", err)
	}
	if len(ss) != 1 || ss[0].Index != 0 {
		t.Errorf("samples = %+v, want device 0's only", ss)
	}
}

func TestProcessPeaks(t *testing.T) {
	_, m := openRig(t)
	peaks, ok := m.ProcessPeaks([]uint32{comfyPID, 99})
	if !ok {
		t.Fatal("ProcessPeaks: ok = false, want accounting peaks from device 0")
	}
	if diff := cmp.Diff(map[uint32]uint64{comfyPID: accountingPeak}, peaks); diff != "" {
		t.Errorf("peaks (-want +got):\n%s", diff)
	}
	if p, ok := m.ProcessPeaks([]uint32{99}); ok || p != nil {
		t.Errorf("ProcessPeaks of an unknown PID = %v, %v; want nil, false", p, ok)
	}
	if p, ok := m.ProcessPeaks(nil); ok || p != nil {
		t.Errorf("ProcessPeaks(nil) = %v, %v; want nil, false", p, ok)
	}
}

func TestProcessPeaksAccountingOff(t *testing.T) {
	r, m := openRig(t)
	r.dev(0).GetAccountingModeFunc = func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_DISABLED, nvml.SUCCESS }
	if p, ok := m.ProcessPeaks([]uint32{comfyPID}); ok || p != nil {
		t.Errorf("ProcessPeaks = %v, %v; want nil, false without accounting", p, ok)
	}
	if n := len(r.dev(0).GetAccountingStatsCalls()); n != 0 {
		t.Errorf("GetAccountingStats called %d times with accounting off", n)
	}
}

func TestClose(t *testing.T) {
	r, m := openRig(t)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := len(r.ShutdownCalls()); n != 1 {
		t.Errorf("Shutdown called %d times, want 1", n)
	}
	calls := len(r.dev(0).GetPowerUsageCalls())
	if _, err := m.Sample(nil); !errors.Is(err, errClosed) {
		t.Errorf("Sample after Close: %v", err)
	}
	if _, err := m.Inventory(); !errors.Is(err, errClosed) {
		t.Errorf("Inventory after Close: %v", err)
	}
	if _, ok := m.ProcessPeaks([]uint32{comfyPID}); ok {
		t.Error("ProcessPeaks after Close: ok")
	}
	if n := len(r.dev(0).GetPowerUsageCalls()); n != calls {
		t.Errorf("NVML called after Close")
	}
	var nilM *Monitor
	if _, err := nilM.Sample(nil); err == nil {
		t.Error("Sample on a nil Monitor: no error")
	}
}

func TestCUDAVersion(t *testing.T) {
	for v, want := range map[int]string{12040: "12.4", 12080: "12.8", 11020: "11.2", 13000: "13.0", 12090: "12.9"} {
		if got := cudaVersion(v); got != want {
			t.Errorf("cudaVersion(%d) = %q, want %q", v, got, want)
		}
	}
}

// TestSamplerScenario runs the sampler at 10 Hz over the whole scenario on a fake
// clock (synctest) and checks what a report would say about each phase.
func TestSamplerScenario(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig() // its start is the bubble's start
		m, err := open(r)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		t0 := r.start
		ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second+50*time.Millisecond)
		defer cancel()
		s := m.StartSampler(ctx, 100*time.Millisecond, []int{0})
		<-ctx.Done()
		synctest.Wait()
		got := s.Stop()
		if n, err := s.Err(); n != 0 {
			t.Fatalf("%d sampling errors, last %v", n, err)
		}
		if len(got) != 402 {
			t.Fatalf("got %d samples in 40 s at 10 Hz, want 401 and the last one at the end", len(got))
		}
		at := func(d time.Duration) time.Time { return t0.Add(d) }

		load := Summarize(got, at(loadFrom), at(sampleFrom-time.Millisecond))
		if load.N != 100 || load.UtilMean != 5 || load.PowerMeanW != 120 {
			t.Errorf("load phase: %+v", load)
		}
		if load.VRAMPeak < vramIdle+vramModel*98/100 || load.VRAMPeak >= vramIdle+vramModel {
			t.Errorf("load phase VRAMPeak %d, want the ramp's top just under %d", load.VRAMPeak, vramIdle+vramModel)
		}

		smp := Summarize(got, at(sampleFrom), at(sampleTo-time.Millisecond))
		want := Summary{
			N: 180, VRAMPeak: vramIdle + vramModel + vramActive, VRAMMean: vramIdle + vramModel + vramActive,
			VRAMPeakSampled: vramIdle + vramModel + vramActive, PeakSource: PeakSampled,
			UtilMean: 98, UtilP95: 98, MemUtilMean: 60, PowerMeanW: 650, PowerMaxW: 650,
			EnergyJ: 650 * 17.9, EnergySource: EnergyCounter, TempMaxC: 57, SMClockMeanMHz: 1980, Devices: []int{0},
		}
		if diff := cmp.Diff(want, smp, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(a)) })); diff != "" {
			t.Errorf("sampling phase (-want +got):\n%s", diff)
		}

		all := Summarize(got, time.Time{}, time.Time{})
		wantJ := float64(energyMJ(true, got[len(got)-1].T.Sub(t0))-energyMJ(true, 0)) / 1000 // to the last round, at Stop
		if all.EnergySource != EnergyCounter || math.Abs(all.EnergyJ-wantJ) > 1e-6 {
			t.Errorf("energy over the run = %v J (%s), want %v J from the counter", all.EnergyJ, all.EnergySource, wantJ)
		}
		if all.TempMaxC != 57 || all.VRAMPeak != vramIdle+vramModel+vramActive {
			t.Errorf("whole run: %+v", all)
		}

		// Accounting caught a spike the samples missed.
		pids := PIDs(got)
		if diff := cmp.Diff([]uint32{comfyPID}, pids); diff != "" {
			t.Fatalf("PIDs (-want +got):\n%s", diff)
		}
		peaks, ok := m.ProcessPeaks(pids)
		if !ok {
			t.Fatal("no accounting peaks")
		}
		acc := all.WithAccountingPeaks(peaks)
		if acc.VRAMPeak != accountingPeak || acc.PeakSource != PeakAccounting || acc.VRAMPeakSampled != all.VRAMPeak {
			t.Errorf("with accounting: peak %d (%s), sampled %d", acc.VRAMPeak, acc.PeakSource, acc.VRAMPeakSampled)
		}

		series := Compact(got, t0, 100)
		sr := series[0]
		if len(series) != 1 || len(sr.T) != 100 || len(sr.VRAMUsed) != 100 || len(sr.UtilGPU) != 100 || len(sr.PowerW) != 100 {
			t.Fatalf("Compact: %d devices, %d points", len(series), len(sr.T))
		}
		if slicesMax(sr.VRAMUsed) != vramIdle+vramModel+vramActive {
			t.Errorf("Compact lost the VRAM peak: %d", slicesMax(sr.VRAMUsed))
		}
		if sr.T[0] < 0 || sr.T[0] > 0.3 || sr.T[99] < 39.5 || sr.T[99] > 40 {
			t.Errorf("Compact T runs %v..%v, want about 0..40 s", sr.T[0], sr.T[99])
		}

		first := Summarize(got, at(loadFrom), at(sampleTo))
		if w := Warnings(first, vramModel, smp.UtilMean); len(w) != 0 {
			t.Errorf("warnings for a model that fits and a busy GPU: %q", w)
		}
		if w := Warnings(first, 60*gb, load.UtilMean); len(w) != 2 {
			t.Errorf("warnings for a 60 GB model and 5%% utilisation: %q", w)
		}
	})
}

func slicesMax(xs []uint64) uint64 {
	var m uint64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// TestEnergyGap: the costly energy counter is read once per DefaultEnergyGap (2 s)
// per device sampled, and the energy over a window stays exact.
func TestEnergyGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rAll, rOne := newRig(), newRig()
		mAll, err := open(rAll)
		if err != nil {
			t.Fatal(err)
		}
		defer mAll.Close()
		mOne, err := open(rOne)
		if err != nil {
			t.Fatal(err)
		}
		defer mOne.Close()
		var one []Sample
		for range 200 { // 20 s at 10 Hz
			if _, err := mAll.Sample(nil); err != nil {
				t.Fatal(err)
			}
			ss, err := mOne.Sample([]int{0})
			if err != nil {
				t.Fatal(err)
			}
			one = append(one, ss...)
			time.Sleep(100 * time.Millisecond)
		}
		// Rounds of 8 devices read each counter every 16 s (at 0 and 16 s), rounds of
		// one device every 2 s.
		for i := range 8 {
			if n := len(rAll.dev(i).GetTotalEnergyConsumptionCalls()); n != 2 {
				t.Errorf("device %d: %d counter reads in 20 s of 8-device rounds, want 2", i, n)
			}
		}
		with := 0
		for _, s := range one {
			if !s.Missing.Has(FieldEnergy) {
				with++
			}
		}
		if n := len(rOne.dev(0).GetTotalEnergyConsumptionCalls()); n != 10 || with != 10 {
			t.Errorf("one device: %d counter reads, %d samples with it; want 10", n, with)
		}
		// From 4.05 s (load, 120 W) to 15.05 s (sampling, 650 W): counter readings at
		// 6..14 s, the edges integrated.
		from, to := rOne.start.Add(4*time.Second+50*time.Millisecond), rOne.start.Add(15*time.Second+50*time.Millisecond)
		want := 120*7.9 + 650*3.0
		got := Summarize(one, from, to)
		if got.EnergySource != EnergyCounter || math.Abs(got.EnergyJ-want) > 1e-6 {
			t.Errorf("energy %v J (%s), want %v J", got.EnergyJ, got.EnergySource, want)
		}
	})
}

// TestSamplerClosedMonitor: a sampler whose Monitor is closed keeps counting errors
// and calls no NVML.
func TestSamplerClosedMonitor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, m := openRig(t)
		m.Close()
		calls := len(r.dev(0).GetPowerUsageCalls())
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		s := m.StartSampler(ctx, 100*time.Millisecond, nil)
		<-ctx.Done()
		got := s.Stop()
		n, err := s.Err()
		if len(got) != 0 || n < 10 || !errors.Is(err, errClosed) {
			t.Errorf("samples %d, errors %d (%v)", len(got), n, err)
		}
		if len(r.dev(0).GetPowerUsageCalls()) != calls {
			t.Error("NVML called after Close")
		}
	})
}

func ExampleOpen() {
	m, err := Open()
	if errors.Is(err, ErrUnavailable) {
		fmt.Println("GPU metrics skipped:", Reason(err))
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	ss, err := m.Sample(nil)
	if err != nil {
		fmt.Println(err)
	}
	for _, s := range ss {
		fmt.Printf("GPU %d: %.1f GB used, %.0f%% busy\n", s.Index, float64(s.VRAMUsed)/1e9, s.UtilGPU)
	}
}
