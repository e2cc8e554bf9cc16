package live

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/qwenlab/qwenlab/lab"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuf is a buffer safe for the display's ticker and the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var controls = regexp.MustCompile(`[\x00-\x09\x0b-\x1f\x7f]`)

func TestPlainLines(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)}
	var out syncBuf
	// The ticker would write status lines on its own schedule; a long PlainEvery keeps it out
	// until the test moves the clock.
	d := New(&out, Options{Mode: Plain, Now: clk.now, PlainEvery: 5 * time.Second})
	d.Event(lab.Event{Kind: lab.EventStage, Stage: lab.StageWarm})
	d.Event(lab.Event{Kind: lab.EventPrompt, Stage: lab.StageWarm, Run: 3, Runs: 10})
	d.Event(lab.Event{Kind: lab.EventStep, Node: "3 KSampler", Step: 17, Steps: 25})
	d.Event(lab.Event{Kind: lab.EventLog, Text: "\x1b[31mred\x1b[0m 50%|███\r 60%|████"})
	clk.add(6 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "step 17/25") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	d.Event(lab.Event{Kind: lab.EventPromptDone, Stage: lab.StageWarm, Run: 3, Runs: 10, Text: "e2e 2.50 s"})
	d.Event(lab.Event{Kind: lab.EventStageDone, Stage: lab.StageWarm, Elapsed: 90 * time.Second})
	d.Close()
	got := out.String()
	for _, want := range []string{
		"10:00:00 warm runs\n",
		"10:00:06 warm runs 6.0s; run 3/10 6.0s  node 3 KSampler  step 17/25\n",
		"10:00:06 run 3/10: e2e 2.50 s\n",
		"10:00:06 warm runs done in 1m30s\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plain output lacks %q:\n%s", want, got)
		}
	}
	if controls.MatchString(got) {
		t.Errorf("plain output holds control characters: %q", got)
	}
	if strings.Contains(got, "60%") {
		t.Errorf("log lines are shown without --verbose: %q", got)
	}
}

func TestPlainStatusAtMostEveryFewSeconds(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)}
	var out syncBuf
	d := New(&out, Options{Mode: Plain, Now: clk.now, PlainEvery: 5 * time.Second})
	d.Event(lab.Event{Kind: lab.EventStage, Stage: lab.StagePull, Text: "img:1"})
	for i := 1; i <= 20; i++ {
		d.Event(lab.Event{Kind: lab.EventPull, Pull: lab.PullStatus{Layers: 2, Current: int64(i) << 20, Total: 20 << 20}})
		clk.add(time.Second)
		time.Sleep(30 * time.Millisecond) // let the ticker (1s of real time) see some of it
	}
	time.Sleep(1200 * time.Millisecond)
	d.Close()
	var stamps []time.Time
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		ts, err := time.Parse("15:04:05", l[:8])
		if err != nil {
			t.Fatalf("line without a timestamp: %q", l)
		}
		stamps = append(stamps, ts)
	}
	for i := 1; i < len(stamps); i++ {
		if stamps[i].Sub(stamps[i-1]) < 5*time.Second {
			t.Errorf("status lines %s apart (want ≥ 5s):\n%s", stamps[i].Sub(stamps[i-1]), out.String())
		}
	}
	if !strings.Contains(out.String(), "pulling") || !strings.Contains(out.String(), "MiB / 20.0 MiB") {
		t.Errorf("no pull status line:\n%s", out.String())
	}
}

