package comfylog

import (
	"math"
	"strconv"
	"strings"
)

// Event is one parsed log line. Only the fields that belong to its Kind are set.
type Event struct {
	Kind Kind
	// Line is the text given to Parse, unchanged.
	Line string
	// Model is the model class: RequestedToLoad ("QwenImage") and DynamicVRAM.
	Model string
	// LoadedMB, UsableMB, OffloadedMB and BufferMB are the load-stat figures, in MiB as
	// ComfyUI prints them. For the ≤0.3.67 numeric form UsableMB is the first number (the
	// memory budget; 9.5367431640625e+25 means "no limit"). For DynamicVRAM LoadedMB is the
	// staged size. A figure the line does not carry is 0.
	LoadedMB, UsableMB, OffloadedMB, BufferMB float64
	// FullLoad is "full load: True" (or the ≤0.3.67 trailing True).
	FullLoad bool
	// Patches is the lowvram patch count of a load-stat line, or DynamicVRAM's "N patches attached".
	Patches int
	// Seconds is PromptExecuted's time (both "N.NN seconds" and "HH:MM:SS") and a
	// CustomNodeImport(Failed) line's import time.
	Seconds float64
	// Step and Steps are a Progress bar's position ("1/25"); ItPerS its rate in iterations
	// per second (a "1.25s/it" rate is inverted; 0 when tqdm printed "?it/s"); Elapsed the
	// seconds since the bar started, from "[00:01<00:30, ...]".
	Step, Steps int
	ItPerS      float64
	Elapsed     float64
	// Path is the custom node's path (CustomNodeImport, CustomNodeImportFailed).
	Path string
	// VRAMMB and RAMMB are TotalVRAM's figures, in MiB.
	VRAMMB, RAMMB float64
	// Version is the version of ComfyVersion, PythonVersion ("3.12.3"), PytorchVersion and
	// FrontendVersion.
	Version string
	// Addr is GUIReady's URL ("http://0.0.0.0:8188") or PortInUse's "address:port".
	Addr string
	// Count is ModelsUnloaded's number of models.
	Count int
	// Detail is the rest of the line where it matters: the VRAM state, the device, the
	// attention backend, the cache mode, the model type or dtype, an exception's message,
	// an invalid prompt's error text, a Progress bar's description, "IMPORT FAILED" or
	// "PRESTARTUP FAILED", the output id of ValidationFailed.
	Detail string
}

// Parse reads one ComfyUI log line. It never fails: a line it does not recognise is an
// Event of Kind Unknown. Trailing "\n" is ignored; a line holding several "\r" tqdm
// updates is read by its last one. Prefixes that log files add ("[2025-01-15
// 10:20:30.123] ", "2025-01-15 10:20:30,123 - root - INFO - ", "comfyui-1  | ") are skipped.
func Parse(line string) Event {
	ev := Event{Line: line}
	text := lastSegment(line)
	body := strings.TrimLeft(stripPrefix(text), " \t")
	if body == "" {
		return ev
	}
	if parseBody(&ev, body) {
		return ev
	}
	// Not recognised at the start: look for a distinctive marker further in, after a
	// prefix we do not know. The character before it must end a prefix, so that code
	// such as logging.info("got prompt") in a traceback is not taken for the real line.
	for _, m := range anywhere {
		i := strings.Index(body, m)
		if i > 0 && isBoundary(body[i-1]) {
			ev = Event{Line: line}
			if parseBody(&ev, body[i:]) {
				return ev
			}
		}
	}
	if i := strings.Index(body, " seconds"); i > 0 {
		j := i
		for j > 0 && (isDigit(body[j-1]) || body[j-1] == '.') {
			j--
		}
		if j < i && j > 0 && isBoundary(body[j-1]) {
			ev = Event{Line: line}
			if parseBody(&ev, body[j:]) {
				return ev
			}
		}
	}
	return Event{Line: line}
}

// anywhere are the markers looked for past an unknown prefix.
var anywhere = []string{
	"got prompt", "Prompt executed in ", "Requested to load ", "loaded completely", "loaded partially",
	"Model ", "To see the GUI go to: ", "Starting server", "!!! Exception during processing",
	"Got an OOM", "Processing interrupted", "invalid prompt: ", "Total VRAM ", "ComfyUI version: ",
	"Import times for custom nodes", "Port ", "Traceback (most recent call last)",
}

