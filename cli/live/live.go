// Package live shows a run's progress on stderr: on a terminal one live area redrawn in
// place that always says where the run is and for how long, finished stages leaving one line
// each; off a terminal plain timestamped lines, at stage changes and at most every few
// seconds during long stages. It renders the events of package lab; lab itself knows nothing
// about terminals.
//
// The terminal part stands on well-kept libraries: github.com/charmbracelet/colorprofile
// decides what the output can do (a terminal? colours? it honours NO_COLOR, CLICOLOR and
// TERM=dumb), github.com/charmbracelet/x/ansi writes the control sequences, measures and
// truncates text by display width and strips the sequences of foreign text, and
// golang.org/x/term reads the terminal's width (again on each redraw, so resizes are
// followed; SIGWINCH redraws at once).
package live

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"golang.org/x/term"

	"github.com/qwenlab/qwenlab/lab"
	"github.com/qwenlab/qwenlab/report"
)

// Mode is how progress is shown.
type Mode uint8

const (
	// Plain writes timestamped lines without control characters (pipes, CI logs, TERM=dumb).
	Plain Mode = iota
	// Live redraws a status area in place (a terminal).
	Live
	// Quiet shows nothing; the summary and errors still come.
	Quiet
)

// Options configure a Display.
type Options struct {
	Mode    Mode
	Color   bool // Live only: colour the marks (off with NO_COLOR)
	Verbose bool // also every container log line and every run's result
	// Width gives the terminal's width in columns (0: unknown, 80 is assumed).
	Width func() int
	// Now is the clock (tests fix it); nil: time.Now.
	Now func() time.Time
	// Every is how often a live area is redrawn (default 200ms); PlainEvery how often a plain
	// status line is written during a long stage (default 5s).
	Every, PlainEvery time.Duration
}

// Detect picks the mode for out (normally os.Stderr) from what it is and the environment
// (NO_COLOR, CLICOLOR, TERM=dumb), with the width read from it when it is a terminal.
func Detect(out io.Writer, environ []string) Options {
	o := Options{Mode: Plain}
	p := colorprofile.Detect(out, environ)
	if p == colorprofile.NoTTY {
		return o
	}
	f, ok := out.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return o // CLICOLOR_FORCE makes colours, not a terminal
	}
	o.Mode = Live
	o.Color = p > colorprofile.Ascii
	fd := int(f.Fd())
	o.Width = func() int {
		w, _, err := term.GetSize(fd)
		if err != nil {
			return 0
		}
		return w
	}
	return o
}

// Display renders lab events on one writer. Its methods are safe for concurrent use.
type Display struct {
	out  io.Writer
	opts Options

	mu sync.Mutex
	// st is what the live area shows, one state per image or engine the events name (""
	// for a single run), in the order they first spoke: a fleet's engines run at once and
	// each keeps its own lines.
	st        map[string]*state
	order     []string
	drawn     int       // lines of the live area now on the screen
	lastPlain time.Time // of the last plain status line
	closed    bool
	stop      chan struct{}
	done      chan struct{}
	winch     func()
}

// state is what the live area shows.
type state struct {
	stage      lab.Stage
	stageText  string
	stageStart time.Time
	cold       int
	image      string
	pull       *lab.PullStatus
	pullStart  time.Time
	lastLog    string
	model      string
	modelStart time.Time
	prompt     lab.Event // the EventPrompt in flight (Run == 0: none)
	promptAt   time.Time
	lastResult string
	node       string
	step, max  int
	stepTimes  []time.Time // of the current sampler's steps
	gpu        *lab.GPUStatus
}

// New starts a display on out; Close ends it.
func New(out io.Writer, o Options) *Display {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Every <= 0 {
		o.Every = 200 * time.Millisecond
	}
	if o.PlainEvery <= 0 {
		o.PlainEvery = 5 * time.Second
	}
	if o.Width == nil {
		o.Width = func() int { return 0 }
	}
	d := &Display{out: out, opts: o, st: map[string]*state{}, stop: make(chan struct{}), done: make(chan struct{})}
	d.lastPlain = o.Now()
	if o.Mode == Quiet {
		close(d.done)
		return d
	}
	redraw := make(chan struct{}, 1)
	if o.Mode == Live {
		d.winch = notifyResize(redraw)
	}
	go d.tick(redraw)
	return d
}

