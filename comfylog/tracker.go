package comfylog

import (
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Line is one container log line as the docker package delivers it: the engine's
// timestamp, the stream ("stdout" or "stderr") and the text without the timestamp.
// Partial marks a "\r" update (a tqdm bar redrawing itself) rather than a finished line.
type Line struct {
	Time    time.Time
	Stream  string
	Text    string
	Partial bool
}

// Defaults for [TrackerOptions] fields left zero.
const (
	DefaultTailLines     = 200
	DefaultMaxLineBytes  = 2048
	DefaultMaxRecords    = 10000
	DefaultMaxExceptions = 16
	DefaultMaxTraceback  = 64
	DefaultRecordGap     = time.Second
	DefaultMaxGaps       = 256
	// DefaultGap is the shortest silence [Tracker.Gaps] reports when asked with min ≤ 0.
	DefaultGap = 10 * time.Second
)

// TrackerOptions bound what a [Tracker] keeps. Zero fields take the Default* values.
type TrackerOptions struct {
	TailLines     int           // lines kept for failure reports (Snapshot.Tail)
	MaxLineBytes  int           // longer lines are cut (with "…") in Tail, tracebacks and gaps
	MaxRecords    int           // cap on each list: prompts, loads, bars, custom nodes, PromptExecuted
	MaxExceptions int           // the last N exceptions are kept
	MaxTraceback  int           // traceback lines kept per exception
	RecordGap     time.Duration // the shortest silence remembered for Gaps
	MaxGaps       int           // the longest MaxGaps silences are kept
}

func (o TrackerOptions) withDefaults() TrackerOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.TailLines, DefaultTailLines)
	def(&o.MaxLineBytes, DefaultMaxLineBytes)
	def(&o.MaxRecords, DefaultMaxRecords)
	def(&o.MaxExceptions, DefaultMaxExceptions)
	def(&o.MaxTraceback, DefaultMaxTraceback)
	def(&o.MaxGaps, DefaultMaxGaps)
	if o.RecordGap <= 0 {
		o.RecordGap = DefaultRecordGap
	}
	return o
}

// Prompt is one "got prompt" … "Prompt executed in" span, by log time.
type Prompt struct {
	Got         time.Time // the "got prompt" line
	Done        time.Time // the "Prompt executed in" line; zero while running
	Seconds     float64   // ComfyUI's own figure from "Prompt executed in"
	Invalid     bool      // rejected by validation ("invalid prompt: ..."); never ran
	Failed      bool      // an exception was logged while it ran
	OOM         bool      // "Got an OOM" or an out-of-memory exception while it ran
	Interrupted bool      // "Processing interrupted" while it ran
}

// Load is one model load: "Requested to load X" (Start) and its load-stat line (End).
type Load struct {
	Prompt      int       // index into Snapshot.Prompts of the prompt running then; -1 if none
	Model       string    // model class, e.g. "QwenImage"
	Start       time.Time // "Requested to load"; zero when the stat line came without one
	End         time.Time // the load-stat line; zero while loading
	Kind        Kind      // LoadedCompletely, LoadedPartially or DynamicVRAM; Unknown while loading
	LoadedMB    float64   // MiB loaded onto the GPU (DynamicVRAM: staged)
	UsableMB    float64
	OffloadedMB float64
	FullLoad    bool
}

// Bar is a tqdm progress bar, normally the sampler's.
type Bar struct {
	Prompt  int       // index into Snapshot.Prompts; -1 if none was running
	Desc    string    // text before the percentage, often empty
	Step    int       // last step seen
	Steps   int       // total steps
	ItPerS  float64   // last rate tqdm printed, iterations per second
	Elapsed float64   // seconds since the bar started, as tqdm printed it
	Start   time.Time // log time minus Elapsed at the first update seen
	Updated time.Time // log time of the last update
	Done    bool      // Step reached Steps
}