func isBoundary(c byte) bool {
	switch c {
	case ' ', '\t', ']', '|', '-', ':', '>':
		return true
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// lastSegment drops a trailing newline and, for "\r" updates, keeps the last non-empty one.
func lastSegment(s string) string {
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimRight(s, "\r")
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// parseBody matches a line whose prefix has been removed and leading blanks trimmed.
func parseBody(ev *Event, b string) bool {
	switch b[0] {
	case 'g':
		if rest, ok := cut(b, "got prompt"); ok && strings.TrimSpace(rest) == "" {
			ev.Kind = GotPrompt
			return true
		}
	case 'G':
		if strings.HasPrefix(b, "Got an OOM") {
			ev.Kind = OOM
			return true
		}
		if strings.HasPrefix(b, "Global interrupt") {
			ev.Kind = InterruptRequested
			return true
		}
	case 'P':
		if rest, ok := cut(b, "Prompt executed in "); ok {
			return parseExecuted(ev, strings.TrimSpace(rest))
		}
		if rest, ok := cut(b, "Python version: "); ok {
			ev.Kind, ev.Version, ev.Detail = PythonVersion, firstField(rest), strings.TrimSpace(rest)
			return ev.Version != ""
		}
		if strings.HasPrefix(b, "Processing interrupted") {
			ev.Kind = Interrupted
			return true
		}
		if strings.HasPrefix(b, "Prestartup times for custom nodes") {
			ev.Kind = PrestartupTimesHeader
			return true
		}
		if rest, ok := cut(b, "Port "); ok {
			return parsePortInUse(ev, rest)
		}
		if strings.HasPrefix(b, "Prompt ") && strings.Contains(b, " is not currently running, skipping interrupt") {
			ev.Kind, ev.Detail = InterruptRequested, "skipped"
			return true
		}
	case 'R':
		if rest, ok := cut(b, "Requested to load "); ok {
			ev.Kind, ev.Model = RequestedToLoad, strings.TrimSpace(rest)
			return ev.Model != ""
		}
	case 'l':
		if rest, ok := cut(b, "loaded completely"); ok && loadStatRest(rest) {
			ev.Kind = LoadedCompletely
			parseLoadStat(ev, rest)
			return true
		}
		if rest, ok := cut(b, "loaded partially"); ok && loadStatRest(rest) {
			ev.Kind = LoadedPartially
			parseLoadStat(ev, rest)
			return true
		}
	case 'M':
		if strings.HasPrefix(b, "Model ") {
			return parseDynamic(ev, b)
		}
	case 'T':
		if rest, ok := cut(b, "Total VRAM "); ok {
			return parseTotalVRAM(ev, rest)
		}
		if rest, ok := cut(b, "To see the GUI go to: "); ok {
			ev.Kind, ev.Addr = GUIReady, strings.TrimSpace(rest)
			return ev.Addr != ""
		}
		if strings.HasPrefix(b, "Traceback (most recent call last)") {
			ev.Kind = Traceback
			return true
		}
	case 'S':
		if rest, ok := cut(b, "Starting server"); ok && strings.TrimSpace(rest) == "" {
			ev.Kind = StartingServer
			return true
		}
		if rest, ok := cut(b, "Set vram state to: "); ok {
			ev.Kind, ev.Detail = VRAMState, strings.TrimSpace(rest)
			return ev.Detail != ""
		}
	case 'D':
		if rest, ok := cut(b, "Device: "); ok {
			ev.Kind, ev.Detail = Device, strings.TrimSpace(rest)
			return ev.Detail != ""
		}
		if strings.HasPrefix(b, "DynamicVRAM support detected") {
			ev.Kind = DynamicVRAMEnabled
			return true
		}
		if strings.HasPrefix(b, "Disabling smart memory management") {
			ev.Kind = SmartMemoryDisabled
			return true
		}
		if strings.HasPrefix(b, "Disabling intermediate node cache") {
			ev.Kind, ev.Detail = CacheMode, "none"
			return true
		}
	case 'C':
		if rest, ok := cut(b, "ComfyUI version: "); ok {
			ev.Kind, ev.Version = ComfyVersion, firstField(rest)
			return ev.Version != ""
		}
		if rest, ok := cut(b, "ComfyUI frontend version: "); ok {
			ev.Kind, ev.Version = FrontendVersion, firstField(rest)
			return ev.Version != ""
		}
	case 'p':
		if rest, ok := cut(b, "pytorch version: "); ok {
			ev.Kind, ev.Version = PytorchVersion, firstField(rest)
			return ev.Version != ""
		}
	case 'U':
		if rest, ok := cut(b, "Using "); ok {
			switch {
			case strings.HasPrefix(rest, "LRU cache"):
				ev.Kind, ev.Detail = CacheMode, "lru"
				return true
			case strings.HasPrefix(rest, "RAM pressure cache"):
				ev.Kind, ev.Detail = CacheMode, "ram"
				return true
			case strings.HasSuffix(strings.TrimSpace(rest), " in VAE"):
				return false // "Using pytorch attention in VAE": the VAE's own choice
			case indexFold(rest, " attention") >= 0:
				ev.Kind, ev.Detail = Attention, attentionName(rest)
				return true
			}
		}
	case 'I':
		if strings.HasPrefix(b, "Import times for custom nodes") {
			ev.Kind = ImportTimesHeader
			return true
		}
	case 'i':
		if rest, ok := cut(b, "invalid prompt: "); ok {
			ev.Kind, ev.Detail = InvalidPrompt, strings.TrimSpace(rest)
			return true
		}
	case 'F':
		if rest, ok := cut(b, "Failed to validate prompt for output "); ok {
			ev.Kind, ev.Detail = ValidationFailed, strings.TrimSuffix(strings.TrimSpace(rest), ":")
			return true
		}
	case '!':
		if rest, ok := cut(b, "!!! Exception during processing"); ok {
			rest = strings.TrimLeft(rest, " ")
			rest = strings.TrimPrefix(rest, "!!!")
			ev.Kind, ev.Detail = Exception, strings.TrimSpace(rest)
			return true
		}
	case '*':
		if strings.Trim(b, "* \t") == "ERROR" {
			ev.Kind = ErrorBanner
			return true
		}
	case 'm':
		if rest, ok := cut(b, "model_type "); ok {
			ev.Kind, ev.Detail = ModelType, strings.TrimSpace(rest)
			return ev.Detail != ""
		}
		if rest, ok := cut(b, "model weight dtype "); ok {
			ev.Kind, ev.Detail = WeightDtype, strings.TrimSpace(rest)
			return ev.Detail != ""
		}
	}
	if isDigit(b[0]) || b[0] == '.' {
		if parseUnloaded(ev, b) || parseImport(ev, b) {
			return true
		}
	}
	return parseProgress(ev, b)
}

// cut is strings.CutPrefix.
func cut(s, prefix string) (string, bool) { return strings.CutPrefix(s, prefix) }

func firstField(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

// num parses a finite, non-negative decimal number ("12.34", "9.5367431640625e+25").
func num(s string) (float64, bool) {
	if s == "" || !(isDigit(s[0]) || s[0] == '.') {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

// count parses a non-negative int.
func count(s string) (int, bool) {
	if s == "" || !isDigit(s[0]) {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	return v, err == nil
}

func parseExecuted(ev *Event, rest string) bool {
	if v, ok := strings.CutSuffix(rest, " seconds"); ok {
		s, ok := num(strings.TrimSpace(v))
		if !ok {
			return false
		}
		ev.Kind, ev.Seconds = PromptExecuted, s
		return true
	}
	if s, ok := clock(rest); ok {
		ev.Kind, ev.Seconds = PromptExecuted, s
		return true
	}
	return false
}

// clock parses "SS", "MM:SS" or "H:MM:SS" into seconds.
func clock(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	var total float64
	parts := 0
	for s != "" {
		if parts == 3 {
			return 0, false
		}
		field := s
		if i := strings.IndexByte(s, ':'); i >= 0 {
			field, s = s[:i], s[i+1:]
			if s == "" {
				return 0, false
			}
		} else {
			s = ""
		}
		v, ok := num(field)
		if !ok {
			return 0, false
		}
		total = total*60 + v
		parts++
	}
	return total, true
}

func parsePortInUse(ev *Event, rest string) bool {
	port, after, ok := strings.Cut(rest, " is already in use on address ")
	if !ok {
		return false
	}
	if _, ok := count(port); !ok {
		return false
	}
	addr := after
	if i := strings.Index(after, ". "); i >= 0 {
		addr = after[:i]
	}
	addr = strings.TrimSuffix(strings.TrimSpace(addr), ".")
	if strings.Contains(addr, ":") && !strings.HasPrefix(addr, "[") {
		addr = "[" + addr + "]"
	}
	ev.Kind, ev.Addr = PortInUse, addr+":"+port
	return true
}

// loadStatRest says whether what follows "loaded completely" belongs to a load-stat line.
func loadStatRest(rest string) bool {
	return rest == "" || rest[0] == ' ' || rest[0] == ';'
}

// parseLoadStat reads the three load-stat formats; see the package comment.
func parseLoadStat(ev *Event, rest string) {
	if r, ok := cut(rest, ";"); ok {
		// 0.3.68 and later: "; X MB usable, Y MB loaded, Z MB offloaded, B MB buffer reserved, lowvram patches: N"
		// or "; X MB usable, Y MB loaded, full load: True" (≥0.8.1 may omit "X MB usable,").
		for part := range strings.SplitSeq(r, ",") {
			part = strings.TrimSpace(part)
			if v, ok := cut(part, "full load:"); ok {
				ev.FullLoad = strings.TrimSpace(v) == "True"
				continue
			}
			if v, ok := cut(part, "lowvram patches:"); ok {
				ev.Patches, _ = count(strings.TrimSpace(v))
				continue
			}
			n, unit, ok := strings.Cut(part, " MB ")
			if !ok {
				continue
			}
			v, ok := num(strings.TrimSpace(n))
			if !ok {
				continue
			}
			switch strings.TrimSpace(unit) {
			case "usable":
				ev.UsableMB = v
			case "loaded":
				ev.LoadedMB = v
			case "offloaded":
				ev.OffloadedMB = v
			case "buffer reserved":
				ev.BufferMB = v
			}
		}
		return
	}
	// ≤ 0.3.67: "loaded completely <budget> <loaded> <True|False>", "loaded partially <budget> <loaded> <patches>".
	f := strings.Fields(rest)
	if len(f) >= 1 {
		ev.UsableMB, _ = num(f[0])
	}
	if len(f) >= 2 {
		ev.LoadedMB, _ = num(f[1])
	}
	if len(f) >= 3 {
		if ev.Kind == LoadedCompletely {
			ev.FullLoad = f[2] == "True"
		} else {
			ev.Patches, _ = count(f[2])
		}
	}
}

// parseDynamic reads "Model QwenImage prepared for dynamic VRAM loading. 19500MB Staged. 0 patches attached."
func parseDynamic(ev *Event, b string) bool {
	model, rest, ok := strings.Cut(strings.TrimPrefix(b, "Model "), " prepared for dynamic VRAM loading")
	model = strings.TrimSpace(model)
	if !ok || model == "" || strings.ContainsAny(model, " \t") {
		return false
	}
	ev.Kind, ev.Model = DynamicVRAM, model
	for part := range strings.SplitSeq(rest, ".") {
		part = strings.TrimSpace(part)
		if v, ok := strings.CutSuffix(part, "MB Staged"); ok {
			ev.LoadedMB, _ = num(strings.TrimSpace(v))
		} else if v, ok := strings.CutSuffix(part, " patches attached"); ok {
			ev.Patches, _ = count(strings.TrimSpace(v))
		}
	}
	return true
}

// parseTotalVRAM reads "81079 MB, total RAM 2051800 MB".
func parseTotalVRAM(ev *Event, rest string) bool {
	vram, ram, _ := strings.Cut(rest, ",")
	v, ok := num(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(vram), "MB")))
	if !ok {
		return false
	}
	ev.Kind, ev.VRAMMB = TotalVRAM, v
	if r, ok := cut(strings.TrimSpace(ram), "total RAM "); ok {
		ev.RAMMB, _ = num(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(r), "MB")))
	}
	return true
}

// attentionName reads the backend from "pytorch attention", "Flash Attention",
// "split optimization for attention, ...".
func attentionName(rest string) string {
	rest = strings.TrimSpace(rest)
	if i := strings.Index(rest, " optimization for attention"); i >= 0 {
		return rest[:i]
	}
	if i := indexFold(rest, " attention"); i >= 0 {
		return rest[:i]
	}
	return rest
}

// indexFold is strings.Index ignoring ASCII case; sub must be lower case. Unlike
// strings.ToLower it never changes byte offsets, whatever the bytes.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
			j++
		}
		if j == len(sub) {
			return i
		}
	}
	return -1
}

