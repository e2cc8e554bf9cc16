package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qwenlab/qwenlab/gpu"
)

// gpuFakeReader is two GPUs; GPU 1 is lost (left out, named in the error) from the
// second round on, and GPU 0 does not support power. NVML could not read GPU 1's power
// limit and PCIe link.
type gpuFakeReader struct {
	rounds  int
	failAll bool
}

func (f *gpuFakeReader) Inventory() ([]gpu.Device, error) {
	return []gpu.Device{
		{Index: 0, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-0", Driver: "580.159.04", CUDA: "13.0", VRAMTotal: 80 << 30, PowerLimitW: 700, PCIeGen: 5, PCIeWidth: 16, PCIeMaxGen: 5, PCIeMaxWidth: 16},
		{Index: 1, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-1", Driver: "580.159.04", CUDA: "13.0", VRAMTotal: 80 << 30, Accounting: true},
	}, nil
}

func (f *gpuFakeReader) Sample(indexes []int) ([]gpu.Sample, error) {
	f.rounds++
	if f.failAll {
		return nil, errors.New("read GPU 0: GPU is lost")
	}
	now := time.Now()
	out := []gpu.Sample{{T: now, Index: 0, VRAMUsed: 21 << 30, UtilGPU: 99, UtilMem: 32, SMClockMHz: 1350, TempC: 55, Missing: gpu.FieldPower | gpu.FieldEnergy, ProcVRAM: map[uint32]uint64{475: 21 << 30}}}
	if f.rounds == 1 {
		out = append(out, gpu.Sample{T: now, Index: 1, VRAMUsed: 1 << 30, UtilGPU: 5, PowerW: 80, SMClockMHz: 345, TempC: 33, EnergyMJ: 1234})
		return out, nil
	}
	return out, errors.New("read GPU 1: GPU is lost")
}

func TestGPUReportText(t *testing.T) {
	var out, errOut bytes.Buffer
	f := &gpuFakeReader{}
	err := gpuReport(t.Context(), &env{stdout: &out, stderr: &errOut}, f, 60*time.Millisecond, 20*time.Millisecond, false)
	if err != nil {
		t.Fatalf("gpuReport: %v (partial samples must not fail the command)", err)
	}
	if f.rounds < 3 {
		t.Fatalf("%d sampling rounds, want at least 3: sampling must go on after a device error", f.rounds)
	}
	text := out.String()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var gpu0, gpu1 int
	for _, l := range lines {
		fields := strings.Fields(l)
		if len(fields) < 2 || !strings.HasSuffix(fields[0], "s") {
			continue
		}
		switch fields[1] {
		case "0":
			gpu0++
			if !strings.Contains(l, "n/a") || !strings.Contains(l, "21.00 GiB") || strings.Contains(l, " 0 W") {
				t.Errorf("GPU 0 row %q: want VRAM 21.00 GiB and power n/a", l)
			}
		case "1":
			gpu1++
			if strings.Contains(l, "n/a") || !strings.Contains(l, "80 W") {
				t.Errorf("GPU 1 row %q: want every field, power 80 W", l)
			}
		}
	}
	if gpu0 != f.rounds || gpu1 != 1 {
		t.Errorf("rows: GPU 0 %d (want %d), GPU 1 %d (want 1)\n%s", gpu0, f.rounds, gpu1, text)
	}
	// Rows are aligned: "VRAM USED" starts at the same column in the header and rows.
	head := strings.Index(text, "VRAM USED")
	for _, l := range lines {
		if strings.Contains(l, "GiB") && !strings.Contains(l, "NVIDIA") {
			if col := strings.Index(l, "21.00 GiB"); col >= 0 && col != head-strings.LastIndex(text[:head], "\n")-1 {
				t.Errorf("row %q not aligned with the header (column %d)", l, col)
			}
		}
	}
	if !strings.Contains(text, "ACCOUNTING") || !strings.Contains(text, "gen5 x16 (max gen5 x16)") {
		t.Errorf("inventory table lacks accounting or PCIe columns:\n%s", text)
	}
	// What NVML could not read is n/a, never a made-up 0.
	for _, l := range lines {
		if strings.HasPrefix(l, "1 ") && strings.Contains(l, "NVIDIA") {
			if strings.Contains(l, " 0 W") || strings.Contains(l, "gen0") || strings.Count(l, "n/a") != 2 {
				t.Errorf("GPU 1 inventory row %q: want power limit and PCIe link n/a", l)
			}
		}
	}
	if got := strings.Count(errOut.String(), "GPU 1: GPU is lost"); got != 1 {
		t.Errorf("stderr names the lost GPU %d times, want once:\n%s", got, errOut.String())
	}
}

func TestGPUReportJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	f := &gpuFakeReader{}
	if err := gpuReport(t.Context(), &env{stdout: &out, stderr: &errOut}, f, 50*time.Millisecond, 20*time.Millisecond, true); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Available bool
		Devices   []struct {
			Index      int
			UUID       string
			Accounting bool
		}
		Samples []map[string]any
		Errors  []struct {
			Error  string
			Rounds int
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out.String())
	}
	if !doc.Available || len(doc.Devices) != 2 || doc.Devices[1].UUID != "GPU-1" || !doc.Devices[1].Accounting {
		t.Errorf("devices: %+v", doc)
	}
	if len(doc.Samples) != f.rounds+1 {
		t.Errorf("%d samples, want %d", len(doc.Samples), f.rounds+1)
	}
	// The devices are the report's host.gpus entries: what NVML could not read is left out
	// (the report's rule), never written as 0.
	var raw struct{ Devices []map[string]any }
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	want0 := map[string]any{"index": 0.0, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-0", "driver": "580.159.04", "cuda": "13.0", "vram_total_bytes": float64(80 << 30),
		"power_limit_w": 700.0, "pcie_gen": 5.0, "pcie_width": 16.0, "pcie_max_gen": 5.0, "pcie_max_width": 16.0}
	want1 := map[string]any{"index": 1.0, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-1", "driver": "580.159.04", "cuda": "13.0", "vram_total_bytes": float64(80 << 30), "accounting": true}
	if diff := cmp.Diff([]map[string]any{want0, want1}, raw.Devices); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	s0 := doc.Samples[0]
	if v, ok := s0["power_w"]; !ok || v != nil {
		t.Errorf("GPU 0 power_w = %v (present %v), want null", v, ok)
	}
	if s0["vram_used_bytes"] != float64(21<<30) || s0["missing"] != "power|energy" {
		t.Errorf("GPU 0 sample: %v", s0)
	}
	if pv, _ := s0["process_vram_bytes"].(map[string]any); pv["475"] != float64(21<<30) {
		t.Errorf("GPU 0 processes: %v", s0["process_vram_bytes"])
	}
	if len(doc.Errors) != 1 || doc.Errors[0].Rounds != f.rounds-1 || !strings.Contains(doc.Errors[0].Error, "GPU 1") {
		t.Errorf("errors: %+v after %d rounds", doc.Errors, f.rounds)
	}
	if errOut.Len() != 0 {
		t.Errorf("--json wrote to stderr: %q", errOut.String())
	}
}

func TestGPUReportAllRoundsFail(t *testing.T) {
	var out, errOut bytes.Buffer
	err := gpuReport(t.Context(), &env{stdout: &out, stderr: &errOut}, &gpuFakeReader{failAll: true}, 0, 20*time.Millisecond, false)
	if err == nil || !strings.Contains(err.Error(), "GPU is lost") {
		t.Errorf("err = %v, want the sampling error when no sample was had", err)
	}
}
