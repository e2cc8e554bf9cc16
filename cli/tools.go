package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qwenlab/qwenlab/comfysim"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/gpu"
	"github.com/qwenlab/qwenlab/lab"
	"github.com/qwenlab/qwenlab/liveness"
	"github.com/qwenlab/qwenlab/report"
	"github.com/qwenlab/qwenlab/scenarios"
)

func cleanup(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "cleanup", "[--dry-run] [--run ID] [--older-than DUR] [--force]")
	dry := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
	runID := fs.String("run", "", "only resources of this run ID")
	older := fs.Duration("older-than", 0, "only resources created more than DUR ago (e.g. 24h)")
	force := fs.Bool("force", false, "also remove what runs that are still going use (their qwenlab process is alive, or on another host)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *older < 0 {
		return usagef("--older-than %s: must not be negative", *older)
	}
	dc, err := docker.New(ctx)
	if err != nil {
		return err
	}
	defer dc.Close()
	res, err := dc.ListLabelled(ctx, *runID)
	if err != nil {
		return fmt.Errorf("list qwenlab resources: %w", err)
	}
	// A run is live while the qwenlab process that made any of its resources runs.
	state := map[string]liveness.State{}
	for _, r := range res {
		st := liveness.Dead
		if r.Owner != "" {
			st = liveness.Check(r.Owner)
		}
		if cur, ok := state[r.RunID]; !ok || st == liveness.Alive || (st == liveness.Unknown && cur == liveness.Dead) {
			state[r.RunID] = st
		}
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	n, young, live := 0, 0, 0
	kept := map[string]bool{} // runs with a container left in place
	var errs []error
	for _, r := range res {
		if *older > 0 && !r.Created.IsZero() && time.Since(r.Created) < *older {
			young++
			kept[r.RunID] = true
			continue
		}
		name := cmp.Or(r.Name, r.ID)
		if st := state[r.RunID]; st != liveness.Dead && !*force {
			live++
			kept[r.RunID] = true
			fmt.Fprintf(tw, "left alone\t%s\t%s\trun %s\t%s\n", r.Kind, name, r.RunID, ownerNote(st, r.Owner))
			continue
		}
		n++
		action := "would remove"
		if !*dry {
			action = "removed"
			if err := dc.RemoveResource(ctx, r); err != nil {
				action = "FAILED"
				kept[r.RunID] = true
				errs = append(errs, fmt.Errorf("remove %s %s: %w", r.Kind, r.ID, err))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\trun %s\t%s (%s)\n", action, r.Kind, name, r.RunID, r.State, state[r.RunID])
	}
	for _, d := range modelDirs(*runID) {
		if kept[d.runID] || (*older > 0 && time.Since(d.mod) < *older) {
			continue
		}
		if d.state != liveness.Dead && !*force {
			live++
			fmt.Fprintf(tw, "left alone\tfolder\t%s\trun %s\t%s\n", d.path, d.runID, ownerNote(d.state, d.owner))
			continue
		}
		n++
		action := "would remove"
		if !*dry {
			action = "removed"
			if err := os.RemoveAll(d.path); err != nil {
				action = "FAILED"
				errs = append(errs, fmt.Errorf("remove %s: %w", d.path, err))
			}
		}
		fmt.Fprintf(tw, "%s\tfolder\t%s\trun %s\tplaceholder models (%s)\n", action, d.path, d.runID, d.state)
	}
	tw.Flush()
	if n == 0 {
		msg := "nothing to clean up"
		switch {
		case young > 0 && live > 0:
			msg += fmt.Sprintf(": %d resource(s) younger than %s and %d of live runs left alone", young, *older, live)
		case young > 0:
			msg += fmt.Sprintf(": %d resource(s) labelled %s are younger than %s", young, docker.LabelRun, *older)
		case live > 0:
			msg += fmt.Sprintf(": %d resource(s) belong to runs that are still going (--force removes them)", live)
		default:
			msg += ": no containers, networks or volumes labelled " + docker.LabelRun
		}
		fmt.Fprintln(e.stdout, msg)
	} else if live > 0 {
		fmt.Fprintf(e.stdout, "%d resource(s) of runs that are still going were left alone (--force removes them)\n", live)
	}
	return errors.Join(errs...)
}

// ownerNote says why a run's resource was left alone.
func ownerNote(st liveness.State, owner string) string {
	f := strings.Fields(owner)
	if st == liveness.Alive && len(f) == 3 {
		return fmt.Sprintf("live: its qwenlab (pid %s) is still running", f[1])
	}
	if len(f) == 3 {
		return fmt.Sprintf("made by a qwenlab on host %s: cannot tell whether it still runs", f[0])
	}
	return "owner unknown"
}

// modelDir is a placeholder models folder a simulator run made in the temporary folder.
type modelDir struct {
	path, runID, owner string
	state              liveness.State
	mod                time.Time
}

// modelDirs finds the placeholder models folders of runID (every run's when ""): the ones a
// run killed before its own cleanup left behind, and those of --keep runs.
func modelDirs(runID string) []modelDir {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), lab.ModelsDirPrefix+"*"))
	var out []modelDir
	for _, p := range matches {
		st, err := os.Lstat(p)
		if err != nil || !st.IsDir() {
			continue
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(p), lab.ModelsDirPrefix), "-")
		if runID != "" && id != runID {
			continue
		}
		d := modelDir{path: p, runID: id, state: liveness.Dead, mod: st.ModTime()}
		if b, err := os.ReadFile(filepath.Join(p, lab.OwnerFile)); err == nil {
			d.owner = strings.TrimSpace(string(b))
			d.state = liveness.Check(d.owner)
		}
		out = append(out, d)
	}
	return out
}

