//go:build cgo

package gpu

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkSamplerNightly12h is a 12-hour nightly at 10 Hz on 8 GPUs (432,000 rounds,
// 3.5 M readings) in simulated time: go-nvml's dgxh100 mock plays the rig's scenario (GPU 0
// loads a model and samples early on; the energy counter is read at the Monitor's default
// spacing) and GPU 5 spikes for one reading at 11.5 h. The
// bounded Sampler must keep its memory flat (the heap after each hour barely moves once
// it is full) and every device's VRAM peak exact.
//
//	go test ./gpu -run '^$' -bench SamplerNightly12h -benchtime 1x
func BenchmarkSamplerNightly12h(b *testing.B) {
	const (
		interval = 100 * time.Millisecond
		hours    = 12
		rounds   = hours * int(time.Hour/interval)
		spikeAt  = rounds * 23 / 24 // 11.5 h
		spike    = 79 * gb
	)
	for b.Loop() {
		// go-nvml's mocks record every call they get: a fresh rig each simulated hour keeps
		// the mock's own growth out of the figure (its state is a function of the time).
		var r *rig
		var m *Monitor
		fresh := func() {
			if m != nil {
				m.Close()
			}
			r = newRig()
			var err error
			if m, err = open(r); err != nil {
				b.Fatalf("open: %v", err)
			}
		}
		fresh()
		s := NewSampler(0)
		t0 := time.Unix(1_800_000_000, 0)
		want := map[int]uint64{}
		var heap [hours + 1]uint64
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap[0] = ms.HeapAlloc
		for i := range rounds {
			e := time.Duration(i) * interval
			r.at(e)
			ss, err := m.Sample(nil)
			if err != nil || len(ss) != 8 {
				b.Fatalf("round %d: %d samples, %v", i, len(ss), err)
			}
			for j := range ss {
				ss[j].T = t0.Add(e) // simulated time
				if i == spikeAt && ss[j].Index == 5 {
					ss[j].VRAMUsed = spike
				}
				want[ss[j].Index] = max(want[ss[j].Index], ss[j].VRAMUsed)
			}
			s.Add(ss, nil)
			if (i+1)%int(time.Hour/interval) == 0 {
				fresh()
				runtime.GC()
				runtime.ReadMemStats(&ms)
				heap[(i+1)/int(time.Hour/interval)] = ms.HeapAlloc
			}
		}
		m.Close()
		got := s.Samples()
		peak := map[int]uint64{}
		readings := 0
		for _, g := range got {
			peak[g.Index] = max(peak[g.Index], g.VRAMUsed)
			readings += max(g.Readings, 1)
		}
		for idx, v := range want {
			if peak[idx] != v {
				b.Errorf("GPU %d: peak %d after 12 h, want %d", idx, peak[idx], v)
			}
		}
		if peak[5] != spike || peak[0] != vramIdle+vramModel+vramActive {
			b.Errorf("peaks lost: GPU 5 %d (spike %d), GPU 0 %d", peak[5], spike, peak[0])
		}
		if readings != rounds*8 {
			b.Errorf("samples stand for %d readings, want %d", readings, rounds*8)
		}
		// Flat: from hour 1 on (the store is full after 6.8 minutes) the heap moves by
		// less than the store's own size, whatever the hour.
		lo, hi := heap[1], heap[1]
		for _, h := range heap[1:] {
			lo, hi = min(lo, h), max(hi, h)
		}
		if grow := float64(hi) - float64(lo); grow > float64(heap[1]-heap[0])+1<<20 {
			b.Errorf("heap grew by %.1f MB between hours 1 and 12 (hourly: %v)", grow/(1<<20), heap)
		}
		b.ReportMetric(float64(heap[1]-min(heap[0], heap[1]))/(1<<20), "MB-held@1h")
		b.ReportMetric((float64(heap[hours])-float64(heap[0]))/(1<<20), "MB-held@12h")
		b.ReportMetric(float64(len(got)), "samples-kept")
		b.ReportMetric(float64(rounds*8), "readings")
	}
}
