package comfylog

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 5, 18, 8, 0, 0, 0, time.UTC)

// feed adds lines given as (seconds after t0, text).
type timed struct {
	at   float64
	text string
}

func feed(tr *Tracker, lines ...timed) {
	for _, l := range lines {
		tr.Add(Line{Time: t0.Add(seconds(l.at)), Stream: "stderr", Text: l.text})
	}
}

func TestTrackerTail(t *testing.T) {
	tr := NewTracker(TrackerOptions{TailLines: 3, MaxLineBytes: 8})
	feed(tr, timed{0, "one"}, timed{1, "two\n"}, timed{2, "three"})
	tr.Add(Line{Time: t0.Add(3 * time.Second), Text: "  4%|▍         | 1/25 [00:01<00:30,  1.25s/it]", Partial: true})
	feed(tr, timed{4, "four"}, timed{5, "héllo wörld"})
	got := tr.Snapshot().Tail
	want := []string{"three", "four", "héllo w…"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Tail (-want +got):\n%s", diff)
	}
	if p := tr.Snapshot().Progress; p.Step != 1 || p.Steps != 25 {
		t.Errorf("Progress = %+v, want step 1/25 from the partial line", p)
	}
	if n := tr.Snapshot().Lines; n != 6 {
		t.Errorf("Lines = %d, want 6", n)
	}
}

func TestTrackerCarriageReturns(t *testing.T) {
	tr := NewTracker(TrackerOptions{})
	feed(tr, timed{0, "got prompt"})
	// A whole bar in one engine line, as the json-file driver stores it.
	feed(tr, timed{10, "\r  0%|          | 0/4 [00:00<?, ?it/s]\r 50%|█████     | 2/4 [00:04<00:04,  2.00s/it]\r100%|██████████| 4/4 [00:08<00:00,  2.00s/it]"})
	// A bar cut off by a trailing "\r": all updates, no finished line.
	feed(tr, timed{20, "\r  0%|          | 0/2 [00:00<?, ?it/s]\r 50%|█████     | 1/2 [00:01<00:01,  1.00it/s]\r"})
	s := tr.Snapshot()
	if diff := cmp.Diff([]string{"got prompt", "100%|██████████| 4/4 [00:08<00:00,  2.00s/it]"}, s.Tail); diff != "" {
		t.Errorf("Tail (-want +got):\n%s", diff)
	}
	if len(s.Bars) != 1 || !s.Bars[0].Done || s.Bars[0].Steps != 4 || s.Bars[0].ItPerS != 0.5 {
		t.Fatalf("Bars = %+v, want one finished 4-step bar at 0.5 it/s", s.Bars)
	}
	if want := t0.Add(2 * time.Second); !s.Bars[0].Start.Equal(want) {
		t.Errorf("bar start = %v, want %v (line time minus tqdm's elapsed)", s.Bars[0].Start, want)
	}
	if p := s.Progress; p.Step != 1 || p.Steps != 2 || p.Done {
		t.Errorf("Progress = %+v, want the open 1/2 bar", p)
	}
	if s.Lines != 6 {
		t.Errorf("Lines = %d, want 6 (1 + 3 + 2 segments)", s.Lines)
	}
}

