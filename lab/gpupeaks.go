package lab

import (
	"time"

	"github.com/qwenlab/qwenlab/gpu"
)

// accountingPeaks asks NVML accounting for the peak VRAM of the processes seen on the
// container's GPUs while it ran. PIDs already on those GPUs in samples taken before the
// first container was created belong to another workload and are left out. ok is false
// when accounting mode is off (or knows none of the PIDs): the sampled peak stands.
func (r *run) accountingPeaks(samples []gpu.Sample) (map[uint32]uint64, bool) {
	if r.deps.GPU == nil {
		return nil, false
	}
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
	if len(pids) == 0 {
		return nil, false
	}
	return r.deps.GPU.ProcessPeaks(pids)
}
