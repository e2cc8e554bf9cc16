package lab

import (
	"fmt"
	"time"

	"github.com/qwenlab/qwenlab/comfylog"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/gpu"
	"github.com/qwenlab/qwenlab/report"
)

// Stage is where a run is, as the live display names it. Stages are what a person waits
// through; the report's phases (the measured intervals) are finer and named in package report.
type Stage uint8

// The stages, in the order a run goes through them.
const (
	StageNone        Stage = iota
	StagePrepare           // preflight against the engine
	StageImage             // finding or building the simulator's image
	StagePull              // pulling the image
	StageCreate            // creating and starting the container
	StageWaitServer        // waiting for ComfyUI to answer
	StagePreflight         // checking the workflow against the live server
	StageFirstPrompt       // the cold start's first prompt (model load included)
	StageWarmup            // warm-up prompts
	StageWarm              // measured warm runs
	StageTeardown          // stopping and removing the container
)

// stageLabels is the one table of stage names.
var stageLabels = [...]string{
	StageNone:        "",
	StagePrepare:     "preparing",
	StageImage:       "image",
	StagePull:        "pulling",
	StageCreate:      "creating",
	StageWaitServer:  "waiting for ComfyUI",
	StagePreflight:   "preflight",
	StageFirstPrompt: "first prompt",
	StageWarmup:      "warm-up",
	StageWarm:        "warm runs",
	StageTeardown:    "teardown",
}

func (s Stage) String() string {
	if int(s) < len(stageLabels) {
		return stageLabels[s]
	}
	return fmt.Sprintf("stage(%d)", uint8(s))
}

// EventKind says what an [Event] reports.
type EventKind uint8

const (
	// EventNote is a line worth keeping (Text): a milestone or a decision.
	EventNote EventKind = iota
	// EventWarning is a warning (Text); it is also in the report.
	EventWarning
	// EventStage says the run entered Stage; Text may say more (the image, the URL).
	EventStage
	// EventStageDone says Stage ended after Elapsed; Text may say how (e.g. "ready").
	EventStageDone
	// EventPull is a pull's progress (Pull).
	EventPull
	// EventLog is one container log line (Text), already redacted; Model is set when the
	// line says a model is being loaded, ModelLoaded when it says a model finished loading.
	EventLog
	// EventPrompt says prompt Run of Runs was sent in Stage (StageFirstPrompt, StageWarmup or
	// StageWarm).
	EventPrompt
	// EventPromptDone says that prompt ended; Text describes its outcome.
	EventPromptDone
	// EventStep is the prompt in flight's progress: the node executing (Node) and, from a
	// sampler's progress messages, Step of Steps.
	EventStep
	// EventGPU is a GPU sample (GPU).
	EventGPU
)

// PullStatus is a pull's progress so far.
type PullStatus struct {
	Layers, LayersDone int
	Current, Total     int64 // bytes
}

// GPUStatus is one GPU sample, summed over the GPUs the workload uses.
type GPUStatus struct {
	VRAMUsed, VRAMTotal uint64
	UtilPct             float64
	HasVRAM, HasUtil    bool
}

// Event is one thing a run reports while it goes, for a live display (package cli renders
// them). Which fields are set depends on Kind.
type Event struct {
	Kind  EventKind
	Stage Stage
	// Cold is the cold start (1-based) of a run with several, 0 otherwise; Image names the
	// image when a run compares several.
	Cold  int
	Image string
	Text  string
	Model string
	// ModelLoaded: see EventLog.
	ModelLoaded bool
	Elapsed     time.Duration
	Run         int // 1-based
	Runs        int
	Node        string // "3 KSampler"
	Step        int
	Steps       int
	Pull        PullStatus
	GPU         GPUStatus
}