func TestTrackerLoads(t *testing.T) {
	tr := NewTracker(TrackerOptions{})
	feed(tr,
		timed{0, "got prompt"},
		timed{1, "Requested to load A"},
		timed{2, "Requested to load B"},
		timed{5, "loaded completely; 100.00 MB usable, 10.00 MB loaded, full load: True"},
		timed{9, "loaded partially; 50.00 MB usable, 20.00 MB loaded, 30.00 MB offloaded, 1.00 MB buffer reserved, lowvram patches: 0"},
		timed{10, "Requested to load C"}, // never gets its stat line: the prompt fails
		timed{11, "Prompt executed in 11.00 seconds"},
		timed{20, "got prompt"},
		timed{21, "Requested to load QwenImageTEModel_"},
		timed{22, "Requested to load QwenImage"},
		timed{30, "Model QwenImage prepared for dynamic VRAM loading. 19500MB Staged. 0 patches attached."},
		timed{31, "Model QwenImageTEModel_ prepared for dynamic VRAM loading. 7909MB Staged. 0 patches attached."},
		timed{32, "loaded completely;  242.03 MB loaded, full load: True"}, // no request before it
		timed{33, "Prompt executed in 13.00 seconds"},
	)
	at := func(s float64) time.Time { return t0.Add(seconds(s)) }
	want := []Load{
		{Prompt: 0, Model: "A", Start: at(1), End: at(5), Kind: LoadedCompletely, LoadedMB: 10, UsableMB: 100, FullLoad: true},
		{Prompt: 0, Model: "B", Start: at(2), End: at(9), Kind: LoadedPartially, LoadedMB: 20, UsableMB: 50, OffloadedMB: 30},
		{Prompt: 0, Model: "C", Start: at(10)},
		{Prompt: 1, Model: "QwenImageTEModel_", Start: at(21), End: at(31), Kind: DynamicVRAM, LoadedMB: 7909},
		{Prompt: 1, Model: "QwenImage", Start: at(22), End: at(30), Kind: DynamicVRAM, LoadedMB: 19500},
		{Prompt: 1, End: at(32), Kind: LoadedCompletely, LoadedMB: 242.03, FullLoad: true},
	}
	s := tr.Snapshot()
	if diff := cmp.Diff(want, s.Loads); diff != "" {
		t.Errorf("Loads (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{11, 13}, s.PromptExecuted); diff != "" {
		t.Errorf("PromptExecuted (-want +got):\n%s", diff)
	}
}

func TestTrackerPrompts(t *testing.T) {
	tr := NewTracker(TrackerOptions{})
	feed(tr,
		timed{0, "To see the GUI go to: http://127.0.0.1:8188"},
		timed{1, "got prompt"},
		timed{1.5, "got prompt"}, // queued behind the first
		timed{1.6, "got prompt"},
		timed{1.6, "invalid prompt: {'type': 'prompt_no_outputs'}"}, // the third, rejected at once
		timed{2, "!!! Exception during processing !!! Allocation on device"},
		timed{2, "Traceback (most recent call last):"},
		timed{2, "torch.OutOfMemoryError: Allocation on device"},
		timed{2, ""},
		timed{2, "Got an OOM, unloading all loaded models."},
		timed{2.1, "Prompt executed in 1.10 seconds"},
		timed{3, "Processing interrupted"},
		timed{3.1, "Prompt executed in 1.60 seconds"},
	)
	at := func(s float64) time.Time { return t0.Add(seconds(s)) }
	want := []Prompt{
		{Got: at(1), Done: at(2.1), Seconds: 1.1, Failed: true, OOM: true},
		{Got: at(1.5), Done: at(3.1), Seconds: 1.6, Interrupted: true},
		{Got: at(1.6), Invalid: true},
	}
	s := tr.Snapshot()
	if diff := cmp.Diff(want, s.Prompts); diff != "" {
		t.Errorf("Prompts (-want +got):\n%s", diff)
	}
	if s.OOMs != 1 || s.Interrupts != 1 || s.InvalidPrompts != 1 || len(s.Exceptions) != 1 {
		t.Fatalf("OOMs %d Interrupts %d InvalidPrompts %d Exceptions %d, want 1 each", s.OOMs, s.Interrupts, s.InvalidPrompts, len(s.Exceptions))
	}
	e := s.Exceptions[0]
	if !e.OOM || e.Message != "Allocation on device" || len(e.Traceback) != 2 {
		t.Errorf("exception = %+v, want OOM with a 2-line traceback", e)
	}
}

func TestTrackerStartup(t *testing.T) {
	tr := NewTracker(TrackerOptions{})
	lines := readLog(t, "testdata/v0210_dynamic.log")
	for _, l := range lines {
		tr.Add(l)
	}
	s := tr.Snapshot()
	at := func(v string) time.Time {
		p, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if !s.FirstLine.Equal(at("2026-05-18T08:00:00Z")) || !s.StartingServer.Equal(at("2026-05-18T08:00:06.5Z")) ||
		!s.GUIReady.Equal(at("2026-05-18T08:00:06.51Z")) || !s.FirstPrompt.Equal(at("2026-05-18T08:00:09Z")) {
		t.Errorf("marks: first %v starting %v ready %v prompt %v", s.FirstLine, s.StartingServer, s.GUIReady, s.FirstPrompt)
	}
	if diff := cmp.Diff([]string{"http://0.0.0.0:8188", "http://[::]:8188"}, s.GUIAddrs); diff != "" {
		t.Errorf("GUIAddrs (-want +got):\n%s", diff)
	}
	if s.ComfyVersion != "0.21.0" || !s.DynamicVRAM || s.TotalVRAMMB != 81079 || s.Attention != "pytorch" {
		t.Errorf("startup facts: %q dynamic=%v vram=%v attention=%q", s.ComfyVersion, s.DynamicVRAM, s.TotalVRAMMB, s.Attention)
	}
	if len(s.Bars) != 2 || s.Bars[1].ItPerS == 0 {
		t.Errorf("Bars = %+v, want the cold and the warm sampler bar", s.Bars)
	}
}

func TestTrackerImportFailures(t *testing.T) {
	tr := NewTracker(TrackerOptions{})
	for _, l := range readLog(t, "testdata/import_failure.log") {
		tr.Add(l)
	}
	s := tr.Snapshot()
	if diff := cmp.Diff([]string{"/root/ComfyUI/custom_nodes/ComfyUI-Broken-Node"}, s.ImportFailures); diff != "" {
		t.Errorf("ImportFailures (-want +got):\n%s", diff)
	}
	pre := 0
	for _, c := range s.CustomNodes {
		if c.Prestartup {
			pre++
		}
	}
	if len(s.CustomNodes) != 6 || pre != 2 {
		t.Errorf("CustomNodes = %+v, want 6 with 2 from the prestartup table", s.CustomNodes)
	}
}

func TestTrackerGaps(t *testing.T) {
	tr := NewTracker(TrackerOptions{})
	feed(tr,
		timed{0, "Checkpoint files will always be loaded safely."},
		timed{12, "Total VRAM 81079 MB, total RAM 2051800 MB"}, // startup gap: 12 s
		timed{13, "To see the GUI go to: http://0.0.0.0:8188"},
		timed{100, "got prompt"}, // idle, waiting for a client: no gap
		timed{101, "Requested to load QwenImage"},
		timed{116, "loaded completely;  19555.44 MB loaded, full load: True"}, // 15 s
		// the bar ran 20 s and arrived at its end: only 2 s of silence before it
		timed{138, "\r  0%|          | 0/20 [00:00<?, ?it/s]\r100%|██████████| 20/20 [00:20<00:00,  1.00it/s]"},
		timed{139, "Prompt executed in 39.00 seconds"},
		timed{300, "got prompt"}, // idle again
		timed{301, "Requested to load WanVAE"},
		timed{306, "loaded completely;  242.03 MB loaded, full load: True"}, // 5 s
		timed{350, "Prompt executed in 50.00 seconds"},                      // 44 s
	)
	at := func(s float64) time.Time { return t0.Add(seconds(s)) }
	want := []Gap{
		{Start: at(0), End: at(12), Before: "Checkpoint files will always be loaded safely.", After: "Total VRAM 81079 MB, total RAM 2051800 MB", During: "startup"},
		{Start: at(101), End: at(116), Before: "Requested to load QwenImage", After: "loaded completely;  19555.44 MB loaded, full load: True", During: "prompt"},
		{Start: at(306), End: at(350), Before: "loaded completely;  242.03 MB loaded, full load: True", After: "Prompt executed in 50.00 seconds", During: "prompt"},
	}
	if diff := cmp.Diff(want, tr.Gaps(0)); diff != "" {
		t.Errorf("Gaps(0) (-want +got):\n%s", diff)
	}
	if got := tr.Gaps(20 * time.Second); len(got) != 1 || got[0].Duration() != 44*time.Second {
		t.Errorf("Gaps(20s) = %+v, want the 44 s one", got)
	}
	got := tr.Gaps(1500 * time.Millisecond)
	var durs []time.Duration
	for _, g := range got {
		durs = append(durs, g.Duration())
	}
	if diff := cmp.Diff([]time.Duration{12 * time.Second, 15 * time.Second, 2 * time.Second, 5 * time.Second, 44 * time.Second}, durs); diff != "" {
		t.Errorf("Gaps(1.5s) durations (-want +got):\n%s", diff)
	}
}

func TestTrackerGapsWithoutReadyLine(t *testing.T) {
	// --dont-print-server: no ready line; the first "got prompt" ends startup.
	tr := NewTracker(TrackerOptions{})
	feed(tr,
		timed{0, "Import times for custom nodes:"},
		timed{60, "got prompt"},
		timed{61, "Requested to load QwenImage"},
		timed{75, "Model QwenImage prepared for dynamic VRAM loading. 19500MB Staged. 0 patches attached."},
	)
	got := tr.Gaps(0)
	if len(got) != 1 || got[0].Before != "Requested to load QwenImage" {
		t.Errorf("Gaps = %+v, want only the model load", got)
	}
}

func TestTrackerMaxGapsKeepsLongest(t *testing.T) {
	tr := NewTracker(TrackerOptions{MaxGaps: 2})
	at := 0.0
	for _, d := range []float64{3, 9, 2, 7, 11} {
		at += d
		feed(tr, timed{at, fmt.Sprintf("line after %v s", d)})
	}
	var durs []time.Duration
	for _, g := range tr.Gaps(time.Second) {
		durs = append(durs, g.Duration())
	}
	if diff := cmp.Diff([]time.Duration{9 * time.Second, 11 * time.Second}, durs); diff != "" {
		t.Errorf("kept gaps (-want +got):\n%s", diff)
	}
}

func TestTrackerBounded(t *testing.T) {
	opts := TrackerOptions{TailLines: 5, MaxRecords: 4, MaxExceptions: 2, MaxTraceback: 3, MaxLineBytes: 64, MaxGaps: 3}
	tr := NewTracker(opts)
	long := strings.Repeat("x", 10000)
	for i := range 200 {
		at := float64(i * 20)
		feed(tr,
			timed{at, "got prompt"},
			timed{at + 1, "Requested to load QwenImage"},
			timed{at + 15, "loaded completely;  1.00 MB loaded, full load: True"},
			timed{at + 16, "   0.1 seconds (IMPORT FAILED): /n/" + long},
			timed{at + 17, "!!! Exception during processing !!! " + long},
			timed{at + 17, "Traceback (most recent call last):"},
			timed{at + 17, "  File x"}, timed{at + 17, "  File y"}, timed{at + 17, "  File z"},
			timed{at + 17, long},
			timed{at + 18, "100%|██████████| 2/2 [00:00<00:00,  3.30it/s]"},
			timed{at + 19, "Prompt executed in 19.00 seconds"},
		)
	}
	s := tr.Snapshot()
	if len(s.Tail) != 5 || len(s.Prompts) != 4 || len(s.PromptExecuted) != 4 || len(s.Loads) != 4 ||
		len(s.Bars) != 4 || len(s.CustomNodes) != 4 || len(s.ImportFailures) != 4 || len(s.Exceptions) != 2 || len(tr.Gaps(time.Second)) != 3 {
		t.Fatalf("lengths over their bounds: tail %d prompts %d executed %d loads %d bars %d nodes %d failures %d exceptions %d gaps %d",
			len(s.Tail), len(s.Prompts), len(s.PromptExecuted), len(s.Loads), len(s.Bars), len(s.CustomNodes), len(s.ImportFailures), len(s.Exceptions), len(tr.Gaps(time.Second)))
	}
	for _, e := range s.Exceptions {
		if len(e.Traceback) != 3 || len(e.Message) > 64+len("…") {
			t.Errorf("exception not bounded: %d traceback lines, message %d bytes", len(e.Traceback), len(e.Message))
		}
	}
	for _, l := range s.Tail {
		if len(l) > 64+len("…") {
			t.Errorf("tail line of %d bytes", len(l))
		}
	}
	if s.Dropped == 0 {
		t.Error("Dropped = 0, want the records over the caps counted")
	}
	if s.Lines != 200*12 {
		t.Errorf("Lines = %d, want %d: every line counted", s.Lines, 200*12)
	}
}

func TestSnapshotIsACopy(t *testing.T) {
	tr := NewTracker(TrackerOptions{})
	feed(tr, timed{0, "got prompt"}, timed{1, "!!! Exception during processing !!! x"}, timed{1, "Traceback (most recent call last):"}, timed{2, "Prompt executed in 2.00 seconds"})
	a := tr.Snapshot()
	a.Tail[0] = "changed"
	a.PromptExecuted[0] = 99
	a.Exceptions[0].Traceback[0] = "changed"
	a.Prompts[0].Failed = false
	b := tr.Snapshot()
	if b.Tail[0] != "got prompt" || b.PromptExecuted[0] != 2 || b.Exceptions[0].Traceback[0] != "Traceback (most recent call last):" || !b.Prompts[0].Failed {
		t.Errorf("changing a snapshot changed the tracker: %+v", b)
	}
}

func TestTrackerZeroTimes(t *testing.T) {
	tr := NewTracker(TrackerOptions{})
	for _, l := range readLog(t, "testdata/manager_prefixed.log") { // no engine times
		tr.Add(l)
	}
	s := tr.Snapshot()
	if !s.FirstLine.IsZero() || len(tr.Gaps(time.Nanosecond)) != 0 {
		t.Errorf("FirstLine %v gaps %v: want none without times", s.FirstLine, tr.Gaps(time.Nanosecond))
	}
	if len(s.Loads) != 2 || s.Loads[1].Model != "QwenImage" || s.Loads[1].Kind != LoadedPartially || len(s.PromptExecuted) != 1 {
		t.Errorf("loads %+v executed %v", s.Loads, s.PromptExecuted)
	}
}

func TestTrackerConcurrent(t *testing.T) {
	tr := NewTracker(TrackerOptions{TailLines: 10})
	lines := readLog(t, "testdata/v0364_cold_warm.log")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			for _, l := range lines {
				tr.Add(l)
			}
		}
	}()
	for range 200 {
		s := tr.Snapshot()
		if len(s.Tail) > 10 {
			t.Fatalf("tail of %d", len(s.Tail))
		}
		_ = tr.Gaps(0)
	}
	wg.Wait()
	if got, want := tr.Snapshot().Lines, 20*len(lines); got != want {
		t.Errorf("Lines = %d, want %d", got, want)
	}
}

// TestGapLinesAreNotBlank: a silence that a blank line ends (ComfyUI prints one before
// "Import times for custom nodes:" and after "Starting server") is shown with the next line
// that says something, and one that follows a blank line with the last one that did.
func TestGapLinesAreNotBlank(t *testing.T) {
	tr := NewTracker(TrackerOptions{})
	t0 := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	for _, l := range []struct {
		at   time.Duration
		text string
	}{
		{0, "ComfyUI version: 0.21.0"},
		{10 * time.Millisecond, ""},
		{15 * time.Second, ""},
		{15*time.Second + 10*time.Millisecond, "Import times for custom nodes:"},
	} {
		tr.Add(Line{Time: t0.Add(l.at), Stream: "stderr", Text: l.text})
	}
	gaps := tr.Gaps(10 * time.Second)
	if len(gaps) != 1 {
		t.Fatalf("gaps: %+v", gaps)
	}
	if gaps[0].Before != "ComfyUI version: 0.21.0" || gaps[0].After != "Import times for custom nodes:" {
		t.Errorf("gap lines: before %q, after %q", gaps[0].Before, gaps[0].After)
	}
}