func (d *Display) tick(redraw <-chan struct{}) {
	defer close(d.done)
	every := d.opts.Every
	if d.opts.Mode == Plain {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-redraw:
		case <-t.C:
		}
		d.mu.Lock()
		if !d.closed {
			if d.opts.Mode == Live {
				d.drawArea()
			} else {
				d.plainStatus()
			}
		}
		d.mu.Unlock()
	}
}

// Close clears the live area (the finished stages stay) and stops redrawing.
func (d *Display) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	if d.opts.Mode == Live {
		d.clearArea()
	}
	d.mu.Unlock()
	if d.opts.Mode != Quiet {
		close(d.stop)
	}
	<-d.done
	if d.winch != nil {
		d.winch()
	}
}

// Println writes a line that stays (above the live area), e.g. "report written to …".
// Quiet drops it.
func (d *Display) Println(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.line(s)
}

// Writer returns a writer whose lines become lines that stay (for a helper that writes
// its own progress lines).
func (d *Display) Writer() io.Writer { return lineWriter{d} }

type lineWriter struct{ d *Display }

func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.d.Println(Sanitize(l))
	}
	return len(p), nil
}

// Event takes one lab event; it is lab.Deps.Progress.
func (d *Display) Event(ev lab.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.opts.Mode == Quiet {
		return
	}
	now := d.opts.Now()
	s := d.stateOf(ev.Image)
	pre := label(ev.Image, ev.Cold) // a line names what its own event is about
	if ev.Cold > 0 {
		s.cold = ev.Cold
	}
	switch ev.Kind {
	case lab.EventNote:
		d.line(pre + ev.Text)
	case lab.EventWarning:
		d.line(pre + d.style("warning: ", ansi.Yellow) + ev.Text)
	case lab.EventStage:
		s.stage, s.stageText, s.stageStart = ev.Stage, ev.Text, now
		s.pull, s.node, s.step, s.max, s.stepTimes = nil, "", 0, 0, nil
		s.prompt = lab.Event{}
		if ev.Stage == lab.StagePull {
			s.pullStart = now
		}
		if d.opts.Mode == Plain {
			d.line(pre + ev.String())
		}
	case lab.EventStageDone:
		if d.opts.Mode == Plain {
			d.line(pre + ev.String())
			if s.stage == ev.Stage {
				s.stage = lab.StageNone
			}
			break
		}
		mark := d.style("✓ ", ansi.Green)
		if ev.Text == "failed" {
			mark = d.style("✗ ", ansi.Red)
		}
		line := fmt.Sprintf("%s%s%-20s %8s", mark, pre, ev.Stage, report.HumanSeconds(ev.Elapsed.Seconds()))
		if ev.Text != "" {
			line += "  " + ev.Text
		}
		d.line(line)
		if s.stage == ev.Stage {
			s.stage = lab.StageNone
		}
		if ev.Stage == lab.StageFirstPrompt {
			s.model = ""
		}
	case lab.EventPull:
		p := ev.Pull
		s.pull = &p
	case lab.EventLog:
		text := Sanitize(ev.Text)
		if text != "" {
			s.lastLog = text
		}
		if ev.Model != "" {
			s.model, s.modelStart = Sanitize(ev.Model), now
		}
		if ev.ModelLoaded && s.model != "" {
			d.line(fmt.Sprintf("  %smodel %s loaded in %s", pre, s.model, report.HumanSeconds(now.Sub(s.modelStart).Seconds())))
			s.model = ""
		}
		if d.opts.Verbose {
			d.line(d.style("│ ", ansi.BrightBlack) + text)
		}
	case lab.EventPrompt:
		s.prompt, s.promptAt = ev, now
		s.node, s.step, s.max, s.stepTimes = "", 0, 0, nil
	case lab.EventPromptDone:
		s.lastResult = fmt.Sprintf("%s %d/%d: %s", lab.PromptNoun(ev.Stage), ev.Run, ev.Runs, ev.Text)
		s.prompt = lab.Event{}
		if d.opts.Mode == Plain || d.opts.Verbose || strings.Contains(ev.Text, "failed") {
			d.line(pre + s.lastResult)
		}
	case lab.EventStep:
		if ev.Node != s.node {
			s.node, s.stepTimes = ev.Node, nil
		}
		if ev.Steps > 0 {
			if ev.Step < s.step {
				s.stepTimes = nil
			}
			s.step, s.max = ev.Step, ev.Steps
			s.stepTimes = append(s.stepTimes, now)
		} else {
			s.step, s.max = 0, 0
		}
	case lab.EventGPU:
		g := ev.GPU
		s.gpu = &g
	}
	if d.opts.Mode == Live && ev.Kind != lab.EventGPU && ev.Kind != lab.EventStep && ev.Kind != lab.EventPull && ev.Kind != lab.EventLog {
		d.drawArea() // stage changes show at once; fast streams wait for the tick
	}
}

