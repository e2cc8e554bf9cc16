//go:build !cgo

package gpu

import (
	"context"
	"fmt"
	"time"
)

// Monitor reads the GPUs of this host through NVML. In this build (without cgo) there
// is no NVML: [Open] always fails and a Monitor is never made.
type Monitor struct{}

// Open always returns an [*UnavailableError] in a build without cgo.
func Open() (*Monitor, error) {
	return nil, &UnavailableError{Reason: "built without cgo"}
}

// Close does nothing.
func (m *Monitor) Close() error { return nil }

// Inventory returns an error: there is no NVML in this build.
func (m *Monitor) Inventory() ([]Device, error) {
	return nil, fmt.Errorf("gpu inventory: %w", errClosed)
}

// Sample returns an error: there is no NVML in this build.
func (m *Monitor) Sample(indexes []int) ([]Sample, error) {
	return nil, fmt.Errorf("gpu sample: %w", errClosed)
}

// StartSampler returns a Sampler that has already stopped, with no samples.
func (m *Monitor) StartSampler(ctx context.Context, interval time.Duration, indexes []int) *Sampler {
	return m.StartSamplerCap(ctx, interval, indexes, DefaultMaxTicks)
}

// StartSamplerCap returns a Sampler that has already stopped, with no samples.
func (m *Monitor) StartSamplerCap(ctx context.Context, interval time.Duration, indexes []int, maxTicks int) *Sampler {
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	return newSampler(ctx, interval, maxTicks, func() ([]Sample, error) { return nil, errClosed })
}

// ProcessPeaks reports ok=false: there is no NVML in this build.
func (m *Monitor) ProcessPeaks(pids []uint32) (map[uint32]uint64, bool) { return nil, false }
