package docker

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

// A stream as the engine sends it (cgroup v2), trimmed: the first record
// has an empty precpu_stats.
const statsStream = `{"read":"2026-11-26T23:07:25.000000000Z","cpu_stats":{"cpu_usage":{"total_usage":1000000000},"system_cpu_usage":50000000000,"online_cpus":4},"precpu_stats":{"cpu_usage":{"total_usage":0}},"memory_stats":{"usage":104857600,"limit":8589934592,"stats":{"inactive_file":4857600,"anon":90000000}}}
{"read":"2026-11-26T23:07:26.000000000Z","cpu_stats":{"cpu_usage":{"total_usage":1500000000},"system_cpu_usage":54000000000,"online_cpus":4},"precpu_stats":{"cpu_usage":{"total_usage":1000000000},"system_cpu_usage":50000000000,"online_cpus":4},"memory_stats":{"usage":209715200,"limit":8589934592,"stats":{"inactive_file":9715200}}}
{"read":"2026-11-26T23:07:27.000000000Z","cpu_stats":{"cpu_usage":{"total_usage":2000000000,"percpu_usage":[1,2]},"system_cpu_usage":56000000000},"precpu_stats":{"cpu_usage":{"total_usage":1500000000},"system_cpu_usage":54000000000},"memory_stats":{"usage":300,"limit":1000,"stats":{"total_inactive_file":100,"inactive_file":50}}}
`

func TestDecodeStats(t *testing.T) {
	var got []Stats
	if err := decodeStats(strings.NewReader(statsStream), func(s Stats) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d samples, want 3", len(got))
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	// First sample: no previous reading, so no CPU figure.
	if got[0].CPUPercent != 0 || got[0].MemUsed != 100000000 || got[0].MemLimit != 8589934592 {
		t.Errorf("sample 0 = %+v", got[0])
	}
	if want := time.Date(2026, 11, 26, 23, 7, 25, 0, time.UTC); !got[0].Time.Equal(want) {
		t.Errorf("sample 0 time %v, want %v", got[0].Time, want)
	}
	// 0.5e9 of 4e9 system ns on 4 CPUs: 50% of one core.
	if !near(got[1].CPUPercent, 50) || got[1].MemUsed != 200000000 {
		t.Errorf("sample 1 = %+v, want 50%% CPU and 200000000 B", got[1])
	}
	// No online_cpus: the per-CPU list (2 entries) counts; cgroup v1's
	// total_inactive_file wins over inactive_file.
	if !near(got[2].CPUPercent, 0.5e9/2e9*2*100) || got[2].MemUsed != 200 || got[2].MemLimit != 1000 {
		t.Errorf("sample 2 = %+v", got[2])
	}
}

func TestStatsOfEdges(t *testing.T) {
	var r container.StatsResponse
	r.MemoryStats.Usage = 10
	r.MemoryStats.Stats = map[string]uint64{"inactive_file": 20}              // more than usage: ignored
	r.CPUStats.CPUUsage.TotalUsage, r.PreCPUStats.CPUUsage.TotalUsage = 5, 10 // counter went back (restart): no figure
	r.CPUStats.SystemUsage, r.PreCPUStats.SystemUsage = 20, 10
	s := statsOf(r)
	if s.MemUsed != 10 || s.CPUPercent != 0 || !s.Time.IsZero() {
		t.Errorf("statsOf = %+v", s)
	}
	r.MemoryStats.Limit = math.MaxUint64
	if s := statsOf(r); s.MemLimit != math.MaxInt64 {
		t.Errorf("MemLimit = %d, want clamped to MaxInt64", s.MemLimit)
	}
}

func TestDecodeStatsBad(t *testing.T) {
	n := 0
	err := decodeStats(strings.NewReader(`{"read":"2026-11-26T23:07:25Z"} {"read":`), func(Stats) { n++ })
	if err == nil || n != 1 {
		t.Errorf("truncated stream: %d samples, err %v; want 1 sample and an error", n, err)
	}
}

func FuzzDecodeStats(f *testing.F) {
	f.Add([]byte(statsStream))
	f.Add([]byte(`{"cpu_stats":{"online_cpus":0}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = decodeStats(strings.NewReader(string(data)), func(s Stats) {
			if s.CPUPercent < 0 || math.IsNaN(s.CPUPercent) || math.IsInf(s.CPUPercent, 0) {
				t.Fatalf("CPUPercent %v", s.CPUPercent)
			}
			if s.MemUsed < 0 || s.MemLimit < 0 {
				t.Fatalf("negative memory %+v", s)
			}
		})
	})
}
