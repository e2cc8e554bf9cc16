package gpu

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var base = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// sec is base + s seconds.
func sec(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }

func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(a)) }

func TestSummarizeEmpty(t *testing.T) {
	got := Summarize(nil, time.Time{}, time.Time{})
	if diff := cmp.Diff(Summary{Missing: AllFields}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A window with nothing in it is empty too.
	ss := []Sample{{T: sec(1), VRAMUsed: 5}}
	if got := Summarize(ss, sec(2), sec(3)); got.N != 0 || got.VRAMPeak != 0 || got.Missing != AllFields {
		t.Errorf("empty window: %+v", got)
	}
}

func TestSummarizeCounterEnergy(t *testing.T) {
	// Power says 100 W but the counter says 50 J/s: the counter wins.
	ss := []Sample{
		{T: sec(0), VRAMUsed: 10, UtilGPU: 10, UtilMem: 1, PowerW: 100, SMClockMHz: 1000, TempC: 40, EnergyMJ: 1_000_000},
		{T: sec(1), VRAMUsed: 30, UtilGPU: 20, UtilMem: 3, PowerW: 300, SMClockMHz: 2000, TempC: 50, EnergyMJ: 1_050_000},
		{T: sec(2), VRAMUsed: 20, UtilGPU: 90, UtilMem: 2, PowerW: 200, SMClockMHz: 1500, TempC: 45, EnergyMJ: 1_100_000},
	}
	got := Summarize(ss, time.Time{}, time.Time{})
	want := Summary{
		N: 3, VRAMPeak: 30, VRAMMean: 20, VRAMPeakSampled: 30, PeakSource: PeakSampled,
		UtilMean: 40, UtilP95: 90, MemUtilMean: 2, PowerMeanW: 200, PowerMaxW: 300, // R8: 3 samples put p95 past the last rank
		EnergyJ: 100, EnergySource: EnergyCounter, TempMaxC: 50, SMClockMeanMHz: 1500,
		Devices: []int{0},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(approx)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSummarizeIntegratedEnergy(t *testing.T) {
	for _, tc := range []struct {
		name string
		ss   []Sample
		want float64
	}{
		{"no counter", []Sample{
			{T: sec(0), PowerW: 100, Missing: FieldEnergy},
			{T: sec(2), PowerW: 300, Missing: FieldEnergy},
			{T: sec(3), PowerW: 300, Missing: FieldEnergy},
		}, 400 + 300},
		{"counter goes back (driver reload)", []Sample{
			{T: sec(0), PowerW: 100, EnergyMJ: 5000},
			{T: sec(1), PowerW: 100, EnergyMJ: 10},
		}, 100},
		{"counter on some samples only", []Sample{
			{T: sec(0), PowerW: 10, EnergyMJ: 5000},
			{T: sec(1), PowerW: 10, Missing: FieldEnergy},
		}, 10},
		{"unsorted", []Sample{
			{T: sec(3), PowerW: 300, Missing: FieldEnergy},
			{T: sec(0), PowerW: 100, Missing: FieldEnergy},
			{T: sec(2), PowerW: 300, Missing: FieldEnergy},
		}, 700},
		{"a gap in power", []Sample{
			{T: sec(0), PowerW: 100, Missing: FieldEnergy},
			{T: sec(1), Missing: FieldEnergy | FieldPower},
			{T: sec(2), PowerW: 100, Missing: FieldEnergy},
			{T: sec(3), PowerW: 100, Missing: FieldEnergy},
		}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Summarize(tc.ss, time.Time{}, time.Time{})
			if got.EnergySource != EnergyIntegrated || !approx(got.EnergyJ, tc.want) {
				t.Errorf("energy = %v J (%s), want %v J integrated", got.EnergyJ, got.EnergySource, tc.want)
			}
		})
	}
}

func TestSummarizeMissingFields(t *testing.T) {
	// Power unsupported everywhere, utilisation on one sample only.
	ss := []Sample{
		{T: sec(0), VRAMUsed: 100, UtilGPU: 50, TempC: 30, Missing: FieldPower | FieldEnergy},
		{T: sec(1), VRAMUsed: 100, TempC: 31, Missing: FieldPower | FieldEnergy | FieldUtil},
	}
	got := Summarize(ss, time.Time{}, time.Time{})
	if got.Missing != FieldPower|FieldEnergy {
		t.Errorf("Missing = %v", got.Missing)
	}
	if got.UtilMean != 50 || got.PowerMeanW != 0 || got.EnergyJ != 0 || got.EnergySource != "" {
		t.Errorf("%+v: want utilisation from the one sample that has it, no power, no energy", got)
	}
	// Only VRAM missing: no peak source.
	got = Summarize([]Sample{{T: sec(0), Missing: FieldVRAM}}, time.Time{}, time.Time{})
	if got.PeakSource != "" || !got.Missing.Has(FieldVRAM) {
		t.Errorf("no VRAM: %+v", got)
	}
}

func TestSummarizeWindowAndDevices(t *testing.T) {
	var ss []Sample
	for i := range 10 {
		for dev := range 2 {
			ss = append(ss, Sample{T: sec(float64(i)), Index: dev, VRAMUsed: uint64(100*dev + i), UtilGPU: float64(10 * i),
				PowerW: 100, EnergyMJ: uint64(i) * 100_000, ProcVRAM: map[uint32]uint64{uint32(7 + dev): 1}})
		}
	}
	got := Summarize(ss, sec(2), sec(4)) // inclusive: 2, 3, 4
	if got.N != 6 || got.VRAMPeak != 104 || !approx(got.UtilMean, 30) || !approx(got.EnergyJ, 2*200) || got.Missing != 0 {
		t.Errorf("window [2,4]: %+v", got)
	}
	if diff := cmp.Diff([]int{0, 1}, got.Devices); diff != "" {
		t.Errorf("Devices (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint32{7, 8}, PIDs(ss)); diff != "" {
		t.Errorf("PIDs (-want +got):\n%s", diff)
	}
}

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{5}, 0.95, 5},
		{[]float64{0, 100}, 0.95, 100}, // R8, as report.Summarize's p95_s (R7 gave 95)
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}, 0.95, 20.6},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5.5},
	} {
		if got := percentile(append([]float64(nil), tc.xs...), tc.p); !approx(got, tc.want) {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.xs, tc.p, got, tc.want)
		}
	}
}

