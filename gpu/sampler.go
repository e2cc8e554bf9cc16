package gpu

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// DefaultInterval is the sampling interval used when a non-positive one is asked for.
const DefaultInterval = 100 * time.Millisecond

// DefaultEnergyGap spaces the reads of the total-energy counter: a Sample of n devices
// reads a device's counter only when its last read is n × DefaultEnergyGap old.
//
// Note: nvmlDeviceGetTotalEnergyConsumption costs about 4 ms of CPU per call on an
// H100 (driver 580), a thousand times the rest of a sample; read at 10 Hz it alone
// would take 4 % of a core; once every 2 s, 0.2 %. Spaced out, the counter still gives the energy between
// its reads exactly, and [Summarize] integrates power over the edges of a window.
const DefaultEnergyGap = 2 * time.Second

// DefaultMaxTicks is how many sampling ticks (one sample per device each) a [Sampler]
// keeps before it starts to decimate: 4096 ticks are 6.8 minutes at 10 Hz before the
// first halving, about 450 KB per device.
const DefaultMaxTicks = 4096

// Sampler samples in its own goroutine until its context ends or [Sampler.Stop], and once
// more then.
//
// Note: memory is bounded by decimation, not by a ring, so that a long run keeps its
// cold start. When maxTicks ticks are stored, neighbouring ticks are merged pairwise
// and from then on every stored tick stands for twice as many readings. A merged
// sample keeps the maximum of VRAMUsed, ProcVRAM (per PID) and TempC, the mean of
// utilisation, power and SM clock, and the later reading's time and energy counter.
// Peaks therefore survive decimation exactly; a power maximum or a utilisation
// percentile computed afterwards is one over bucket means.
type Sampler struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	ticks    []tick // stored, oldest first
	pending  tick   // readings merged but not yet stored (stride > 1)
	pendingN int
	stride   int // readings per stored tick
	maxTicks int
	nErr     int
	lastErr  error
}

// tick is one sampling round: a slot per device, sorted by device index.
type tick []slot

// slot is a (possibly merged) sample and how many readings it stands for.
type slot struct {
	s Sample
	w int
}

// StartSampler starts a sampler that calls sample every interval (and once at once) in its
// own goroutine, keeping at most maxTicks rounds ([DefaultMaxTicks] when maxTicks ≤ 0).
// sample is any source of readings: a [Monitor]'s Sample, or a caller's own adapter.
func StartSampler(ctx context.Context, interval time.Duration, maxTicks int, sample func() ([]Sample, error)) *Sampler {
	return newSampler(ctx, interval, maxTicks, sample)
}

// NewSampler returns a sampler without a goroutine, fed by [Sampler.Add]: for a caller with
// a clock of its own (a replay, a simulation). It keeps at most maxTicks rounds
// ([DefaultMaxTicks] when maxTicks ≤ 0).
func NewSampler(maxTicks int) *Sampler {
	s := bareSampler(maxTicks)
	s.cancel = func() {}
	close(s.done)
	return s
}

func bareSampler(maxTicks int) *Sampler {
	if maxTicks <= 0 {
		maxTicks = DefaultMaxTicks
	}
	if maxTicks < 2 {
		maxTicks = 2
	}
	return &Sampler{done: make(chan struct{}), stride: 1, maxTicks: maxTicks}
}

// newSampler starts a sampler that calls sample every interval (and once at once).
func newSampler(ctx context.Context, interval time.Duration, maxTicks int, sample func() ([]Sample, error)) *Sampler {
	if interval <= 0 {
		interval = DefaultInterval
	}
	ctx, cancel := context.WithCancel(ctx)
	s := bareSampler(maxTicks)
	s.cancel = cancel
	if ctx.Err() != nil {
		close(s.done)
		return s
	}
	// The first round is taken before the sampler is returned: the caller's next step is
	// already observed.
	s.Add(sample())
	go s.run(ctx, interval, sample)
	return s
}

func (s *Sampler) run(ctx context.Context, interval time.Duration, sample func() ([]Sample, error)) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// One last round: the end state, which a run shorter than an interval would
			// otherwise never show.
			s.Add(sample())
			return
		case <-t.C:
			s.Add(sample())
		}
	}
}

// Add stores one round of readings (possibly partial: a device that could not be read is
// left out) and the round's error, which is counted.
func (s *Sampler) Add(got []Sample, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.nErr++
		s.lastErr = err
	}
	if len(got) == 0 {
		return
	}
	t := make(tick, len(got))
	for i, g := range got {
		t[i] = slot{s: g, w: 1}
	}
	slices.SortStableFunc(t, func(a, b slot) int { return a.s.Index - b.s.Index })
	if s.stride == 1 {
		s.push(t)
		return
	}
	s.pending = mergeTicks(s.pending, t)
	s.pendingN++
	if s.pendingN == s.stride {
		s.push(s.pending)
		s.pending, s.pendingN = nil, 0
	}
}

