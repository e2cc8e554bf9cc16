package comfylog

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// readLog reads a testdata log. A line that starts with an RFC 3339 time (as `docker logs
// --timestamps` writes it) carries the engine time; the rest of the line is the text. The
// text is split at "\r" as the docker package does: every segment but the last is Partial.
func readLog(t testing.TB, path string) []Line {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Line
	for raw := range strings.Lines(string(data)) {
		raw = strings.TrimSuffix(raw, "\n")
		var tm time.Time
		if ts, rest, ok := strings.Cut(raw, " "); ok {
			if p, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				tm, raw = p, rest
			}
		}
		segs := strings.Split(raw, "\r")
		for i, s := range segs {
			last := i == len(segs)-1
			if s == "" && !last {
				continue
			}
			out = append(out, Line{Time: tm, Stream: "stderr", Text: s, Partial: !last})
		}
	}
	return out
}

// render is the golden form of a log: its events, the tracker's snapshot and its gaps.
func render(t testing.TB, lines []Line) []byte {
	var b bytes.Buffer
	b.WriteString("# events (line: kind fields; Unknown left out)\n")
	tr := NewTracker(TrackerOptions{})
	for i, l := range lines {
		tr.Add(l)
		ev := Parse(l.Text)
		if ev.Kind == Unknown {
			continue
		}
		p := ""
		if l.Partial {
			p = " (partial)"
		}
		fmt.Fprintf(&b, "%d%s: %s\n", i+1, p, ev)
	}
	snap := tr.Snapshot()
	js, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString("# snapshot\n")
	b.Write(js)
	b.WriteString("\n# gaps >= 10s\n")
	js, err = json.MarshalIndent(tr.Gaps(0), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b.Write(js)
	b.WriteString("\n")
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	logs, err := filepath.Glob("testdata/*.log")
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) < 7 {
		t.Fatalf("found %d testdata logs, want at least 7", len(logs))
	}
	for _, path := range logs {
		name := strings.TrimSuffix(filepath.Base(path), ".log")
		t.Run(name, func(t *testing.T) {
			got := render(t, readLog(t, path))
			golden := strings.TrimSuffix(path, ".log") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				gotPath := strings.TrimSuffix(path, ".log") + ".got"
				_ = os.WriteFile(gotPath, got, 0o644)
				t.Errorf("%s differs from the output (-want +got), written to %s:\n%s", golden, gotPath, diff)
			}
		})
	}
}