// screen replays what the display wrote on a minimal terminal model (cursor up, erase below,
// carriage return, newline), enough to tell what a person sees.
func screen(s string) []string {
	var lines []string
	row := 0
	cur := func() *string {
		for len(lines) <= row {
			lines = append(lines, "")
		}
		return &lines[row]
	}
	up := regexp.MustCompile(`^\x1b\[(\d*)A`)
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, "\x1b[J"):
			lines = lines[:min(row+1, len(lines))]
			*cur() = ""
			s = s[3:]
		case up.MatchString(s):
			m := up.FindStringSubmatch(s)
			n := 1
			if m[1] != "" {
				n = int(m[1][0] - '0')
				if len(m[1]) > 1 {
					n = 0
					for _, c := range m[1] {
						n = n*10 + int(c-'0')
					}
				}
			}
			row = max(row-n, 0)
			s = s[len(m[0]):]
		case s[0] == '\r':
			s = s[1:]
		case s[0] == '\n':
			row++
			cur()
			s = s[1:]
		default:
			i := strings.IndexAny(s, "\r\n\x1b")
			if i < 0 {
				i = len(s)
			}
			if i == 0 { // another sequence: drop it
				j := 1
				for j < len(s) && !(s[j] >= '@' && s[j] <= '~' && s[j] != '[') {
					j++
				}
				s = s[min(j+1, len(s)):]
				continue
			}
			*cur() += s[:i]
			s = s[i:]
		}
	}
	return lines
}

func TestLiveAreaRedrawnInPlace(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	var out syncBuf
	d := New(&out, Options{Mode: Live, Now: clk.now, Width: func() int { return 60 }, Every: time.Hour})
	d.Event(lab.Event{Kind: lab.EventStage, Stage: lab.StageWaitServer, Text: "http://127.0.0.1:1"})
	d.Event(lab.Event{Kind: lab.EventLog, Text: "Starting server"})
	clk.add(2 * time.Second)
	d.Event(lab.Event{Kind: lab.EventStageDone, Stage: lab.StageWaitServer, Elapsed: 2 * time.Second})
	d.Event(lab.Event{Kind: lab.EventStage, Stage: lab.StageWarm})
	for i := 1; i <= 3; i++ {
		d.Event(lab.Event{Kind: lab.EventPrompt, Stage: lab.StageWarm, Run: i, Runs: 3})
		for k := 1; k <= 25; k++ {
			clk.add(100 * time.Millisecond)
			d.Event(lab.Event{Kind: lab.EventStep, Node: "3 KSampler", Step: k, Steps: 25})
		}
		d.Event(lab.Event{Kind: lab.EventGPU, GPU: lab.GPUStatus{VRAMUsed: 40 << 30, VRAMTotal: 80 << 30, HasVRAM: true, UtilPct: 97, HasUtil: true}})
		d.Event(lab.Event{Kind: lab.EventPromptDone, Stage: lab.StageWarm, Run: i, Runs: 3, Text: "e2e 2.50 s"})
	}
	d.Event(lab.Event{Kind: lab.EventPrompt, Stage: lab.StageWarm, Run: 3, Runs: 3})
	d.Event(lab.Event{Kind: lab.EventStep, Node: "3 KSampler", Step: 17, Steps: 25})
	d.mu.Lock()
	d.drawArea()
	d.mu.Unlock()
	got := screen(out.String())
	want := []string{
		"✓ waiting for ComfyUI    2.00 s",
		"● warm runs 7.5s",
		"  run 3/3 0.0s  node 3 KSampler  step 17/25",
		"  last: run 3/3: e2e 2.50 s",
		"  GPU VRAM 40.0 GiB / 80.0 GiB, util 97%",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s\nraw: %q", strings.Join(got, "\n"), strings.Join(want, "\n"), out.String())
	}
	d.Close()
	got = screen(out.String())
	if strings.TrimRight(strings.Join(got, "\n"), "\n") != want[0] {
		t.Errorf("after Close the screen holds\n%s\nwant only the finished stage", strings.Join(got, "\n"))
	}
}

