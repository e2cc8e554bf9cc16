package lab

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/qwenlab/qwenlab/gpu"
)

// gpuWatch samples the run's GPUs every --gpu-interval with gpu's bounded Sampler: memory
// stays flat however long the run (neighbouring rounds are merged, peaks kept) and failed
// rounds are counted, not dropped in silence.
type gpuWatch struct {
	mu      sync.Mutex
	sampler *gpu.Sampler
}

// startGPUSampler starts sampling the container's GPUs; the returned function stops it.
func (r *run) startGPUSampler(ctx context.Context) func() {
	if !r.gpuOn || r.cfg.GPUInterval <= 0 {
		return func() {}
	}
	idx := append([]int(nil), r.gpuIdx...)
	s := gpu.StartSampler(context.WithoutCancel(ctx), r.cfg.GPUInterval, 0, func() ([]gpu.Sample, error) {
		// A device that cannot be read is left out; the others' samples still count.
		ss, err := r.deps.GPU.Sample(idx)
		if len(ss) > 0 {
			r.stall.gpu(ss, time.Now())
			r.emit(Event{Kind: EventGPU, GPU: gpuStatus(ss, r.gpus)})
		}
		return ss, err
	})
	r.gpuWatch.set(s)
	return func() { s.Stop() }
}

func (w *gpuWatch) set(s *gpu.Sampler) {
	w.mu.Lock()
	w.sampler = s
	w.mu.Unlock()
}

func (w *gpuWatch) get() *gpu.Sampler {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sampler
}

// samples returns what has been sampled so far, in time order (a copy).
func (w *gpuWatch) samples() []gpu.Sample {
	if s := w.get(); s != nil {
		return s.Samples()
	}
	return nil
}

// readings counts the readings behind the samples (a merged sample stands for several).
func readings(samples []gpu.Sample) int {
	n := 0
	for _, s := range samples {
		n += max(s.Readings, 1)
	}
	return n
}

// warning says how many sampling rounds failed; "" when none did.
func (w *gpuWatch) warning() string {
	s := w.get()
	if s == nil {
		return ""
	}
	n, err := s.Err()
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("GPU sampling failed in %d round(s) (last: %v): the GPU figures leave those readings out", n, err)
}
