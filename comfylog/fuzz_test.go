package comfylog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seedLines adds every line of the testdata logs, and some odd ones, to a fuzz corpus.
func seedLines(f *testing.F, add func(string)) {
	logs, _ := filepath.Glob("testdata/*.log")
	for _, p := range logs {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for l := range strings.Lines(string(data)) {
			if _, rest, ok := strings.Cut(l, "Z "); ok && strings.HasPrefix(l, "20") {
				l = rest
			}
			add(l)
		}
	}
	for _, s := range []string{"", "\r", "\r\r\n", "%|", "0%||0/0[", "100%|█| 1/0 [99:99:99<, 0s/it]", "[", "[1", "2025-", "INFO:", "x - INFO - ",
		"Prompt executed in ::", "loaded partially;,,,", "Model  prepared for dynamic VRAM loading", "Port  is already in use on address ", "\xff\xfe seconds: "} {
		add(s)
	}
}

func FuzzParse(f *testing.F) {
	seedLines(f, func(s string) { f.Add(s) })
	f.Fuzz(func(t *testing.T, line string) {
		ev := Parse(line)
		checkEvent(t, line, ev)
		_ = ev.String()
	})
}

// FuzzTracker feeds arbitrary text, one line per "\n", with times taken from the input, and
// checks that the tracker neither panics nor grows past its bounds.
func FuzzTracker(f *testing.F) {
	for _, p := range []string{"testdata/oom_exception.log", "testdata/v0364_cold_warm.log", "testdata/import_failure.log"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(3))
	}
	f.Add([]byte("got prompt\nRequested to load A\n\r 1%|x| 1/100 [00:01<01:00, 1.00it/s]\r\n"), uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		opts := TrackerOptions{TailLines: 4, MaxRecords: 3, MaxExceptions: 2, MaxTraceback: 2, MaxLineBytes: 32, MaxGaps: 2}
		tr := NewTracker(opts)
		tm := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		lines := 0
		for i, l := range strings.Split(string(data), "\n") {
			// Times mostly move forward, sometimes back (stdout and stderr interleave), sometimes absent.
			switch {
			case len(l) > 0 && l[0]%7 == 0:
				tm = tm.Add(-time.Duration(step) * time.Millisecond)
			default:
				tm = tm.Add(time.Duration(step) * 100 * time.Millisecond)
			}
			at := tm
			if i%5 == 4 {
				at = time.Time{}
			}
			tr.Add(Line{Time: at, Text: l, Partial: len(l) > 0 && l[0]%3 == 0})
			if !strings.Contains(l, "\r") {
				lines++
				continue
			}
			for _, seg := range strings.Split(l, "\r") {
				if seg != "" {
					lines++
				}
			}
		}
		s := tr.Snapshot()
		if len(s.Tail) > 4 || len(s.Prompts) > 3 || len(s.PromptExecuted) > 3 || len(s.Loads) > 3 || len(s.Bars) > 3 ||
			len(s.CustomNodes) > 3 || len(s.ImportFailures) > 3 || len(s.Exceptions) > 2 || len(tr.Gaps(time.Nanosecond)) > 3 {
			t.Fatalf("over the bounds: %+v", s)
		}
		for _, e := range s.Exceptions {
			if len(e.Traceback) > 2 {
				t.Fatalf("traceback of %d lines", len(e.Traceback))
			}
		}
		for _, l := range s.Tail {
			if len(l) > 32+len("…") {
				t.Fatalf("tail line of %d bytes", len(l))
			}
		}
		if s.Lines != lines {
			t.Fatalf("Lines = %d, want %d", s.Lines, lines)
		}
		for _, g := range tr.Gaps(time.Nanosecond) {
			if g.End.Before(g.Start) {
				t.Fatalf("gap ends before it starts: %+v", g)
			}
		}
	})
}