func TestLiveLinesFitTheWidth(t *testing.T) {
	w := 40
	var out syncBuf
	d := New(&out, Options{Mode: Live, Width: func() int { return w }, Every: time.Hour})
	d.Event(lab.Event{Kind: lab.EventStage, Stage: lab.StageWaitServer})
	d.Event(lab.Event{Kind: lab.EventLog, Text: strings.Repeat("a very long log line ", 10)})
	w = 25 // a resize: the next redraw follows it
	d.mu.Lock()
	d.drawArea()
	d.mu.Unlock()
	raw := out.String()
	last := raw[strings.LastIndex(raw, "\x1b[J")+3:]
	for _, l := range strings.Split(last, "\r\n") {
		if n := ansi.StringWidth(l); n > w-1 {
			t.Errorf("line %q is %d columns wide on a %d-column terminal", l, n, w)
		}
	}
	d.Close()
}

func TestQuietShowsNothing(t *testing.T) {
	var out syncBuf
	d := New(&out, Options{Mode: Quiet})
	d.Event(lab.Event{Kind: lab.EventStage, Stage: lab.StageWarm})
	d.Event(lab.Event{Kind: lab.EventWarning, Text: "w"})
	d.Println("report written")
	d.Close()
	if out.String() != "" {
		t.Errorf("--quiet wrote %q", out.String())
	}
}

func TestVerboseStreamsLogLinesHarmlessly(t *testing.T) {
	var out syncBuf
	d := New(&out, Options{Mode: Plain, Verbose: true})
	d.Event(lab.Event{Kind: lab.EventLog, Text: "token <redacted>\x1b]0;pwned\x07 bell\x07 \x1b[2Jclear"})
	d.Close()
	got := out.String()
	if !strings.Contains(got, "token <redacted>") || controls.MatchString(got) {
		t.Errorf("verbose log line %q", got)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                "plain",
		"\x1b[32mgreen\x1b[0m": "green",
		" 10%|█\r 20%|██\r 30%|███\r\n": " 30%|███",
		"bell\x07":  "bell^G",
		"tab\there": "tab here",
		"c1\u009bx": "c1\\u009bx",
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDetectOffATerminal(t *testing.T) {
	var b bytes.Buffer
	if o := Detect(&b, []string{"TERM=xterm-256color"}); o.Mode != Plain {
		t.Errorf("a buffer: mode %v, want Plain", o.Mode)
	}
}

// A fleet's engines run at once: each keeps its own block in the live area, in the order they
// first spoke, and one finishing leaves the other's block standing.
func TestLiveAreaOneBlockPerEngine(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	var out syncBuf
	d := New(&out, Options{Mode: Live, Now: clk.now, Width: func() int { return 70 }, Every: time.Hour})
	const a, b = "ssh://gpu1", "ssh://gpu2"
	d.Event(lab.Event{Kind: lab.EventStage, Stage: lab.StageWaitServer, Image: a})
	d.Event(lab.Event{Kind: lab.EventStage, Stage: lab.StageWarm, Image: b})
	d.Event(lab.Event{Kind: lab.EventPrompt, Stage: lab.StageWarm, Run: 2, Runs: 10, Image: b})
	clk.add(3 * time.Second)
	d.Event(lab.Event{Kind: lab.EventLog, Text: "Starting server", Image: a})
	d.Event(lab.Event{Kind: lab.EventStep, Node: "3 KSampler", Step: 5, Steps: 20, Image: b})
	d.mu.Lock()
	d.drawArea()
	d.mu.Unlock()
	want := []string{
		"● [ssh://gpu1] waiting for ComfyUI 3.0s",
		"  log: Starting server",
		"● [ssh://gpu2] warm runs 3.0s",
		"  run 2/10 3.0s  node 3 KSampler  step 5/20",
	}
	if got := screen(out.String()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	d.Event(lab.Event{Kind: lab.EventStageDone, Stage: lab.StageWarm, Elapsed: 3 * time.Second, Image: b})
	want = []string{
		"✓ [ssh://gpu2] warm runs              3.00 s",
		"● [ssh://gpu1] waiting for ComfyUI 3.0s",
		"  log: Starting server",
	}
	if got := screen(out.String()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after one engine's stage ended:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	d.Close()
}