// CustomNode is one line of the "Import times for custom nodes" (or prestartup) table.
type CustomNode struct {
	Path       string
	Seconds    float64
	Failed     bool
	Prestartup bool // from the "Prestartup times" table
}

// ExceptionRecord is a "!!! Exception during processing !!!" line with the traceback after it.
type ExceptionRecord struct {
	Prompt    int // index into Snapshot.Prompts; -1 if none was running
	Time      time.Time
	Message   string
	Traceback []string
	OOM       bool // the message or traceback names an out-of-memory error, or "Got an OOM" followed
}

// Gap is a silence in the log while ComfyUI was busy (starting, or running a prompt).
type Gap struct {
	Start, End time.Time
	// Before and After are the lines either side of the silence.
	Before, After string
	// During is "startup" (before the server was ready) or "prompt".
	During string
}

// Duration is End − Start.
func (g Gap) Duration() time.Duration { return g.End.Sub(g.Start) }

// Snapshot is a copy of what a [Tracker] has seen. Times are the engine's log times.
type Snapshot struct {
	Lines          int       // lines added, "\r" updates included
	FirstLine      time.Time // the first line with a time
	LastLine       time.Time // the latest line time
	StartingServer time.Time // "Starting server"
	GUIReady       time.Time // the first "To see the GUI go to:"
	FirstPrompt    time.Time // the first "got prompt"
	GUIAddrs       []string  // every "To see the GUI go to:" URL

	ComfyVersion, FrontendVersion, PythonVersion, PytorchVersion string
	Device, VRAMState, Attention                                 string
	TotalVRAMMB, TotalRAMMB                                      float64
	DynamicVRAM                                                  bool // "DynamicVRAM support detected and enabled"

	CustomNodes    []CustomNode
	ImportFailures []string // paths of custom nodes whose import (or prestartup) failed

	Prompts        []Prompt
	PromptExecuted []float64 // "Prompt executed in" figures, in seconds, in log order
	Loads          []Load
	Progress       Bar   // the current or last bar; Steps == 0 when none was seen
	Bars           []Bar // finished or abandoned bars, in order

	Exceptions     []ExceptionRecord // the last TrackerOptions.MaxExceptions
	OOMs           int               // "Got an OOM" lines
	Interrupts     int               // "Processing interrupted" lines
	InvalidPrompts int               // "invalid prompt:" lines
	PortInUse      string            // "address:port" from "Port N is already in use ..."
	ErrorBanner    bool              // a "*** ERROR ***" banner (ComfyUI exits after it)

	Tail    []string // the last TailLines finished lines, oldest first
	Dropped int      // records not kept because a cap was reached
}

// Tracker consumes a ComfyUI log in order and keeps what a report needs, within the
// bounds of its [TrackerOptions]. Add and Snapshot may be called from different goroutines.
type Tracker struct {
	opts TrackerOptions

	mu   sync.Mutex
	s    Snapshot
	tail []string // ring
	head int      // next write position in tail once it is full

	pendingPrompts []int // indices of prompts got but not yet executed, oldest first
	running        int   // prompts got and not yet executed or rejected (even beyond caps)
	pendingLoads   []int // indices of loads requested but without a stat line
	barOpen        bool
	lastGotKept    bool // the latest "got prompt" has a record in Prompts
	inPrestartup   bool

	excOpen    bool // collecting traceback lines for the last exception
	excBlank   bool // a blank line ended the traceback, unless a chained one follows
	ready      bool
	lastTime   time.Time
	lastText   string
	busyAtLast bool
	gaps       []Gap
	pending    Gap  // a silence ended by a progress bar, until the bar shows when it started
	gapOpen    bool // pending is set
	// afterFor is the start of a kept gap that a blank line ended: the next non-blank line
	// becomes its After, which is what a reader wants to see.
	afterFor time.Time
}

