package gpu

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestSamplerDecimation runs a sampler with room for 8 ticks over 100 ticks of a fake
// device whose VRAM spikes once: memory stays bounded, the whole run stays covered and
// the spike survives.
func TestSamplerDecimation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		n := 0
		sample := func() ([]Sample, error) {
			n++
			if n > 100 {
				return nil, nil // the last round at Stop: nothing to read (checked below)
			}
			vram := uint64(100)
			if n == 37 {
				vram = 9999
			}
			return []Sample{
				{T: time.Now(), Index: 1, VRAMUsed: 1, UtilGPU: 50, PowerW: 10, TempC: n},
				{T: time.Now(), Index: 0, VRAMUsed: vram, UtilGPU: float64(n % 2 * 100), PowerW: 100, EnergyMJ: uint64(n) * 10_000, ProcVRAM: map[uint32]uint64{7: vram}},
			}, nil
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second-time.Millisecond)
		defer cancel()
		s := newSampler(ctx, 100*time.Millisecond, 8, sample)
		<-ctx.Done()
		got := s.Stop()
		if n != 101 {
			t.Fatalf("%d rounds, want 100 and the last one at the end", n)
		}
		// 100 ticks into 8 slots: strides 1→2→4→8→16; at most 8 stored plus a pending one.
		if len(got) > 2*9 || len(got) < 2*4 {
			t.Fatalf("%d samples kept", len(got))
		}
		by := byDevice(got)
		if by[0].VRAMPeak != 9999 || by[0].VRAMPeakSampled != 9999 {
			t.Errorf("the spike did not survive decimation: %+v", by[0])
		}
		if by[1].TempMaxC != 100 {
			t.Errorf("TempMaxC = %d, want 100", by[1].TempMaxC)
		}
		if !approx(by[0].UtilMean, 50) || !approx(by[0].PowerMeanW, 100) {
			t.Errorf("means after decimation: util %v power %v, want 50 and 100", by[0].UtilMean, by[0].PowerMeanW)
		}
		peaks := 0
		for _, smp := range got {
			if smp.Index == 0 && smp.ProcVRAM[7] == 9999 {
				peaks++
			}
		}
		if peaks != 1 {
			t.Errorf("per-process peak kept %d times, want once", peaks)
		}
		// Coverage: the first stored tick ends early, the last is the last reading.
		if first := got[0].T.Sub(start); first > 2*time.Second {
			t.Errorf("first kept sample at %v: the cold start was dropped", first)
		}
		if last := got[len(got)-1].T.Sub(start); last != 9900*time.Millisecond {
			t.Errorf("last kept sample at %v, want the last reading's 9.9s", last)
		}
		readings := 0
		for _, smp := range got {
			if smp.Index == 0 {
				readings += max(smp.Readings, 1)
			}
		}
		if readings != 100 {
			t.Errorf("device 0's samples stand for %d readings, want 100", readings)
		}
		for i := 1; i < len(got); i++ {
			if got[i].T.Before(got[i-1].T) {
				t.Fatalf("samples out of order at %d", i)
			}
		}
		// Energy from the counter stays exact across merges: ticks 1..100 → 99 × 10 J
		// minus what the first stored tick already covers.
		firstE := got[0].EnergyMJ
		if got[0].Index != 0 {
			firstE = got[1].EnergyMJ
		}
		if want := float64(100*10_000-firstE) / 1000; !approx(by[0].EnergyJ, want) || by[0].EnergySource != EnergyCounter {
			t.Errorf("energy %v J (%s), want %v J", by[0].EnergyJ, by[0].EnergySource, want)
		}
	})
}

func TestSamplerErrorsAndStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		round := 0
		s := newSampler(t.Context(), 0, DefaultMaxTicks, func() ([]Sample, error) {
			round++
			if round%2 == 0 {
				return []Sample{{T: time.Now(), Index: 3}}, boom // partial round
			}
			return []Sample{{T: time.Now(), Index: 3}, {T: time.Now(), Index: 4}}, nil
		})
		time.Sleep(DefaultInterval*9 + DefaultInterval/2) // 10 rounds at the default interval
		snap := s.Samples()
		got := s.Stop()
		again := s.Stop()
		// Stop takes one last round (the 11th: both devices).
		if len(got) != 17 || len(snap) != 15 || len(again) != 17 {
			t.Errorf("samples: snapshot %d, Stop %d, second Stop %d; want 15, 17, 17", len(snap), len(got), len(again))
		}
		if n, err := s.Err(); n != 5 || !errors.Is(err, boom) {
			t.Errorf("Err = %d, %v; want 5, boom", n, err)
		}
	})
}

func TestSamplerContextAlreadyDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	s := newSampler(ctx, time.Millisecond, 4, func() ([]Sample, error) { called = true; return nil, nil })
	if got := s.Stop(); len(got) != 0 || called {
		t.Errorf("a sampler with a done context sampled: %d, %v", len(got), called)
	}
}

// FuzzSamplerAdd drives the decimation directly with arbitrary rounds: memory stays
// bounded and each device's maximum VRAM and time order survive.
func FuzzSamplerAdd(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27}, uint8(2))
	f.Add([]byte("\xff\x00\xff\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90"), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, capacity uint8) {
		maxTicks := int(capacity%16) + 2
		s := &Sampler{stride: 1, maxTicks: maxTicks}
		want := map[int]uint64{}
		rounds := 0
		for i := 0; i+9 <= len(data); i += 9 {
			ss := samplesFrom(data[i : i+9])
			ss[0].T = base.Add(time.Duration(rounds) * time.Second)
			if !ss[0].Missing.Has(FieldVRAM) {
				want[ss[0].Index] = max(want[ss[0].Index], ss[0].VRAMUsed)
			}
			s.Add(ss, nil)
			rounds++
		}
		got := s.Samples()
		if len(s.ticks) > maxTicks {
			t.Fatalf("%d ticks stored, cap %d", len(s.ticks), maxTicks)
		}
		peak := map[int]uint64{}
		for i, g := range got {
			if i > 0 && g.T.Before(got[i-1].T) {
				t.Fatalf("out of order at %d", i)
			}
			if !g.Missing.Has(FieldVRAM) {
				peak[g.Index] = max(peak[g.Index], g.VRAMUsed)
			}
		}
		for idx, v := range want {
			if peak[idx] != v {
				t.Fatalf("device %d: peak %d after decimation, want %d", idx, peak[idx], v)
			}
		}
	})
}