func sim(ctx context.Context, e *env, args []string) error {
	err := comfysim.Command(ctx, args, e.stdout, e.stderr)
	if errors.Is(err, comfysim.ErrUsage) {
		return &usageError{err.Error()}
	}
	return err
}

func gpuCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "gpu", "[--duration DUR] [--interval DUR] [--json]")
	dur := fs.Duration("duration", 3*time.Second, "how long to sample")
	interval := fs.Duration("interval", 500*time.Millisecond, "sampling interval")
	asJSON := fs.Bool("json", false, "write the inventory and samples as one JSON document")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *interval < 10*time.Millisecond || *dur < 0 {
		return usagef("--interval must be at least 10ms and --duration not negative")
	}
	m, err := gpu.Open()
	if err != nil {
		if *asJSON {
			writeJSON(e.stdout, gpuDoc{Available: false, Reason: gpu.Reason(err)})
		} else {
			fmt.Fprintf(e.stdout, "GPU: unavailable: %v\n", err)
		}
		return fmt.Errorf("no GPU metrics: %w", err)
	}
	defer m.Close()
	return gpuReport(ctx, e, m, *dur, *interval, *asJSON)
}

// gpuReader is the part of a [gpu.Monitor] that `qwenlab gpu` uses.
type gpuReader interface {
	Inventory() ([]gpu.Device, error)
	Sample(indexes []int) ([]gpu.Sample, error)
}

// gpuDoc is what `qwenlab gpu --json` writes.
type gpuDoc struct {
	Available bool               `json:"available"`
	Reason    string             `json:"reason,omitempty"`
	Devices   []report.GPUDevice `json:"devices,omitempty"`
	Samples   []gpuSamDoc        `json:"samples,omitempty"`
	// Errors are the distinct sampling errors, each with how many rounds it hit.
	Errors []gpuErrDoc `json:"errors,omitempty"`
}

// gpuSamDoc is one sample; a measurement the device did not supply is null.
type gpuSamDoc struct {
	TS            float64           `json:"t_s"`
	Index         int               `json:"index"`
	VRAMUsedBytes *uint64           `json:"vram_used_bytes"`
	UtilGPUPct    *float64          `json:"util_gpu_pct"`
	UtilMemPct    *float64          `json:"util_mem_pct"`
	PowerW        *float64          `json:"power_w"`
	SMClockMHz    *int              `json:"sm_clock_mhz"`
	TempC         *int              `json:"temp_c"`
	EnergyMJ      *uint64           `json:"energy_mj,omitempty"`
	ProcVRAM      map[uint32]uint64 `json:"process_vram_bytes,omitempty"`
	Missing       string            `json:"missing,omitempty"`
}

type gpuErrDoc struct {
	Error  string `json:"error"`
	Rounds int    `json:"rounds"`
}

// present returns &v, or nil when f is in missing.
func present[T any](missing, f gpu.Field, v T) *T {
	if missing&f != 0 {
		return nil
	}
	return &v
}

// gpuRowFormat lays out a sample row in fixed columns: rows are printed as they come,
// so a tabwriter (which aligns only what it holds) would not keep them aligned.
const gpuRowFormat = "%-7s %-3s %-10s %-5s %-8s %-6s %-9s %-5s %s\n"