// NewTracker returns an empty tracker.
func NewTracker(opts TrackerOptions) *Tracker {
	o := opts.withDefaults()
	return &Tracker{opts: o, tail: make([]string, 0, min(o.TailLines, 256))}
}

// Add takes the next log line. A text with "\r" in it is taken as tqdm updates followed by
// the line that ends them; Partial lines update the progress state and never reach Tail.
func (t *Tracker) Add(l Line) {
	text := strings.TrimSuffix(l.Text, "\n")
	t.mu.Lock()
	defer t.mu.Unlock()
	if strings.IndexByte(text, '\r') < 0 {
		t.add(l.Time, text, l.Partial)
		return
	}
	for {
		i := strings.IndexByte(text, '\r')
		if i < 0 {
			if text != "" {
				t.add(l.Time, text, l.Partial)
			}
			return
		}
		if seg := text[:i]; seg != "" {
			t.add(l.Time, seg, true)
		}
		text = text[i+1:]
	}
}

func (t *Tracker) add(tm time.Time, text string, partial bool) {
	s := &t.s
	s.Lines++
	if !t.afterFor.IsZero() && strings.TrimSpace(text) != "" {
		for i := range t.gaps {
			if t.gaps[i].Start.Equal(t.afterFor) && strings.TrimSpace(t.gaps[i].After) == "" {
				t.gaps[i].After = t.cutLine(text)
			}
		}
		t.afterFor = time.Time{}
	}
	ev := Parse(text)
	if !tm.IsZero() {
		if s.FirstLine.IsZero() {
			s.FirstLine = tm
		}
		t.gap(tm, text, ev)
	}
	if !partial {
		t.pushTail(text)
	}
	if t.excOpen && t.traceback(text, ev) {
		t.bookkeep(tm, text)
		return
	}
	cur := t.current()
	switch ev.Kind {
	case TotalVRAM:
		s.TotalVRAMMB, s.TotalRAMMB = ev.VRAMMB, ev.RAMMB
	case VRAMState:
		s.VRAMState = ev.Detail
	case Device:
		s.Device = ev.Detail
	case PythonVersion:
		s.PythonVersion = ev.Version
	case PytorchVersion:
		s.PytorchVersion = ev.Version
	case ComfyVersion:
		s.ComfyVersion = ev.Version
	case FrontendVersion:
		s.FrontendVersion = ev.Version
	case Attention:
		s.Attention = ev.Detail
	case DynamicVRAMEnabled:
		s.DynamicVRAM = true
	case PrestartupTimesHeader:
		t.inPrestartup = true
	case ImportTimesHeader:
		t.inPrestartup = false
	case CustomNodeImport, CustomNodeImportFailed:
		failed := ev.Kind == CustomNodeImportFailed
		if t.room(len(s.CustomNodes)) {
			s.CustomNodes = append(s.CustomNodes, CustomNode{Path: ev.Path, Seconds: ev.Seconds, Failed: failed, Prestartup: t.inPrestartup})
		}
		if failed && t.room(len(s.ImportFailures)) {
			s.ImportFailures = append(s.ImportFailures, ev.Path)
		}
	case StartingServer:
		if s.StartingServer.IsZero() {
			s.StartingServer = tm
		}
	case GUIReady:
		t.ready = true
		if s.GUIReady.IsZero() {
			s.GUIReady = tm
		}
		if len(s.GUIAddrs) < 16 {
			s.GUIAddrs = append(s.GUIAddrs, ev.Addr)
		}
	case PortInUse:
		s.PortInUse = ev.Addr
	case ErrorBanner:
		s.ErrorBanner = true
	case GotPrompt:
		t.ready = true
		if s.FirstPrompt.IsZero() {
			s.FirstPrompt = tm
		}
		t.running++
		t.lastGotKept = false
		if t.room(len(s.Prompts)) && len(t.pendingPrompts) < t.opts.MaxRecords {
			t.lastGotKept = true
			s.Prompts = append(s.Prompts, Prompt{Got: tm})
			t.pendingPrompts = append(t.pendingPrompts, len(s.Prompts)-1)
		}
	case InvalidPrompt:
		s.InvalidPrompts++
		if t.running > 0 {
			t.running--
		}
		// The rejected prompt is the one just got: validation runs inside the POST.
		if n := len(t.pendingPrompts); n > 0 && t.lastGotKept {
			t.lastGotKept = false
			s.Prompts[t.pendingPrompts[n-1]].Invalid = true
			t.pendingPrompts = t.pendingPrompts[:n-1]
		}
	case PromptExecuted:
		if t.room(len(s.PromptExecuted)) {
			s.PromptExecuted = append(s.PromptExecuted, ev.Seconds)
		}
		if t.running > 0 {
			t.running--
		}
		if cur >= 0 {
			p := &s.Prompts[cur]
			p.Done, p.Seconds = tm, ev.Seconds
			t.pendingPrompts = t.pendingPrompts[1:]
		}
		t.pendingLoads = t.pendingLoads[:0] // a request without a stat line failed
		t.closeBar()
	case RequestedToLoad:
		if t.room(len(s.Loads)) {
			s.Loads = append(s.Loads, Load{Prompt: cur, Model: ev.Model, Start: tm})
			if len(t.pendingLoads) < 64 {
				t.pendingLoads = append(t.pendingLoads, len(s.Loads)-1)
			}
		}
	case LoadedCompletely, LoadedPartially, DynamicVRAM:
		t.loaded(tm, ev, cur)
	case Progress:
		t.progress(tm, ev, cur)
	case Exception:
		p := ExceptionRecord{Prompt: cur, Time: tm, Message: t.cutLine(ev.Detail), OOM: isOOMText(ev.Detail)}
		if len(s.Exceptions) >= t.opts.MaxExceptions {
			s.Exceptions = slices.Delete(s.Exceptions, 0, 1)
			s.Dropped++
		}
		s.Exceptions = append(s.Exceptions, p)
		t.excOpen, t.excBlank = true, false
		if cur >= 0 {
			s.Prompts[cur].Failed = true
			s.Prompts[cur].OOM = s.Prompts[cur].OOM || p.OOM
		}
	case OOM:
		s.OOMs++
		if n := len(s.Exceptions); n > 0 && s.Exceptions[n-1].Prompt == cur {
			s.Exceptions[n-1].OOM = true
		}
		if cur >= 0 {
			s.Prompts[cur].OOM = true
		}
	case Interrupted:
		s.Interrupts++
		if cur >= 0 {
			s.Prompts[cur].Interrupted = true
		}
	}
	t.bookkeep(tm, text)
}

