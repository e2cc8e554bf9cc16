package gpu

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/aclements/go-moremath/stats"
)

// Peak sources for [Summary.PeakSource].
const (
	PeakAccounting = "accounting" // NVML accounting's per-process maximum
	PeakSampled    = "sampled"    // the largest sampled VRAMUsed
)

// Energy sources for [Summary.EnergySource].
const (
	EnergyCounter    = "counter"    // the devices' total-energy counters (edges integrated)
	EnergyIntegrated = "integrated" // ∫ power dt over the samples (trapezoids)
)

// Summary condenses the samples of a time window.
//
// With samples of several devices, peaks and maxima are those of the busiest device,
// means are over all samples (so over the devices too), and energy is the sum over
// devices; use [SummarizeByDevice] or filter the samples for a per-device figure.
type Summary struct {
	// N is the number of samples in the window.
	N int
	// VRAMPeak is the peak device memory in use, in bytes: the sampled maximum, or
	// after [Summary.WithAccountingPeaks] the accounting peak (PeakSource says which).
	// VRAMPeakSampled always holds the sampled maximum.
	VRAMPeak, VRAMMean uint64
	VRAMPeakSampled    uint64
	PeakSource         string
	// UtilMean and UtilP95 are the GPU utilisation's mean and 95th percentile,
	// MemUtilMean the memory controller's mean, all in percent.
	UtilMean, UtilP95, MemUtilMean float64
	// PowerMeanW and PowerMaxW are in watts.
	PowerMeanW, PowerMaxW float64
	// EnergyJ is the energy used over the window, in joules; EnergySource says how it
	// was found ("" when it could not be).
	EnergyJ      float64
	EnergySource string
	TempMaxC     int
	// SMClockMeanMHz is the mean SM clock, in MHz.
	SMClockMeanMHz float64
	// Missing lists the fields no sample in the window had; their figures above are 0
	// and mean "not measured".
	Missing Field
	// Devices are the device indexes seen in the window, ascending.
	Devices []int
}

// inWindow reports whether t lies in [from, to]; a zero bound is open.
func inWindow(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || !t.After(to))
}

// Summarize condenses the samples whose T lies in [from, to] (a zero time leaves that
// side open). Means weight each sample by its [Sample.Readings]; UtilP95 is over the
// samples as they are. A device's energy comes from its total-energy counter where two
// samples carry it and it never goes back (with ∫ power dt over the window's edges
// outside the first and last counter readings), else from ∫ power dt. It reads no
// NVML.
func Summarize(samples []Sample, from, to time.Time) Summary {
	var (
		sum     Summary
		hasTemp bool
		utils   []float64
		byDev   = map[int][]Sample{}
		// Weighted sums and their weights (readings).
		nVRAM, nUtil, nPower, nClk             float64
		vramSum, utilSum, memUtilSum, powerSum float64
		clkSum                                 float64
	)
	for _, s := range samples {
		if !inWindow(s.T, from, to) {
			continue
		}
		w := weight(s)
		sum.N++
		byDev[s.Index] = append(byDev[s.Index], s)
		if !s.Missing.Has(FieldVRAM) {
			nVRAM += w
			vramSum += w * float64(s.VRAMUsed)
			sum.VRAMPeakSampled = max(sum.VRAMPeakSampled, s.VRAMUsed)
		}
		if !s.Missing.Has(FieldUtil) {
			nUtil += w
			utils = append(utils, s.UtilGPU)
			utilSum += w * s.UtilGPU
			memUtilSum += w * s.UtilMem
		}
		if !s.Missing.Has(FieldPower) {
			if nPower == 0 || s.PowerW > sum.PowerMaxW {
				sum.PowerMaxW = s.PowerW
			}
			nPower += w
			powerSum += w * s.PowerW
		}
		if !s.Missing.Has(FieldClock) {
			nClk += w
			clkSum += w * float64(s.SMClockMHz)
		}
		if !s.Missing.Has(FieldTemp) {
			if !hasTemp || s.TempC > sum.TempMaxC {
				sum.TempMaxC = s.TempC
			}
			hasTemp = true
		}
	}
	if sum.N == 0 {
		sum.Missing = AllFields
		return sum
	}
	if nVRAM > 0 {
		sum.VRAMPeak = sum.VRAMPeakSampled
		sum.VRAMMean = uint64(vramSum / nVRAM)
		sum.PeakSource = PeakSampled
	} else {
		sum.Missing |= FieldVRAM
	}
	if nUtil > 0 {
		sum.UtilMean = utilSum / nUtil
		sum.UtilP95 = percentile(utils, 0.95)
		sum.MemUtilMean = memUtilSum / nUtil
	} else {
		sum.Missing |= FieldUtil
	}
	if nPower > 0 {
		sum.PowerMeanW = powerSum / nPower
	} else {
		sum.Missing |= FieldPower
	}
	if nClk > 0 {
		sum.SMClockMeanMHz = clkSum / nClk
	} else {
		sum.Missing |= FieldClock
	}
	if !hasTemp {
		sum.Missing |= FieldTemp
	}
	procs := false
	counters, integrated := 0, 0
	for idx, ds := range byDev {
		sum.Devices = append(sum.Devices, idx)
		slices.SortStableFunc(ds, func(a, b Sample) int { return a.T.Compare(b.T) })
		for _, s := range ds {
			procs = procs || !s.Missing.Has(FieldProcs)
		}
		if j, ok := counterEnergy(ds); ok {
			sum.EnergyJ += j
			counters++
		} else if j, ok := integratedEnergy(ds); ok {
			sum.EnergyJ += j
			integrated++
		}
	}
	slices.Sort(sum.Devices)
	switch {
	case integrated > 0:
		sum.EnergySource = EnergyIntegrated
	case counters > 0:
		sum.EnergySource = EnergyCounter
	default:
		sum.Missing |= FieldEnergy
	}
	if !procs {
		sum.Missing |= FieldProcs
	}
	return sum
}