func TestWithAccountingPeaks(t *testing.T) {
	s := Summary{N: 3, VRAMPeak: 10, VRAMPeakSampled: 10, PeakSource: PeakSampled}
	if got := s.WithAccountingPeaks(nil); got.VRAMPeak != 10 || got.PeakSource != PeakSampled {
		t.Errorf("no peaks changed the summary: %+v", got)
	}
	got := s.WithAccountingPeaks(map[uint32]uint64{1: 30, 2: 5})
	if got.VRAMPeak != 35 || got.PeakSource != PeakAccounting || got.VRAMPeakSampled != 10 {
		t.Errorf("%+v", got)
	}
	if s.VRAMPeak != 10 {
		t.Error("WithAccountingPeaks changed its receiver")
	}
}

func TestCompact(t *testing.T) {
	var ss []Sample
	for i := range 10 {
		ss = append(ss,
			Sample{T: sec(float64(i)), Index: 1, VRAMUsed: uint64(i), UtilGPU: float64(i), PowerW: float64(10 * i)},
			Sample{T: sec(float64(i) + 0.5), Index: 0, VRAMUsed: 7, Missing: FieldUtil | FieldPower})
	}
	got := Compact(ss, sec(-1), 4)
	// 10 samples into 4 buckets: [0,2) [2,5) [5,7) [7,10).
	want := map[int]Series{
		1: {T: []float64{1.5, 4, 6.5, 9}, VRAMUsed: []uint64{1, 4, 6, 9}, UtilGPU: []float64{0.5, 3, 5.5, 8}, PowerW: []float64{5, 30, 55, 80}},
		0: {T: []float64{2, 4.5, 7, 9.5}, VRAMUsed: []uint64{7, 7, 7, 7}, UtilGPU: []float64{0, 0, 0, 0}, PowerW: []float64{0, 0, 0, 0}, Missing: FieldUtil | FieldPower},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(approx)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// No limit, zero t0: one point per sample, from the earliest sample.
	all := Compact(ss, time.Time{}, 0)
	if len(all[1].T) != 10 || all[1].T[0] != 0 || all[0].T[0] != 0.5 {
		t.Errorf("unlimited: %+v", all[1])
	}
	if got := Compact(nil, base, 10); len(got) != 0 {
		t.Errorf("Compact(nil) = %v", got)
	}
}

func TestWarnings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peak  uint64
		model uint64
		util  float64
		want  []string
	}{
		{"all fine", 40e9, 40e9, 97, nil},
		{"just fits", 32e9, 40e9, 80, nil},
		{"offloaded", 12.34e9, 40e9, 95, []string{"model not fully on the GPU: offloading? (VRAM after first prompt 12.3 GB, model files 40.0 GB)"}},
		{"not saturated", 40e9, 40e9, 42.4, []string{"GPU not saturated: mean utilisation 42% during sampling"}},
		{"both", 1e9, 40e9, 0, []string{
			"model not fully on the GPU: offloading? (VRAM after first prompt 1.0 GB, model files 40.0 GB)",
			"GPU not saturated: mean utilisation 0% during sampling"}},
		{"unknown model size and utilisation", 1e9, 0, math.NaN(), nil},
		{"no VRAM figure", 0, 40e9, -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Warnings(Summary{VRAMPeak: tc.peak}, tc.model, tc.util)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFieldString(t *testing.T) {
	for f, want := range map[Field]string{0: "none", FieldVRAM: "vram", FieldPower | FieldProcs: "power|procs", AllFields: "vram|util|power|clock|temp|energy|procs", 1 << 15: "?"} {
		if got := f.String(); got != want {
			t.Errorf("Field(%#x) = %q, want %q", uint16(f), got, want)
		}
	}
}

func TestReason(t *testing.T) {
	err := error(&UnavailableError{Reason: "built without cgo"})
	wrapped := &wrapErr{err}
	if Reason(wrapped) != "built without cgo" || Reason(nil) != "" || !strings.Contains(Reason(errClosed), "closed") {
		t.Errorf("Reason: %q %q %q", Reason(wrapped), Reason(nil), Reason(errClosed))
	}
}

type wrapErr struct{ err error }

func (w *wrapErr) Error() string { return "x: " + w.err.Error() }
func (w *wrapErr) Unwrap() error { return w.err }

// FuzzSummarize feeds arbitrary samples (NVML values are outside input) to the pure
// functions: no panic, and the invariants hold.
func FuzzSummarize(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 3)
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x7f\x80\x01\x02\x03\x04\x05\x06\x07\x08"), 1)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, data []byte, maxPoints int) {
		ss := samplesFrom(data)
		s := Summarize(ss, time.Time{}, time.Time{})
		if s.N != len(ss) {
			t.Fatalf("N = %d, want %d", s.N, len(ss))
		}
		if s.VRAMMean > s.VRAMPeak {
			t.Fatalf("VRAMMean %d > VRAMPeak %d", s.VRAMMean, s.VRAMPeak)
		}
		if s.UtilP95 < 0 || s.UtilP95 > 255 || math.IsNaN(s.EnergyJ) || math.IsNaN(s.UtilMean) || math.IsInf(s.EnergyJ, 0) {
			t.Fatalf("out of range: %+v", s)
		}
		for idx, sr := range Compact(ss, time.Time{}, maxPoints%50) {
			n := len(sr.T)
			if n == 0 || len(sr.VRAMUsed) != n || len(sr.UtilGPU) != n || len(sr.PowerW) != n {
				t.Fatalf("device %d: ragged series", idx)
			}
			if mp := maxPoints % 50; mp > 0 && n > mp {
				t.Fatalf("%d points, max %d", n, mp)
			}
		}
		_ = Warnings(s, uint64(len(data))*1e9, s.UtilMean)
	})
}

// samplesFrom decodes 9-byte records into samples.
func samplesFrom(data []byte) []Sample {
	var ss []Sample
	for len(data) >= 9 {
		r := data[:9]
		data = data[9:]
		ss = append(ss, Sample{
			T:        sec(float64(r[0]) / 4),
			Index:    int(r[1] % 3),
			VRAMUsed: uint64(r[2]) << 30,
			UtilGPU:  float64(r[3]),
			PowerW:   float64(r[4]) * 3,
			EnergyMJ: uint64(r[5]) * 1000,
			TempC:    int(r[6]),
			Missing:  Field(r[7]) & AllFields,
			ProcVRAM: map[uint32]uint64{uint32(r[8]): uint64(r[2])},
		})
	}
	return ss
}

// byDevice is [Summarize] of each device's samples, keyed by device index.
func byDevice(samples []Sample) map[int]Summary {
	by := map[int][]Sample{}
	for _, s := range samples {
		by[s.Index] = append(by[s.Index], s)
	}
	out := map[int]Summary{}
	for idx, ds := range by {
		out[idx] = Summarize(ds, time.Time{}, time.Time{})
	}
	return out
}