// bookkeep notes the line for the next gap check.
func (t *Tracker) bookkeep(tm time.Time, text string) {
	if tm.IsZero() || tm.Before(t.lastTime) {
		return
	}
	t.lastTime = tm
	if strings.TrimSpace(text) != "" { // a gap's Before is the last line with something on it
		t.lastText = text
	}
	t.busyAtLast = !t.ready || t.running > 0
}

// gap records the silence between the previous line and this one when ComfyUI was busy.
func (t *Tracker) gap(tm time.Time, text string, ev Event) {
	s := &t.s
	if tm.After(s.LastLine) {
		s.LastLine = tm
	}
	if t.gapOpen {
		// The engine stores "\r" updates only when the bar's line ends, so a whole bar can
		// arrive at one time: its own elapsed time was work, not silence. Each update of
		// the bar moves the end of the silence back to when the bar really started.
		if ev.Kind == Progress && t.barOpen && ev.Steps == s.Progress.Steps && ev.Detail == s.Progress.Desc && ev.Step >= s.Progress.Step {
			if end := tm.Add(-seconds(ev.Elapsed)); end.Before(t.pending.End) {
				t.pending.End = end
			}
			return
		}
		t.gapOpen = false
		t.keepGap(t.pending)
	}
	if t.lastTime.IsZero() || !t.busyAtLast {
		return
	}
	// A "got prompt" with nothing running ends an idle wait for the client, not a stall.
	if ev.Kind == GotPrompt && t.running == 0 {
		return
	}
	g := Gap{Start: t.lastTime, End: tm, During: "prompt"}
	if !t.ready {
		g.During = "startup"
	}
	if ev.Kind == Progress {
		g.End = tm.Add(-seconds(ev.Elapsed))
		g.Before, g.After = t.cutLine(t.lastText), t.cutLine(text)
		t.pending, t.gapOpen = g, true
		return
	}
	if g.Duration() < t.opts.RecordGap {
		return
	}
	g.Before, g.After = t.cutLine(t.lastText), t.cutLine(text)
	t.keepGap(g)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// keepGap stores g if it is long enough, keeping the longest MaxGaps.
func (t *Tracker) keepGap(g Gap) {
	if g.Duration() < t.opts.RecordGap {
		return
	}
	g.Before, g.After = t.cutLine(g.Before), t.cutLine(g.After)
	if strings.TrimSpace(g.After) == "" {
		t.afterFor = g.Start
	}
	if len(t.gaps) < t.opts.MaxGaps {
		t.gaps = append(t.gaps, g)
		return
	}
	short := 0
	for i, x := range t.gaps {
		if x.Duration() < t.gaps[short].Duration() {
			short = i
		}
	}
	if g.Duration() > t.gaps[short].Duration() {
		t.gaps[short] = g
	}
}

// traceback takes a line following an exception. It reports false when the traceback
// has ended and the line must be handled as a line of its own.
func (t *Tracker) traceback(text string, ev Event) bool {
	if ev.Kind != Unknown && ev.Kind != Traceback {
		t.excOpen = false
		return false
	}
	trim := strings.TrimSpace(text)
	if trim == "" {
		t.excBlank = true
		return true
	}
	if t.excBlank {
		chained := strings.HasPrefix(trim, "During handling of the above exception") ||
			strings.HasPrefix(trim, "The above exception was the direct cause") || ev.Kind == Traceback
		if !chained {
			t.excOpen = false
			return false
		}
		t.excBlank = false
	}
	e := &t.s.Exceptions[len(t.s.Exceptions)-1]
	if isOOMText(trim) {
		e.OOM = true
		if e.Prompt >= 0 && e.Prompt < len(t.s.Prompts) {
			t.s.Prompts[e.Prompt].OOM = true
		}
	}
	if len(e.Traceback) < t.opts.MaxTraceback {
		e.Traceback = append(e.Traceback, t.cutLine(text))
	} else {
		t.s.Dropped++
	}
	return true
}

func isOOMText(s string) bool {
	return strings.Contains(s, "OutOfMemoryError") || strings.Contains(s, "out of memory") ||
		strings.Contains(s, "Allocation on device")
}

// current is the index of the prompt now running, or -1.
func (t *Tracker) current() int {
	if len(t.pendingPrompts) == 0 {
		return -1
	}
	return t.pendingPrompts[0]
}

func (t *Tracker) loaded(tm time.Time, ev Event, cur int) {
	s := &t.s
	idx := -1
	for i, li := range t.pendingLoads {
		if ev.Kind != DynamicVRAM || s.Loads[li].Model == ev.Model {
			idx = li
			t.pendingLoads = slices.Delete(t.pendingLoads, i, i+1)
			break
		}
	}
	if idx < 0 {
		if !t.room(len(s.Loads)) {
			return
		}
		s.Loads = append(s.Loads, Load{Prompt: cur, Model: ev.Model})
		idx = len(s.Loads) - 1
	}
	l := &s.Loads[idx]
	l.End, l.Kind = tm, ev.Kind
	l.LoadedMB, l.UsableMB, l.OffloadedMB, l.FullLoad = ev.LoadedMB, ev.UsableMB, ev.OffloadedMB, ev.FullLoad
	if l.Model == "" {
		l.Model = ev.Model
	}
}

func (t *Tracker) progress(tm time.Time, ev Event, cur int) {
	b := &t.s.Progress
	same := t.barOpen && b.Steps == ev.Steps && b.Desc == ev.Detail && ev.Step >= b.Step
	if b.Done && !(same && ev.Step == b.Step) {
		same = false
	}
	if !same {
		t.closeBar()
		*b = Bar{Prompt: cur, Desc: ev.Detail, Steps: ev.Steps}
		t.barOpen = true
	}
	// Updates may arrive together (see gap), so the start is the earliest time-minus-elapsed.
	if !tm.IsZero() {
		if st := tm.Add(-seconds(ev.Elapsed)); b.Start.IsZero() || st.Before(b.Start) {
			b.Start = st
		}
	}
	b.Step, b.Elapsed, b.Updated = ev.Step, ev.Elapsed, tm
	if ev.ItPerS > 0 {
		b.ItPerS = ev.ItPerS
	}
	b.Done = ev.Steps > 0 && ev.Step >= ev.Steps
}

// closeBar moves the open bar into Bars.
func (t *Tracker) closeBar() {
	if !t.barOpen {
		return
	}
	t.barOpen = false
	if t.room(len(t.s.Bars)) {
		t.s.Bars = append(t.s.Bars, t.s.Progress)
	}
}

// room says whether a list of length n may grow, counting a drop when not.
func (t *Tracker) room(n int) bool {
	if n < t.opts.MaxRecords {
		return true
	}
	t.s.Dropped++
	return false
}

func (t *Tracker) pushTail(text string) {
	text = t.cutLine(text)
	if len(t.tail) < t.opts.TailLines {
		t.tail = append(t.tail, text)
		return
	}
	t.tail[t.head] = text
	t.head = (t.head + 1) % len(t.tail)
}

// cutLine shortens s to MaxLineBytes on a rune boundary. The result is a copy, so a
// kept line never pins a large buffer of the caller's.
func (t *Tracker) cutLine(s string) string {
	if len(s) <= t.opts.MaxLineBytes {
		return strings.Clone(s)
	}
	n := t.opts.MaxLineBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Snapshot returns a copy of what the tracker has seen so far.
func (t *Tracker) Snapshot() Snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.s
	s.GUIAddrs = slices.Clone(s.GUIAddrs)
	s.CustomNodes = slices.Clone(s.CustomNodes)
	s.ImportFailures = slices.Clone(s.ImportFailures)
	s.Prompts = slices.Clone(s.Prompts)
	s.PromptExecuted = slices.Clone(s.PromptExecuted)
	s.Loads = slices.Clone(s.Loads)
	s.Bars = slices.Clone(s.Bars)
	s.Exceptions = slices.Clone(s.Exceptions)
	for i := range s.Exceptions {
		s.Exceptions[i].Traceback = slices.Clone(s.Exceptions[i].Traceback)
	}
	s.Tail = make([]string, 0, len(t.tail))
	s.Tail = append(s.Tail, t.tail[t.head:]...)
	s.Tail = append(s.Tail, t.tail[:t.head]...)
	return s
}

// Gaps returns the silences of at least min (DefaultGap when min ≤ 0) while ComfyUI was
// busy, in log order. Silences shorter than TrackerOptions.RecordGap are never recorded.
func (t *Tracker) Gaps(min time.Duration) []Gap {
	atLeast := min
	if atLeast <= 0 {
		atLeast = DefaultGap
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	all := t.gaps
	if t.gapOpen {
		all = append(slices.Clip(all), t.pending)
	}
	var out []Gap
	for _, g := range all {
		if g.Duration() >= atLeast {
			out = append(out, g)
		}
	}
	slices.SortStableFunc(out, func(a, b Gap) int { return a.Start.Compare(b.Start) })
	return out
}
