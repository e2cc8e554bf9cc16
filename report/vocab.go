package report

import "fmt"

// This file is the report's vocabulary: every concept the report names (a cold-start phase, a
// timeline source, a kind of run, target or slow step, the headline metric) is a typed
// constant defined here once, with one table. Other packages use these types, never the bare
// strings.

// PhaseID is one cold-start phase. The phases happen in the order of their values.
type PhaseID uint8

// The cold-start phases. PhasePull through PhaseFirstPrompt follow each other and tile
// [ColdStart.TotalS] (with any "gap" timeline entries); PhaseModelLoad lies inside
// PhaseFirstPrompt.
const (
	PhasePull PhaseID = iota + 1
	PhaseCreate
	PhaseStart
	PhaseFirstLog
	PhaseListening
	PhaseReady
	PhasePreflight
	PhaseFirstPrompt
	PhaseModelLoad
)

// Charge says whose time a phase is: the container engine's, ComfyUI's, or qwenlab's own
// (the harness: probing and checking). Two images are compared on what they do, so the
// harness's share is kept apart.
type Charge string

// Charges.
const (
	ChargeEngine  Charge = "engine"
	ChargeComfyUI Charge = "comfyui"
	ChargeHarness Charge = "harness"
)

// phaseInfo is one row of the phase table.
type phaseInfo struct {
	key      string // JSON key in Phases, "create_s"
	label    string // for people, "create"
	span     string // the timeline entry's name, "create"
	additive bool   // adds to the cold start's total (false: lies inside another phase)
	charge   Charge
}

// phaseTable is the one table of cold-start phases, indexed by PhaseID.
var phaseTable = [...]phaseInfo{
	PhasePull:        {"pull_s", "pull", "pull", true, ChargeEngine},
	PhaseCreate:      {"create_s", "create", "create", true, ChargeEngine},
	PhaseStart:       {"start_s", "start", "start", true, ChargeEngine},
	PhaseFirstLog:    {"first_log_s", "first log", "first_log", true, ChargeComfyUI},
	PhaseListening:   {"listening_s", "listening", "comfy_started", true, ChargeComfyUI},
	PhaseReady:       {"ready_s", "ready", "http_ready", true, ChargeComfyUI},
	PhasePreflight:   {"preflight_s", "preflight", "preflight", true, ChargeHarness},
	PhaseFirstPrompt: {"first_prompt_s", "first prompt", "first_prompt", true, ChargeComfyUI},
	PhaseModelLoad:   {"model_load_s", "model load", "model_load", false, ChargeComfyUI},
}

// AllPhases returns every phase in the order a cold start meets them.
func AllPhases() []PhaseID {
	out := make([]PhaseID, 0, len(phaseTable)-1)
	for p := PhasePull; int(p) < len(phaseTable); p++ {
		out = append(out, p)
	}
	return out
}

func (p PhaseID) info() phaseInfo {
	if p == 0 || int(p) >= len(phaseTable) {
		return phaseInfo{key: fmt.Sprintf("phase%d_s", p), label: fmt.Sprintf("phase %d", p), span: fmt.Sprintf("phase%d", p)}
	}
	return phaseTable[p]
}

// Key is the phase's JSON key in [Phases], such as "create_s".
func (p PhaseID) Key() string { return p.info().key }

// Label is the phase's name for people, such as "first prompt".
func (p PhaseID) Label() string { return p.info().label }

// Span is the name of the phase's timeline entry, such as "http_ready".
func (p PhaseID) Span() string { return p.info().span }

// Name is the phase's short name in slow steps and errors: its key without "_s".
func (p PhaseID) Name() string { k := p.Key(); return k[:len(k)-2] }

// Additive says whether the phase adds to the cold start's total.
func (p PhaseID) Additive() bool { return p.info().additive }

// Charge says whose time the phase is.
func (p PhaseID) Charge() Charge { return p.info().charge }

