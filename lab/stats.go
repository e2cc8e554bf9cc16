package lab

import (
	"sync"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/report"
)

// statsAgg aggregates the engine's stats stream for the container: the stream's goroutine
// adds, the report reads.
type statsAgg struct {
	mu             sync.Mutex
	n              int
	cpuSum, cpuMax float64
	memPeak, limit int64
}

func (a *statsAgg) add(s docker.Stats) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	a.cpuSum += s.CPUPercent
	a.cpuMax = max(a.cpuMax, s.CPUPercent)
	a.memPeak = max(a.memPeak, s.MemUsed)
	a.limit = s.MemLimit
}

// section is the report's container section; nil when the engine sent no stats.
func (a *statsAgg) section() *report.ContainerStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 0 {
		return nil
	}
	return &report.ContainerStats{
		CPUPercentMean: a.cpuSum / float64(a.n),
		CPUPercentMax:  a.cpuMax,
		MemPeakBytes:   a.memPeak,
		MemLimitBytes:  a.limit,
	}
}