// parseUnloaded reads "2 models unloaded."
func parseUnloaded(ev *Event, b string) bool {
	n, rest, ok := strings.Cut(b, " ")
	if !ok {
		return false
	}
	c, ok := count(n)
	if !ok || !(strings.HasPrefix(rest, "models unloaded") || strings.HasPrefix(rest, "model unloaded")) {
		return false
	}
	ev.Kind, ev.Count = ModelsUnloaded, c
	return true
}

// parseImport reads "0.0 seconds: /path" and "0.1 seconds (IMPORT FAILED): /path".
func parseImport(ev *Event, b string) bool {
	n, rest, ok := strings.Cut(b, " seconds")
	if !ok {
		return false
	}
	secs, ok := num(n)
	if !ok {
		return false
	}
	var failed string
	if r, ok := cut(rest, " ("); ok {
		f, r2, ok := strings.Cut(r, ")")
		if !ok {
			return false
		}
		failed, rest = f, r2
	}
	path, ok := cut(rest, ": ")
	path = strings.TrimSpace(path)
	if !ok || path == "" {
		return false
	}
	ev.Kind, ev.Seconds, ev.Path = CustomNodeImport, secs, path
	if failed != "" {
		ev.Kind, ev.Detail = CustomNodeImportFailed, failed
	}
	return true
}