// String is the phase's label.
func (p PhaseID) String() string { return p.Label() }

// PhaseBySpan finds the top-level phase whose timeline entry is called name.
func PhaseBySpan(name string) (PhaseID, bool) {
	for _, p := range AllPhases() {
		if p.Span() == name && p.Additive() {
			return p, true
		}
	}
	return 0, false
}

// field returns the pointer of Phases that holds phase p.
func (ps *Phases) field(p PhaseID) **float64 {
	switch p {
	case PhasePull:
		return &ps.PullS
	case PhaseCreate:
		return &ps.CreateS
	case PhaseStart:
		return &ps.StartS
	case PhaseFirstLog:
		return &ps.FirstLogS
	case PhaseListening:
		return &ps.ListeningS
	case PhaseReady:
		return &ps.ReadyS
	case PhasePreflight:
		return &ps.PreflightS
	case PhaseFirstPrompt:
		return &ps.FirstPromptS
	case PhaseModelLoad:
		return &ps.ModelLoadS
	}
	return nil
}

// Get returns phase p's duration, nil when absent.
func (ps Phases) Get(p PhaseID) *float64 {
	if f := ps.field(p); f != nil {
		return *f
	}
	return nil
}

// Add adds seconds to phase p (a phase recorded in pieces adds up).
func (ps *Phases) Add(p PhaseID, seconds float64) {
	f := ps.field(p)
	if f == nil {
		return
	}
	if *f == nil {
		*f = Seconds(seconds)
		return
	}
	**f += seconds
}

// Source says where a timeline entry's times come from.
type Source string

// Timeline sources.
const (
	SourceEngine Source = "engine" // the Docker Engine's API calls
	SourceLogs   Source = "logs"   // the container's log lines, on the client's clock
	SourceAPI    Source = "api"    // ComfyUI's HTTP and WebSocket API
	SourceClient Source = "client" // derived by qwenlab, such as an unexplained gap between phases
)

// SpanGap names a timeline entry for time between phases that no phase explains (qwenlab's
// own work between steps).
const SpanGap = "gap"

// RunKind says which part of the run a prompt belongs to.
type RunKind string

// Run kinds.
const (
	RunCold   RunKind = "cold"   // a cold start's first prompt
	RunWarmup RunKind = "warmup" // a warm-up run, not counted
	RunWarm   RunKind = "warm"   // a measured warm run
	// RunDeterminism is a warm run's seed repeated by --check-determinism, not counted.
	RunDeterminism RunKind = "determinism"
)

// TargetKind says what was benchmarked.
type TargetKind string

// Target kinds.
const (
	TargetDocker TargetKind = "docker" // a container qwenlab started
	TargetURL    TargetKind = "url"    // a server that was already running (bench --url)
)

// SlowKind says what made a step slow.
type SlowKind string

// Slow-step kinds.
const (
	SlowGap    SlowKind = "gap"    // a silence between two log lines
	SlowBudget SlowKind = "budget" // a phase over its budget
	// Found live by the stall watcher while qwenlab waited on the container or a prompt.
	SlowThrashing SlowKind = "thrashing" // memory at the container's limit with no log output
	SlowStuck     SlowKind = "stuck"     // no CPU and no log output
	SlowGPUIdle   SlowKind = "gpu_idle"  // the GPU idle through a running prompt
)

// Headline is the latency a summary leads with and a comparison gates on (--metric).
type Headline string

// Headline metrics.
const (
	HeadlineE2E    Headline = "e2e"    // submit to the end as the client saw it
	HeadlineServer Headline = "server" // the server's own account
)

// Headlines lists the valid headline metrics.
func Headlines() []Headline { return []Headline{HeadlineE2E, HeadlineServer} }

// Key is the headline's key in [Warm.Summaries].
func (h Headline) Key() string {
	if h == HeadlineServer {
		return MetricServer
	}
	return MetricE2E
}
