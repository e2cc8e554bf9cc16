package comfy

import (
	"testing"
	"time"
)

func TestStepsPerSecondNeedsASpanItCanTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ticks := func(n int, every time.Duration) []time.Time {
		var ts []time.Time
		for i := range n {
			ts = append(ts, t0.Add(time.Duration(i)*every))
		}
		return ts
	}
	for _, tc := range []struct {
		name  string
		nodes []NodeRun
		want  float64
	}{
		{"20 steps at 100 ms", []NodeRun{{ID: "3", Ticks: ticks(21, 100*time.Millisecond)}}, 10},
		{"the node with most ticks wins", []NodeRun{{ID: "1", Ticks: ticks(3, time.Second)}, {ID: "3", Ticks: ticks(11, 20*time.Millisecond)}}, 50},
		{"a burst delivered within microseconds", []NodeRun{{ID: "3", Ticks: ticks(25, 2*time.Microsecond)}}, 0},
		{"just under the span", []NodeRun{{ID: "3", Ticks: ticks(6, 9*time.Millisecond)}}, 0},
		{"one tick", []NodeRun{{ID: "3", Ticks: ticks(1, time.Second)}}, 0},
		{"no nodes", nil, 0},
	} {
		r := &Result{Nodes: tc.nodes}
		if got := r.StepsPerSecond(); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("%s: StepsPerSecond = %v, want %v", tc.name, got, tc.want)
		}
	}
}
