package docker

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/qwenlab/qwenlab/internal/shortid"
)

// Stats is one sample of a container's resource use.
type Stats struct {
	Time       time.Time // when the engine took the sample
	CPUPercent float64   // of one core: 200 means two cores busy
	MemUsed    int64     // bytes: usage minus inactive file cache
	MemLimit   int64     // bytes
}

// StreamStats follows the engine's stats stream for a container, calling fn
// for each sample (about one a second), until ctx ends or the container
// stops; both are a normal end (nil).
func (c *Client) StreamStats(ctx context.Context, id string, fn func(Stats)) error {
	res, err := c.cli.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: true})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("stats %s: %w", shortid.Of(id), c.engineErr(err))
	}
	defer res.Body.Close()
	if err := decodeStats(res.Body, fn); err != nil && ctx.Err() == nil {
		return fmt.Errorf("stats %s: %w", shortid.Of(id), err)
	}
	return nil
}

// decodeStats reads a stats JSON stream to its end.
func decodeStats(r io.Reader, fn func(Stats)) error {
	for rec, err := range jsonValues[container.StatsResponse](r) {
		if err != nil {
			return fmt.Errorf("decode stats: %w", err)
		}
		fn(statsOf(rec))
	}
	return nil
}

// statsOf computes a sample the way the docker CLI does: CPU% from the
// deltas between this and the previous reading (so the first sample of a
// stream, whose previous reading is empty, is 0), memory as usage minus
// the inactive file cache.
func statsOf(r container.StatsResponse) Stats {
	s := Stats{MemLimit: clampInt64(r.MemoryStats.Limit)}
	if r.Read.Year() > 1 {
		s.Time = r.Read
	}
	cpu, pre := r.CPUStats, r.PreCPUStats
	if pre.SystemUsage != 0 && cpu.SystemUsage > pre.SystemUsage && cpu.CPUUsage.TotalUsage > pre.CPUUsage.TotalUsage {
		cpuDelta := float64(cpu.CPUUsage.TotalUsage - pre.CPUUsage.TotalUsage)
		sysDelta := float64(cpu.SystemUsage - pre.SystemUsage)
		online := float64(cpu.OnlineCPUs)
		if online == 0 {
			online = float64(len(cpu.CPUUsage.PercpuUsage))
		}
		if online == 0 {
			online = 1
		}
		s.CPUPercent = cpuDelta / sysDelta * online * 100
	}
	used := r.MemoryStats.Usage
	// cgroup v1 reports total_inactive_file, v2 inactive_file.
	if v, ok := r.MemoryStats.Stats["total_inactive_file"]; ok && v < used {
		used -= v
	} else if v, ok := r.MemoryStats.Stats["inactive_file"]; ok && v < used {
		used -= v
	}
	s.MemUsed = clampInt64(used)
	return s
}

func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}
