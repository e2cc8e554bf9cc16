package comfylog

import (
	"path/filepath"
	"testing"
	"time"
)

// benchLines is a realistic mix: every testdata log (startup, cold and warm prompts, tqdm
// updates, tracebacks, prefixed file copies), with times made strictly increasing.
func benchLines(b *testing.B) []Line {
	logs, err := filepath.Glob("testdata/*.log")
	if err != nil || len(logs) == 0 {
		b.Fatal("no testdata logs")
	}
	var out []Line
	tm := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range logs {
		for _, l := range readLog(b, p) {
			tm = tm.Add(37 * time.Millisecond)
			l.Time = tm
			out = append(out, l)
		}
	}
	return out
}

func BenchmarkParse(b *testing.B) {
	lines := benchLines(b)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		for _, l := range lines {
			if Parse(l.Text).Line == "" && l.Text != "" {
				b.Fatal("lost the line")
			}
		}
		n += len(lines)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkTracker measures lines/s through Parse + Tracker.Add (what following a
// container log costs), and checks that every line was taken.
func BenchmarkTracker(b *testing.B) {
	lines := benchLines(b)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		tr := NewTracker(TrackerOptions{})
		for _, l := range lines {
			tr.Add(l)
		}
		if got := tr.Snapshot().Lines; got != len(lines) {
			b.Fatalf("tracker took %d lines, want %d", got, len(lines))
		}
		n += len(lines)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}