// push stores t, halving what is stored first when it is full.
func (s *Sampler) push(t tick) {
	if len(s.ticks) >= s.maxTicks {
		n := 0
		for i := 0; i < len(s.ticks); i += 2 {
			if i+1 < len(s.ticks) {
				s.ticks[n] = mergeTicks(s.ticks[i], s.ticks[i+1])
			} else {
				s.ticks[n] = s.ticks[i]
			}
			n++
		}
		clear(s.ticks[n:])
		s.ticks = s.ticks[:n]
		s.stride *= 2
	}
	s.ticks = append(s.ticks, t)
}

// Samples returns a copy of what has been collected so far, in time order (at equal
// times, by device index). The ProcVRAM maps are shared and must not be modified.
func (s *Sampler) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.pending)
	for _, t := range s.ticks {
		n += len(t)
	}
	out := make([]Sample, 0, n)
	for _, t := range append(s.ticks, s.pending) {
		for _, sl := range t {
			if sl.w > 1 {
				sl.s.Readings = sl.w
			}
			out = append(out, sl.s)
		}
	}
	// A merged tick's devices may end at different times where a round missed a
	// device; each device's own samples are in order already.
	slices.SortStableFunc(out, func(a, b Sample) int {
		if c := a.T.Compare(b.T); c != 0 {
			return c
		}
		return a.Index - b.Index
	})
	return out
}

// Err returns the last sampling error and how many rounds failed (wholly or for some
// device); nil and 0 when every round succeeded.
func (s *Sampler) Err() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nErr, s.lastErr
}

// Stop ends sampling, waits for the goroutine to finish and returns everything
// collected. It may be called more than once.
func (s *Sampler) Stop() []Sample {
	s.cancel()
	<-s.done
	return s.Samples()
}

// mergeTicks merges a (earlier) and b (later) device by device.
func mergeTicks(a, b tick) tick {
	if len(a) == 0 {
		return slices.Clone(b)
	}
	out := make(tick, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].s.Index < b[j].s.Index):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].s.Index < a[i].s.Index:
			out = append(out, b[j])
			j++
		default:
			out = append(out, mergeSlots(a[i], b[j]))
			i++
			j++
		}
	}
	return out
}

// mergeSlots merges two readings of one device, a before b.
func mergeSlots(a, b slot) slot {
	x, y := a.s, b.s
	m := Sample{T: y.T, Index: y.Index, Missing: x.Missing & y.Missing}
	wa, wb := float64(a.w), float64(b.w)
	mean := func(f Field, u, v float64) float64 {
		switch {
		case x.Missing.Has(f):
			return v
		case y.Missing.Has(f):
			return u
		}
		return (u*wa + v*wb) / (wa + wb)
	}
	pick := func(f Field, u, v uint64) uint64 {
		switch {
		case x.Missing.Has(f):
			return v
		case y.Missing.Has(f):
			return u
		}
		return max(u, v)
	}
	m.VRAMUsed = pick(FieldVRAM, x.VRAMUsed, y.VRAMUsed)
	m.UtilGPU = mean(FieldUtil, x.UtilGPU, y.UtilGPU)
	m.UtilMem = mean(FieldUtil, x.UtilMem, y.UtilMem)
	m.PowerW = mean(FieldPower, x.PowerW, y.PowerW)
	m.SMClockMHz = int(mean(FieldClock, float64(x.SMClockMHz), float64(y.SMClockMHz)) + 0.5)
	m.TempC = int(pick(FieldTemp, uint64(max(x.TempC, 0)), uint64(max(y.TempC, 0))))
	// The energy counter belongs to the later reading's time; without it, drop it.
	if y.Missing.Has(FieldEnergy) {
		m.Missing |= FieldEnergy
	} else {
		m.EnergyMJ = y.EnergyMJ
	}
	if x.ProcVRAM != nil || y.ProcVRAM != nil {
		m.ProcVRAM = make(map[uint32]uint64, max(len(x.ProcVRAM), len(y.ProcVRAM)))
		for pid, v := range x.ProcVRAM {
			m.ProcVRAM[pid] = v
		}
		for pid, v := range y.ProcVRAM {
			m.ProcVRAM[pid] = max(m.ProcVRAM[pid], v)
		}
	}
	return slot{s: m, w: a.w + b.w}
}

// errClosed is returned by a Monitor used after Close.
var errClosed = errors.New("gpu monitor closed")