// stateOf is the state of the image or engine an event is about.
func (d *Display) stateOf(image string) *state {
	s, ok := d.st[image]
	if !ok {
		s = &state{image: image}
		d.st[image] = s
		d.order = append(d.order, image)
	}
	return s
}

// label is "[IMAGE, cold start N] " for a run with several images (or engines) or cold
// starts, "" otherwise.
func label(image string, cold int) string {
	var p []string
	if image != "" {
		p = append(p, image)
	}
	if cold > 0 {
		p = append(p, fmt.Sprintf("cold start %d", cold))
	}
	if len(p) == 0 {
		return ""
	}
	return "[" + strings.Join(p, ", ") + "] "
}

func (d *Display) style(s string, c ansi.BasicColor) string {
	if !d.opts.Color || d.opts.Mode != Live {
		return s
	}
	return ansi.NewStyle().ForegroundColor(c).Styled(s)
}

// status is what the live area says now: for each image or engine in a stage, a block of
// its stage and time, then its detail lines.
func (d *Display) status(now time.Time) [][]string {
	var blocks [][]string
	for _, k := range d.order {
		if b := d.st[k].status(now); len(b) > 0 {
			blocks = append(blocks, b)
		}
	}
	return blocks
}

// status is one image's (or engine's) block: the stage and its time, then detail lines.
func (s *state) status(now time.Time) []string {
	if s.stage == lab.StageNone {
		return nil
	}
	head := fmt.Sprintf("%s%s %s", label(s.image, s.cold), s.stage, clock(now.Sub(s.stageStart)))
	var detail []string
	switch {
	case s.stage == lab.StagePull && s.pull != nil:
		p := *s.pull
		line := lab.Event{Kind: lab.EventPull, Pull: p}.String()
		if el := now.Sub(s.pullStart).Seconds(); el > 0 && p.Current > 0 {
			line += ", " + report.HumanBytes(uint64(float64(p.Current)/el)) + "/s"
		}
		detail = append(detail, line)
	case s.stage == lab.StageWaitServer || s.stage == lab.StageCreate:
		if s.lastLog != "" {
			detail = append(detail, "log: "+s.lastLog)
		}
	}
	if s.prompt.Run > 0 {
		line := fmt.Sprintf("%s %d/%d %s", lab.PromptNoun(s.prompt.Stage), s.prompt.Run, s.prompt.Runs, clock(now.Sub(s.promptAt)))
		if s.node != "" {
			line += "  node " + s.node
		}
		if s.max > 0 {
			line += fmt.Sprintf("  step %d/%d", s.step, s.max)
			if r := rate(s.stepTimes); r > 0 {
				line += fmt.Sprintf("  %.2f it/s", r)
			}
		}
		detail = append(detail, line)
	}
	if s.model != "" && s.stage == lab.StageFirstPrompt {
		detail = append(detail, fmt.Sprintf("loading model %s %s", s.model, clock(now.Sub(s.modelStart))))
	}
	if s.stage == lab.StageWarm || s.stage == lab.StageWarmup {
		if s.lastResult != "" {
			detail = append(detail, "last: "+s.lastResult)
		}
	}
	if s.gpu != nil {
		if g := s.gpu.String(); g != "" && s.stage >= lab.StageFirstPrompt {
			detail = append(detail, "GPU "+g)
		}
	}
	return append([]string{head}, detail...)
}