// counterEnergy is one device's energy over its samples (time order), in joules: the
// counter's delta between the first and the last sample that carry it, plus ∫ power
// dt before the first and after the last. ok is false unless two samples carry the
// counter and it never goes back (a driver reload resets it).
func counterEnergy(ds []Sample) (float64, bool) {
	first, last := -1, -1
	for i, s := range ds {
		if s.Missing.Has(FieldEnergy) {
			continue
		}
		if last >= 0 && s.EnergyMJ < ds[last].EnergyMJ {
			return 0, false
		}
		if first < 0 {
			first = i
		}
		last = i
	}
	if first < 0 || last == first {
		return 0, false
	}
	j := float64(ds[last].EnergyMJ-ds[first].EnergyMJ) / 1000
	head, _ := integratedEnergy(ds[:first+1])
	tail, _ := integratedEnergy(ds[last:])
	return j + head + tail, true
}

// integratedEnergy is ∫ power dt (trapezoids between neighbouring samples that both
// have power) over one device's samples (time order), in joules.
func integratedEnergy(ds []Sample) (float64, bool) {
	var j float64
	ok := false
	for i := 1; i < len(ds); i++ {
		a, b := ds[i-1], ds[i]
		if a.Missing.Has(FieldPower) || b.Missing.Has(FieldPower) {
			continue
		}
		dt := b.T.Sub(a.T).Seconds()
		j += (a.PowerW + b.PowerW) / 2 * dt
		ok = true
	}
	return j, ok
}

// weight is how many readings s stands for.
func weight(s Sample) float64 { return float64(max(s.Readings, 1)) }

// percentile is the p-quantile (0..1) of xs, as every figure of a report computes it:
// go-moremath's R8 interpolation. xs must not be empty.
func percentile(xs []float64, p float64) float64 {
	return stats.Sample{Xs: xs}.Quantile(p)
}

// WithAccountingPeaks returns s with VRAMPeak set to the sum of the per-process
// accounting peaks (from [Monitor.ProcessPeaks]) and PeakSource "accounting". With no
// peaks it returns s unchanged. VRAMPeakSampled keeps the sampled figure.
//
// Note: the accounting peak is the processes' own memory at its highest, caught by the
// driver between samples too; the sampled peak is the whole device's, at sample times.
func (s Summary) WithAccountingPeaks(peaks map[uint32]uint64) Summary {
	if len(peaks) == 0 {
		return s
	}
	var total uint64
	for _, v := range peaks {
		total += v
	}
	s.VRAMPeak = total
	s.PeakSource = PeakAccounting
	s.Missing &^= FieldVRAM
	return s
}