// String is the event as one plain line (no control characters of its own).
func (e Event) String() string {
	switch e.Kind {
	case EventWarning:
		return "warning: " + e.Text
	case EventStage:
		if e.Text != "" {
			return e.Stage.String() + ": " + e.Text
		}
		return e.Stage.String()
	case EventStageDone:
		s := fmt.Sprintf("%s done in %s", e.Stage, report.HumanSeconds(e.Elapsed.Seconds()))
		if e.Text != "" {
			s += " (" + e.Text + ")"
		}
		return s
	case EventPull:
		p := e.Pull
		s := "pull: " + report.HumanBytes(uint64(max(p.Current, 0)))
		if p.Total > 0 {
			s += fmt.Sprintf(" / %s (%d%%)", report.HumanBytes(uint64(p.Total)), min(p.Current*100/p.Total, 100))
		}
		return s + fmt.Sprintf(", layers %d/%d", p.LayersDone, p.Layers)
	case EventLog:
		return "log: " + e.Text
	case EventPrompt:
		return fmt.Sprintf("%s %d/%d sent", PromptNoun(e.Stage), e.Run, e.Runs)
	case EventPromptDone:
		return fmt.Sprintf("%s %d/%d: %s", PromptNoun(e.Stage), e.Run, e.Runs, e.Text)
	case EventStep:
		if e.Steps > 0 {
			return fmt.Sprintf("node %s step %d/%d", e.Node, e.Step, e.Steps)
		}
		return "node " + e.Node
	case EventGPU:
		return "gpu: " + e.GPU.String()
	}
	return e.Text
}

// PromptNoun is what a prompt sent in stage s is called: "run", "warmup", "first prompt".
func PromptNoun(s Stage) string {
	switch s {
	case StageWarmup:
		return "warmup"
	case StageFirstPrompt:
		return "first prompt"
	}
	return "run"
}

// String is "VRAM 12.0 GiB / 80.0 GiB, util 87%", leaving out what was not sampled.
func (g GPUStatus) String() string {
	var s string
	if g.HasVRAM {
		s = "VRAM " + report.HumanBytes(g.VRAMUsed)
		if g.VRAMTotal > 0 {
			s += " / " + report.HumanBytes(g.VRAMTotal)
		}
	}
	if g.HasUtil {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("util %.0f%%", g.UtilPct)
	}
	return s
}

// emit sends ev to the display, if any, with the run's cold-start context.
func (r *run) emit(ev Event) {
	if r.deps.Progress == nil {
		return
	}
	if ev.Cold == 0 && r.cfg.ColdStarts > 1 {
		ev.Cold = len(r.colds)
	}
	r.deps.Progress(ev)
}

// stage marks the start of stage s and returns the function that marks its end.
func (r *run) stage(s Stage, text string) func(how string) {
	start := time.Now()
	r.emit(Event{Kind: EventStage, Stage: s, Text: text})
	return func(how string) {
		r.emit(Event{Kind: EventStageDone, Stage: s, Text: how, Elapsed: time.Since(start)})
	}
}

// showLog sends a container log line to the live display, redacted; a line that says a
// model is being loaded names it.
func (r *run) showLog(l docker.LogLine) {
	if r.deps.Progress == nil {
		return
	}
	ev := Event{Kind: EventLog, Text: report.RedactString(l.Text, r.secrets)}
	switch p := comfylog.Parse(l.Text); p.Kind {
	case comfylog.RequestedToLoad, comfylog.DynamicVRAM:
		ev.Model = report.RedactString(p.Model, r.secrets)
	case comfylog.LoadedCompletely, comfylog.LoadedPartially:
		ev.ModelLoaded = true
	}
	r.emit(ev)
}

// gpuStatus sums one round of samples over the devices sampled.
func gpuStatus(samples []gpu.Sample, devs []gpu.Device) GPUStatus {
	var g GPUStatus
	n := 0
	for _, s := range samples {
		if s.Missing&gpu.FieldVRAM == 0 {
			g.VRAMUsed += s.VRAMUsed
			g.HasVRAM = true
			for _, d := range devs {
				if d.Index == s.Index {
					g.VRAMTotal += d.VRAMTotal
				}
			}
		}
		if s.Missing&gpu.FieldUtil == 0 {
			g.UtilPct += s.UtilGPU
			n++
		}
	}
	if n > 0 {
		g.UtilPct /= float64(n)
		g.HasUtil = true
	}
	return g
}