// parseProgress reads a tqdm bar: "desc: 4%|▍ | 1/25 [00:01<00:30,  1.25s/it]".
func parseProgress(ev *Event, b string) bool {
	i := strings.Index(b, "%|")
	if i <= 0 {
		return false
	}
	j := i
	for j > 0 && isDigit(b[j-1]) {
		j--
	}
	if j == i || i-j > 3 {
		return false
	}
	// tqdm writes "desc: 45%|"; text before the percentage without the colon is a
	// prefix of some log file, not a description.
	desc, _ := strings.CutSuffix(strings.TrimSpace(b[:j]), ":")
	if desc == strings.TrimSpace(b[:j]) {
		desc = ""
	}
	rest := b[i+2:]
	k := strings.LastIndexByte(rest, '|')
	if k < 0 {
		return false
	}
	rest = strings.TrimLeft(rest[k+1:], " ")
	n, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return false
	}
	step, ok := count(n)
	if !ok {
		return false
	}
	e := 0
	for e < len(rest) && isDigit(rest[e]) {
		e++
	}
	steps, ok := count(rest[:e])
	if !ok {
		return false
	}
	ev.Kind, ev.Step, ev.Steps, ev.Detail = Progress, step, steps, desc
	rest = strings.TrimSpace(rest[e:])
	inner, ok := cut(rest, "[")
	if !ok {
		return true
	}
	inner, _, _ = strings.Cut(inner, "]")
	el, rem, _ := strings.Cut(inner, ",")
	el, _, _ = strings.Cut(el, "<")
	ev.Elapsed, _ = clock(el)
	rate, _, _ := strings.Cut(rem, ",")
	rate = strings.TrimSpace(rate)
	if v, ok := strings.CutSuffix(rate, "it/s"); ok {
		ev.ItPerS, _ = num(v)
	} else if v, ok := strings.CutSuffix(rate, "s/it"); ok {
		if s, ok := num(v); ok && s > 0 {
			ev.ItPerS = 1 / s
		}
	}
	return true
}