// gpuReport prints the inventory, then samples every device each interval for dur (at
// least once). A round that fails for some devices keeps the samples of the others; the
// command fails only when no round gave any sample.
func gpuReport(ctx context.Context, e *env, m gpuReader, dur, interval time.Duration, asJSON bool) error {
	devs, err := m.Inventory()
	if err != nil {
		return fmt.Errorf("gpu inventory: %w", err)
	}
	doc := gpuDoc{Available: true}
	for _, d := range devs {
		doc.Devices = append(doc.Devices, lab.GPUDevice(d))
	}
	var tw *tabwriter.Writer
	if !asJSON {
		tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GPU\tNAME\tUUID\tDRIVER\tCUDA\tVRAM\tPOWER LIMIT\tPCIe\tACCOUNTING")
		for _, d := range doc.Devices {
			power := "n/a"
			if d.PowerLimitW > 0 {
				power = fmt.Sprintf("%.0f W", d.PowerLimitW)
			}
			pcie := pcieLink(d.PCIeGen, d.PCIeWidth)
			if d.PCIeMaxGen > 0 {
				pcie += " (max " + pcieLink(d.PCIeMaxGen, d.PCIeMaxWidth) + ")"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%.1f GiB\t%s\t%s\t%s\n", d.Index, d.Name, d.UUID, d.Driver, d.CUDA, float64(d.VRAMTotalBytes)/(1<<30), power, pcie, onOff(d.Accounting))
		}
		tw.Flush()
		fmt.Fprintln(e.stdout)
		fmt.Fprintf(e.stdout, gpuRowFormat, "T", "GPU", "VRAM USED", "UTIL", "MEM UTIL", "POWER", "SM CLOCK", "TEMP", "PROCESSES")
	}
	errIdx := map[string]int{}
	var lastErr error
	got := 0
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		samples, err := m.Sample(nil)
		if err != nil {
			lastErr = err
			msg := err.Error()
			if i, ok := errIdx[msg]; ok {
				doc.Errors[i].Rounds++
			} else {
				errIdx[msg] = len(doc.Errors)
				doc.Errors = append(doc.Errors, gpuErrDoc{Error: msg, Rounds: 1})
				if !asJSON {
					fmt.Fprintf(e.stderr, "qwenlab: gpu sample: %v (the other devices are still sampled)\n", err)
				}
			}
		}
		got += len(samples)
		for _, s := range samples {
			t := s.T.Sub(start).Seconds()
			if s.T.IsZero() {
				t = time.Since(start).Seconds()
			}
			if asJSON {
				doc.Samples = append(doc.Samples, samDoc(s, t))
				continue
			}
			fmt.Fprintf(e.stdout, gpuRowFormat, fmt.Sprintf("%.1fs", t), strconv.Itoa(s.Index),
				na(s.Missing, gpu.FieldVRAM, "%.2f GiB", float64(s.VRAMUsed)/(1<<30)),
				na(s.Missing, gpu.FieldUtil, "%.0f%%", s.UtilGPU),
				na(s.Missing, gpu.FieldUtil, "%.0f%%", s.UtilMem),
				na(s.Missing, gpu.FieldPower, "%.0f W", s.PowerW),
				na(s.Missing, gpu.FieldClock, "%d MHz", s.SMClockMHz),
				na(s.Missing, gpu.FieldTemp, "%d C", s.TempC),
				na(s.Missing, gpu.FieldProcs, "%d", len(s.ProcVRAM)))
		}
		done := time.Since(start) >= dur
		if !done {
			select {
			case <-ctx.Done():
				done = true
			case <-tick.C:
			}
		}
		if done {
			break
		}
	}
	if asJSON {
		if err := writeJSON(e.stdout, doc); err != nil {
			return err
		}
	}
	if got == 0 && lastErr != nil {
		return fmt.Errorf("gpu sample: %w", lastErr)
	}
	return nil
}

func samDoc(s gpu.Sample, t float64) gpuSamDoc {
	d := gpuSamDoc{
		TS:            t,
		Index:         s.Index,
		VRAMUsedBytes: present(s.Missing, gpu.FieldVRAM, s.VRAMUsed),
		UtilGPUPct:    present(s.Missing, gpu.FieldUtil, s.UtilGPU),
		UtilMemPct:    present(s.Missing, gpu.FieldUtil, s.UtilMem),
		PowerW:        present(s.Missing, gpu.FieldPower, s.PowerW),
		SMClockMHz:    present(s.Missing, gpu.FieldClock, s.SMClockMHz),
		TempC:         present(s.Missing, gpu.FieldTemp, s.TempC),
		EnergyMJ:      present(s.Missing, gpu.FieldEnergy, s.EnergyMJ),
		ProcVRAM:      s.ProcVRAM,
	}
	if s.Missing != 0 {
		d.Missing = s.Missing.String()
	}
	return d
}

// na formats v, or "n/a" when f is in missing.
func na(missing, f gpu.Field, format string, v any) string {
	if missing&f != 0 {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

// pcieLink is "gen5 x16", or "n/a" where NVML could not read the link.
func pcieLink(gen, width int) string {
	if gen == 0 || width == 0 {
		return "n/a"
	}
	return fmt.Sprintf("gen%d x%d", gen, width)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

func listScenarios(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "scenarios", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	for i, s := range scenarios.List() {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "%s\n  %s\n", s.Name, wrapWords(s.Description, helpWidth, "  ", 2))
		if len(s.Models) > 0 {
			fmt.Fprintf(e.stdout, "  model files (under --models DIR):\n")
			for _, m := range s.Models {
				fmt.Fprintf(e.stdout, "    %s\n", m)
			}
		}
		if s.Note != "" {
			fmt.Fprintf(e.stdout, "  note: %s\n", wrapWords(s.Note, helpWidth, "    ", 8))
		}
	}
	fmt.Fprintf(e.stdout, "\nUse one with --scenario NAME, or write your own scenario FILE (.json).\n")
	return nil
}