// clock is an elapsed time as a ticking display shows it: "4.2s", "1m05s".
func clock(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// rate is the step rate over the last steps (up to 10), in steps per second.
func rate(ts []time.Time) float64 {
	if len(ts) < 2 {
		return 0
	}
	first := max(len(ts)-11, 0)
	el := ts[len(ts)-1].Sub(ts[first]).Seconds()
	if el <= 0 {
		return 0
	}
	return float64(len(ts)-1-first) / el
}

func (d *Display) width() int {
	w := d.opts.Width()
	if w <= 0 {
		w = 80
	}
	return w
}

// clearArea erases the live area; the cursor ends at the start of its first line.
func (d *Display) clearArea() {
	if d.drawn == 0 {
		return
	}
	var b strings.Builder
	b.WriteString("\r")
	if d.drawn > 1 {
		b.WriteString(ansi.CursorUp(d.drawn - 1))
	}
	b.WriteString(ansi.EraseScreenBelow)
	io.WriteString(d.out, b.String())
	d.drawn = 0
}

// drawArea redraws the live area in place. Each line is cut to the terminal's width less one
// column, so that no line wraps and the area's height is known.
func (d *Display) drawArea() {
	blocks := d.status(d.opts.Now())
	if len(blocks) == 0 && d.drawn == 0 {
		return
	}
	w := d.width()
	var b strings.Builder
	b.WriteString("\r")
	if d.drawn > 1 {
		b.WriteString(ansi.CursorUp(d.drawn - 1))
	}
	b.WriteString(ansi.EraseScreenBelow)
	n := 0
	for _, lines := range blocks {
		for i, l := range lines {
			if n > 0 {
				b.WriteString("\r\n")
			}
			if i > 0 {
				l = "  " + l
			} else {
				l = d.style("● ", ansi.Cyan) + l
			}
			b.WriteString(ansi.Truncate(l, w-1, "…"))
			n++
		}
	}
	io.WriteString(d.out, b.String())
	d.drawn = n
}

// line writes a line that stays. In Live mode it goes above the live area.
func (d *Display) line(s string) {
	switch d.opts.Mode {
	case Quiet:
		return
	case Plain:
		d.lastPlain = d.opts.Now()
		fmt.Fprintf(d.out, "%s %s\n", d.lastPlain.Format("15:04:05"), ansi.Strip(s))
		return
	}
	if d.closed {
		fmt.Fprintln(d.out, s)
		return
	}
	d.clearArea()
	fmt.Fprintf(d.out, "%s\n", s)
	d.drawArea()
}

// plainStatus writes the live area's content as one plain line when a stage has gone on
// for a while without a line.
func (d *Display) plainStatus() {
	now := d.opts.Now()
	if now.Sub(d.lastPlain) < d.opts.PlainEvery {
		return
	}
	blocks := d.status(now)
	for _, lines := range blocks {
		d.line(strings.Join(lines, "; "))
	}
}

// Sanitize makes foreign text (a container's log line) harmless on a terminal: what a
// carriage return overwrote goes, escape sequences are stripped and other control
// characters shown as ^X.
func Sanitize(s string) string {
	if i := strings.LastIndexByte(strings.TrimRight(s, "\r\n"), '\r'); i >= 0 {
		s = s[i+1:]
	}
	s = ansi.Strip(strings.TrimRight(s, "\r\n"))
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case r < 0x20:
			b.WriteByte('^')
			b.WriteRune(r + '@')
		case r == 0x7f:
			b.WriteString("^?")
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