// stripPrefix removes what log files put before ComfyUI's own text: "[2025-01-15
// 10:20:30.123] " (ComfyUI-Manager), ISO or Python asctime stamps, "name - LEVEL - ",
// "LEVEL:name:", "[LEVEL]".
func stripPrefix(s string) string {
	for range 4 {
		t := strings.TrimLeft(s, " \t")
		if t == "" {
			return t
		}
		switch {
		case t[0] == '[':
			end := strings.IndexByte(t, ']')
			if end <= 1 || end > 48 {
				return s
			}
			in := t[1:end]
			if !looksLikeStamp(in) && levelLen(in) != len(in) {
				return s
			}
			s = strings.TrimPrefix(t[end+1:], " ")
		case isDigit(t[0]):
			n := stampLen(t)
			if n == 0 {
				return s
			}
			s = t[n:]
			r := strings.TrimLeft(s, " ")
			if strings.HasPrefix(r, "- ") || strings.HasPrefix(r, "| ") {
				r = r[2:]
			}
			s = r
		default:
			r, ok := stripLevel(t)
			if !ok {
				return s
			}
			s = r
		}
	}
	return s
}

func looksLikeStamp(s string) bool {
	if s == "" || !isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c), c == '-', c == ':', c == '.', c == ',', c == ' ', c == 'T', c == 'Z', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// stampLen is the length of a leading "2025-01-15T10:20:30.123Z" / "2025-01-15 10:20:30,123"
