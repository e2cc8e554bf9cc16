package comfysim

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// thrash is --fault thrash-at-startup: before the first log line, fill memory up to
// thrashFill of the container's memory limit (cgroup v2 memory.max or v1
// memory.limit_in_bytes), then keep touching it, burning CPU and saying nothing — as
// ComfyUI importing torch into a too-small --memory does. Without a limit it only spins
// quietly. It returns when ctx ends.
func thrash(ctx context.Context) {
	limit := cgroupLimit()
	var hold [][]byte
	const chunk = 1 << 20
	for limit > 0 && ctx.Err() == nil {
		used := cgroupUsed()
		if used <= 0 || float64(used+chunk) >= thrashFill*float64(limit) {
			break
		}
		b := make([]byte, chunk)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hold = append(hold, b)
	}
	for i := 0; ctx.Err() == nil; i++ {
		for _, b := range hold {
			for j := 0; j < len(b); j += 4096 {
				b[j]++
			}
		}
		if i%4 == 0 {
			time.Sleep(10 * time.Millisecond) // busy, not a spinning core per se
		}
	}
	runtime.KeepAlive(hold)
}

// thrashFill is how full thrash-at-startup fills the memory limit.
const thrashFill = 0.97

// cgroupLimit is this process's cgroup memory limit in bytes, 0 when there is none.
func cgroupLimit() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if n := readInt(p); n > 0 && n < 1<<60 {
			return n
		}
	}
	return 0
}

// cgroupUsed is the cgroup's memory in use less its inactive file cache, in bytes (0 when
// unknown): what the engine's stats call used memory. Cache the kernel can drop does not count.
func cgroupUsed() int64 {
	for _, v := range []struct{ usage, stat, key string }{
		{"/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat", "inactive_file"},
		{"/sys/fs/cgroup/memory/memory.usage_in_bytes", "/sys/fs/cgroup/memory/memory.stat", "total_inactive_file"},
	} {
		n := readInt(v.usage)
		if n <= 0 {
			continue
		}
		if b, err := os.ReadFile(v.stat); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if k, val, ok := strings.Cut(line, " "); ok && k == v.key {
					if x, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64); err == nil && x < n {
						n -= x
					}
				}
			}
		}
		return n
	}
	return 0
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
