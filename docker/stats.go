package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/client"
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
		return fmt.Errorf("stats %s: %w", shortID(id), c.engineErr(err))
	}
	defer res.Body.Close()
	if err := decodeStats(res.Body, fn); err != nil && ctx.Err() == nil {
		return fmt.Errorf("stats %s: %w", shortID(id), err)
	}
	return nil
}

// statsRecord holds the fields of the engine's stats JSON that qwenlab reads.
type statsRecord struct {
	Read   time.Time `json:"read"`
	CPU    cpuStats  `json:"cpu_stats"`
	PreCPU cpuStats  `json:"precpu_stats"`
	Memory memStats  `json:"memory_stats"`
	_      struct{}
}

type cpuStats struct {
	Usage struct {
		Total  uint64   `json:"total_usage"`
		PerCPU []uint64 `json:"percpu_usage"`
	} `json:"cpu_usage"`
	System uint64 `json:"system_cpu_usage"`
	Online uint32 `json:"online_cpus"`
}

type memStats struct {
	Usage uint64            `json:"usage"`
	Limit uint64            `json:"limit"`
	Stats map[string]uint64 `json:"stats"`
}

// decodeStats reads a stats JSON stream to its end.
func decodeStats(r io.Reader, fn func(Stats)) error {
	dec := json.NewDecoder(r)
	for {
		var rec statsRecord
		if err := dec.Decode(&rec); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decode stats: %w", err)
		}
		fn(statsOf(rec))
	}
}

// statsOf computes a sample the way the docker CLI does: CPU% from the
// deltas between this and the previous reading (so the first sample of a
// stream, whose previous reading is empty, is 0), memory as usage minus
// the inactive file cache.
func statsOf(r statsRecord) Stats {
	s := Stats{MemLimit: clampInt64(r.Memory.Limit)}
	if r.Read.Year() > 1 {
		s.Time = r.Read
	}
	if r.PreCPU.System != 0 && r.CPU.System > r.PreCPU.System && r.CPU.Usage.Total > r.PreCPU.Usage.Total {
		cpuDelta := float64(r.CPU.Usage.Total - r.PreCPU.Usage.Total)
		sysDelta := float64(r.CPU.System - r.PreCPU.System)
		online := float64(r.CPU.Online)
		if online == 0 {
			online = float64(len(r.CPU.Usage.PerCPU))
		}
		if online == 0 {
			online = 1
		}
		s.CPUPercent = cpuDelta / sysDelta * online * 100
	}
	used := r.Memory.Usage
	// cgroup v1 reports total_inactive_file, v2 inactive_file.
	if v, ok := r.Memory.Stats["total_inactive_file"]; ok && v < used {
		used -= v
	} else if v, ok := r.Memory.Stats["inactive_file"]; ok && v < used {
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