// stamp, or 0.
func stampLen(t string) int {
	if len(t) < 10 || !isDigit(t[0]) || !isDigit(t[1]) || !isDigit(t[2]) || !isDigit(t[3]) || t[4] != '-' {
		return 0
	}
	i := 5
	for i < len(t) && (isDigit(t[i]) || t[i] == '-') {
		i++
	}
	if i < len(t)-1 && (t[i] == 'T' || t[i] == ' ') && isDigit(t[i+1]) {
		i++
		for i < len(t) && (isDigit(t[i]) || t[i] == ':' || t[i] == '.' || t[i] == ',') {
			i++
		}
		if i < len(t) && t[i] == 'Z' {
			i++
		} else if i+5 < len(t) && (t[i] == '+' || t[i] == '-') && isDigit(t[i+1]) {
			i++
			for i < len(t) && (isDigit(t[i]) || t[i] == ':') {
				i++
			}
		}
	}
	if i < len(t) && t[i] != ' ' && t[i] != '\t' && t[i] != ']' {
		return 0
	}
	return i
}

var levels = []string{"DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL"}

// levelLen is the length of a leading log level name (any case), or 0.
func levelLen(s string) int {
	for _, l := range levels {
		if len(s) >= len(l) && strings.EqualFold(s[:len(l)], l) {
			return len(l)
		}
	}
	return 0
}

// stripLevel removes "name - LEVEL - " or "LEVEL:name:" from the start of t.
func stripLevel(t string) (string, bool) {
	if n := levelLen(t); n > 0 && n < len(t) && t[n] == ':' {
		r := t[n+1:]
		if i := strings.IndexByte(r, ':'); i > 0 && i < 64 && !strings.ContainsAny(r[:i], " \t") {
			return r[i+1:], true
		}
		return "", false
	}
	head := t
	if len(head) > 100 {
		head = head[:100]
	}
	i := strings.Index(head, " - ")
	if i <= 0 || strings.ContainsAny(t[:i], " \t") {
		return "", false
	}
	r := t[i+3:]
	n := levelLen(r)
	if n == 0 || !strings.HasPrefix(r[n:], " - ") {
		return "", false
	}
	return r[n+3:], true
}

// String shows the kind and the fields that are set, e.g.
// `RequestedToLoad model="QwenImage"`; the Line is left out.
func (e Event) String() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	str := func(k, v string) {
		if v != "" {
			b.WriteString(" " + k + "=" + strconv.Quote(v))
		}
	}
	flt := func(k string, v float64) {
		if v != 0 {
			b.WriteString(" " + k + "=" + strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	integer := func(k string, v int) {
		if v != 0 {
			b.WriteString(" " + k + "=" + strconv.Itoa(v))
		}
	}
	str("model", e.Model)
	flt("loaded_mb", e.LoadedMB)
	flt("usable_mb", e.UsableMB)
	flt("offloaded_mb", e.OffloadedMB)
	flt("buffer_mb", e.BufferMB)
	if e.FullLoad {
		b.WriteString(" full_load=true")
	}
	integer("patches", e.Patches)
	flt("seconds", e.Seconds)
	integer("step", e.Step)
	integer("steps", e.Steps)
	flt("it_per_s", e.ItPerS)
	flt("elapsed", e.Elapsed)
	str("path", e.Path)
	flt("vram_mb", e.VRAMMB)
	flt("ram_mb", e.RAMMB)
	str("version", e.Version)
	str("addr", e.Addr)
	integer("count", e.Count)
	str("detail", e.Detail)
	return b.String()
}