// PIDs returns the PIDs seen in the samples' ProcVRAM, ascending.
func PIDs(samples []Sample) []uint32 {
	seen := map[uint32]bool{}
	for _, s := range samples {
		for pid := range s.ProcVRAM {
			seen[pid] = true
		}
	}
	out := make([]uint32, 0, len(seen))
	for pid := range seen {
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

// Series is a device's samples as columns, for plotting. All columns have one entry
// per point.
type Series struct {
	// T is seconds since t0.
	T []float64
	// VRAMUsed is in bytes: a point's maximum where points were merged.
	VRAMUsed []uint64
	// UtilGPU is in percent and PowerW in watts: a point's mean where points were
	// merged, 0 where no sample of the point had the measurement.
	UtilGPU []float64
	PowerW  []float64
	// Missing lists the fields that no sample of the device had.
	Missing Field
}

// Compact turns samples into a [Series] per device index, in time order, with at most
// maxPoints points each (0 or less: no limit). Where there are more samples, they are
// merged into maxPoints buckets of neighbours: the bucket's mean time, its maximum
// VRAM (so peaks survive) and its mean utilisation and power. T counts seconds from t0;
// a zero t0 means the earliest sample.
func Compact(samples []Sample, t0 time.Time, maxPoints int) map[int]Series {
	if len(samples) == 0 {
		return map[int]Series{}
	}
	if t0.IsZero() {
		t0 = slices.MinFunc(samples, func(a, b Sample) int { return a.T.Compare(b.T) }).T
	}
	byDev := map[int][]Sample{}
	for _, s := range samples {
		byDev[s.Index] = append(byDev[s.Index], s)
	}
	out := make(map[int]Series, len(byDev))
	for idx, ds := range byDev {
		slices.SortStableFunc(ds, func(a, b Sample) int { return a.T.Compare(b.T) })
		n := len(ds)
		points := n
		if maxPoints > 0 && n > maxPoints {
			points = maxPoints
		}
		sr := Series{
			T:        make([]float64, points),
			VRAMUsed: make([]uint64, points),
			UtilGPU:  make([]float64, points),
			PowerW:   make([]float64, points),
			Missing:  AllFields,
		}
		for p := range points {
			// Bucket p holds samples [p*n/points, (p+1)*n/points).
			lo, hi := p*n/points, (p+1)*n/points
			var tSum, uSum, pSum, nU, nP float64
			for _, s := range ds[lo:hi] {
				sr.Missing &= s.Missing
				tSum += s.T.Sub(t0).Seconds()
				if !s.Missing.Has(FieldVRAM) {
					sr.VRAMUsed[p] = max(sr.VRAMUsed[p], s.VRAMUsed)
				}
				if w := weight(s); !s.Missing.Has(FieldUtil) {
					uSum += w * s.UtilGPU
					nU += w
				}
				if w := weight(s); !s.Missing.Has(FieldPower) {
					pSum += w * s.PowerW
					nP += w
				}
			}
			sr.T[p] = tSum / float64(hi-lo)
			if nU > 0 {
				sr.UtilGPU[p] = uSum / nU
			}
			if nP > 0 {
				sr.PowerW[p] = pSum / nP
			}
		}
		out[idx] = sr
	}
	return out
}

// Warning thresholds used by [Warnings].
const (
	// OffloadRatio: VRAM in use after the first prompt below this share of the model
	// files' size suggests the model was not fully loaded onto the GPU.
	OffloadRatio = 0.8
	// SaturatedUtilPct: mean utilisation during sampling below this is "not saturated".
	SaturatedUtilPct = 80.0
)

// Warnings looks at the GPU figures of a run. s.VRAMPeak is the VRAM in use after the
// first prompt, modelBytes the size of the model files the workflow loads (0: unknown),
// samplingUtilMean the mean GPU utilisation while the sampler node ran, in percent
// (negative or NaN: unknown).
func Warnings(s Summary, modelBytes uint64, samplingUtilMean float64) []string {
	var w []string
	if modelBytes > 0 && s.VRAMPeak > 0 && float64(s.VRAMPeak) < OffloadRatio*float64(modelBytes) {
		w = append(w, fmt.Sprintf("model not fully on the GPU: offloading? (VRAM after first prompt %.1f GB, model files %.1f GB)",
			float64(s.VRAMPeak)/1e9, float64(modelBytes)/1e9))
	}
	if !math.IsNaN(samplingUtilMean) && samplingUtilMean >= 0 && samplingUtilMean < SaturatedUtilPct {
		w = append(w, fmt.Sprintf("GPU not saturated: mean utilisation %.0f%% during sampling", samplingUtilMean))
	}
	return w
}
