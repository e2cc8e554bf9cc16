package lab

import (
	"time"

	"github.com/qwenlab/qwenlab/gpu"
	"github.com/qwenlab/qwenlab/report"
)

// containerPIDs are the processes seen on the container's GPUs while it ran. PIDs already on
// those GPUs in samples taken before the first container was created belong to another
// workload and are left out.
func (r *run) containerPIDs(samples []gpu.Sample) []uint32 {
	var created time.Time
	if len(r.colds) > 0 {
		created = r.colds[0].Start
	}
	var before, during []gpu.Sample
	for _, s := range samples {
		if !created.IsZero() && s.T.Before(created) {
			before = append(before, s)
		} else {
			during = append(during, s)
		}
	}
	other := map[uint32]bool{}
	for _, pid := range gpu.PIDs(before) {
		other[pid] = true
	}
	var pids []uint32
	for _, pid := range gpu.PIDs(during) {
		if !other[pid] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// accountingPeaks asks NVML accounting for the peak VRAM of the container's processes. ok is
// false when accounting mode is off (or knows none of the PIDs): the sampled peak stands.
func (r *run) accountingPeaks(samples []gpu.Sample) (map[uint32]uint64, bool) {
	pids := r.containerPIDs(samples)
	if r.deps.GPU == nil || len(pids) == 0 {
		return nil, false
	}
	return r.deps.GPU.ProcessPeaks(pids)
}

// processes lists the container's processes with their VRAM peak: accounted where accounting
// knows the process, else the largest per-process figure in the samples.
func (r *run) processes(samples []gpu.Sample, accounted map[uint32]uint64) []report.GPUProcess {
	var out []report.GPUProcess
	for _, pid := range r.containerPIDs(samples) {
		if v, ok := accounted[pid]; ok {
			out = append(out, report.GPUProcess{PID: pid, VRAMPeakBytes: v, Source: gpu.PeakAccounting})
			continue
		}
		var peak uint64
		for _, s := range samples {
			peak = max(peak, s.ProcVRAM[pid])
		}
		out = append(out, report.GPUProcess{PID: pid, VRAMPeakBytes: peak, Source: gpu.PeakSampled})
	}
	return out
}

// workloadSamples keeps the samples of the GPUs on which the workload's processes appeared;
// all of them when no process was seen (no per-process data, or a url target's idle GPUs).
func (r *run) workloadSamples(samples []gpu.Sample) []gpu.Sample {
	pids := r.containerPIDs(samples)
	used := map[int]bool{}
	for _, s := range samples {
		for _, pid := range pids {
			if _, ok := s.ProcVRAM[pid]; ok {
				used[s.Index] = true
			}
		}
	}
	if len(used) == 0 {
		return samples
	}
	var out []gpu.Sample
	for _, s := range samples {
		if used[s.Index] {
			out = append(out, s)
		}
	}
	return out
}
