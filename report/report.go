package report

import (
	"encoding/json"
	"time"
)

// SchemaVersion is the version of the report schema this package writes.
const SchemaVersion = 1

// ReadableVersions returns the schema versions that [Decode] accepts, in ascending order.
func ReadableVersions() []int { return []int{1} }

// Report is one qwenlab run, as written to disk. It is a wire type: package lab fills it in
// one place after the run; nothing else writes it.
//
// Durations are seconds (float64), bytes are integers, offsets such as StartS are seconds
// since the run's monotonic origin t0. A measurement that was not taken is nil (JSON null);
// its reason is in the section's Reason field or in [Report.Missing].
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Tool          Tool      `json:"tool"`
	StartedAt     time.Time `json:"started_at"`  // RFC 3339
	FinishedAt    time.Time `json:"finished_at"` // RFC 3339
	RunID         string    `json:"run_id"`      // the value of the qwenlab.run label

	Scenario Scenario `json:"scenario"`
	Target   Target   `json:"target"`
	Host     Host     `json:"host"`

	// ColdStart is nil when no container was started (a url target), or when the run failed
	// before a cold start began.
	ColdStart *ColdStart `json:"cold_start"`
	// Warm is nil when no warm run was attempted.
	Warm *Warm `json:"warm"`
	// ServerClock says how the server's timestamps were put on the client's clock for
	// queue_s and lag_s; nil when no prompt carried them.
	ServerClock *ServerClock `json:"server_clock,omitempty"`

	GPU       GPUSection      `json:"gpu"`
	Container *ContainerStats `json:"container"`
	Logs      Logs            `json:"logs"`
	Teardown  Teardown        `json:"teardown"`

	// Missing maps the JSON path of a null measurement ("cold_start.phases.pull_s",
	// "warm.runs[2].server_s", "container") to the reason it is null.
	Missing map[string]string `json:"missing,omitempty"`

	// Warnings do not prevent analysis but should be shown with the results (benchmath's
	// distinction); they are kept apart from Error.
	Warnings []string `json:"warnings"`
	// Error is set when the run failed; the report is then partial.
	Error *ErrorInfo `json:"error"`

	// Sections holds the members of a combined run (the images of a matrix, the hosts of a
	// fleet), one whole report each, in the order given; the top-level fields repeat the first
	// section's report, so readers of single reports see the baseline. Empty for a single run.
	Sections []Section `json:"sections,omitempty"`
	// Comparison compares every section with the first; nil for a single run.
	Comparison *CompareResult `json:"comparison,omitempty"`
	// Baseline is the comparison of this run with a stored report (up-and-bench --baseline).
	Baseline *CompareResult `json:"baseline,omitempty"`
	// Invocation is the command that made this report, for up-and-bench --rerun.
	Invocation *Invocation `json:"invocation,omitempty"`
	// Determinism is the verdict of --check-determinism; nil when not asked for.
	Determinism *Determinism `json:"determinism,omitempty"`
}

// Invocation is the qwenlab command line that measured a report: the command and the flags
// that shape the measurement, as --name=value (secret --env values redacted; output, gating
// and --image flags left out: the images are in the report with their digests).
type Invocation struct {
	Command string   `json:"command"`
	Args    []string `json:"args"`
}

// Determinism says whether one seed, run twice (the execution cache cleared in between),
// gave byte-identical output images.
type Determinism struct {
	Seed string `json:"seed,omitempty"`
	// First and Second are the images' sha256 of the warm run and of its repeat.
	First  []string `json:"first_sha256,omitempty"`
	Second []string `json:"second_sha256,omitempty"`
	// Checked is false when no verdict could be reached (Note says why).
	Checked   bool   `json:"checked"`
	Identical bool   `json:"identical"`
	Note      string `json:"note"`
}

// Tool identifies the qwenlab build that wrote the report.
type Tool struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	GoVersion string `json:"go_version,omitempty"`
}

// Scenario is the benchmark that was run.
type Scenario struct {
	Name           string `json:"name"`
	WorkflowSHA256 string `json:"workflow_sha256"`
	// Workflow is the API-format graph as run (parameters applied, before each run's seed),
	// so the run can be repeated (up-and-bench --rerun); its canonical form hashes to
	// WorkflowSHA256.
	Workflow json.RawMessage `json:"workflow,omitempty"`
	// Params are the scenario's parameters (width, height, steps, ...), in JSON types.
	Params map[string]any `json:"params"`
}

// Target is the ComfyUI that was benchmarked.
type Target struct {
	Kind           TargetKind `json:"kind"`  // "docker" or "url"
	Image          *ImageInfo `json:"image"` // nil for a url target
	URL            string     `json:"url"`
	ComfyUIVersion string     `json:"comfyui_version,omitempty"`
	// Config holds the flags that matter for comparing runs (gpus, init, comfy args, env with
	// redaction applied, seed, runs, warmup), as the user gave them.
	Config map[string]string `json:"config,omitempty"`
	// Compose is set when the container came from a Compose file (--compose).
	Compose *Compose `json:"compose,omitempty"`
	// ReadyAt is when the server first answered (bench --wait-ready).
	ReadyAt *time.Time `json:"ready_at,omitempty"`
	// Remote is set for a run on a remote engine (--host, --context).
	Remote *Remote `json:"remote,omitempty"`
}

// ImageInfo is the container image a docker target ran.
type ImageInfo struct {
	Ref       string `json:"ref"`
	ID        string `json:"id"`
	Digest    string `json:"digest"` // repo digest; empty for a locally built image
	Size      int64  `json:"size_bytes"`
	Pulled    bool   `json:"pulled"`
	Simulator bool   `json:"simulator"`
}

// Host is the machine the run happened on.
type Host struct {
	OS       string      `json:"os"`
	Arch     string      `json:"arch"`
	Hostname string      `json:"hostname"`
	CPUs     int         `json:"cpus"`
	MemTotal int64       `json:"mem_total_bytes"`
	Kernel   string      `json:"kernel,omitempty"`
	Docker   *DockerInfo `json:"docker"` // nil when no engine was used
	GPUs     []GPUDevice `json:"gpus"`
}

// DockerInfo describes the Docker Engine.
type DockerInfo struct {
	ServerVersion  string   `json:"server_version"`
	APIVersion     string   `json:"api_version"`
	Runtimes       []string `json:"runtimes"`
	DefaultRuntime string   `json:"default_runtime"`
}

// GPUDevice is one GPU as NVML describes it, in a report's host section and in what
// `qwenlab gpu --json` writes.
type GPUDevice struct {
	Index          int    `json:"index"`
	Name           string `json:"name"`
	UUID           string `json:"uuid"`
	Driver         string `json:"driver"`
	CUDA           string `json:"cuda"`
	VRAMTotalBytes uint64 `json:"vram_total_bytes"`
	// PowerLimitW and the PCIe link (now and at most) are left out of the JSON when NVML could
	// not read them (never written as 0).
	PowerLimitW  float64 `json:"power_limit_w,omitempty"`
	PCIeGen      int     `json:"pcie_gen,omitempty"`
	PCIeWidth    int     `json:"pcie_width,omitempty"`
	PCIeMaxGen   int     `json:"pcie_max_gen,omitempty"`
	PCIeMaxWidth int     `json:"pcie_max_width,omitempty"`
	// Accounting is true when NVML accounting mode is on (per-process VRAM peaks); left out
	// when it is off or cannot be read.
	Accounting bool `json:"accounting,omitempty"`
}

// Phases are the cold-start phases, each its own duration in seconds; nil when the phase did
// not happen or was not measured (pull_s is nil when the image was present).
//
// PullS through FirstPromptS follow each other and add up to about [ColdStart.TotalS].
// ModelLoadS lies inside FirstPromptS (the loader nodes of the first prompt) and is not part
// of the sum.
type Phases struct {
	PullS        *float64 `json:"pull_s"`
	CreateS      *float64 `json:"create_s"`
	StartS       *float64 `json:"start_s"`
	FirstLogS    *float64 `json:"first_log_s"`
	ListeningS   *float64 `json:"listening_s"`
	ReadyS       *float64 `json:"ready_s"`
	PreflightS   *float64 `json:"preflight_s"`
	FirstPromptS *float64 `json:"first_prompt_s"`
	ModelLoadS   *float64 `json:"model_load_s"`
}

// Phase is one named phase duration, as [Phases.List] returns it.
type Phase struct {
	Name     string   // the JSON name, such as "create_s"
	Label    string   // for people, such as "create"
	Seconds  *float64 // nil when absent
	Additive bool     // false for phases that lie inside another one
}

// PhasesFromMap builds Phases from durations keyed by their JSON names ("create_s", ...);
// keys it does not know are ignored, and a phase without a key stays nil.
func PhasesFromMap(m map[string]float64) Phases {
	var p Phases
	for _, id := range AllPhases() {
		if v, ok := m[id.Key()]; ok {
			p.Add(id, v)
		}
	}
	return p
}

// List returns the phases in the order they happen.
func (p Phases) List() []Phase {
	ids := AllPhases()
	out := make([]Phase, 0, len(ids))
	for _, id := range ids {
		out = append(out, Phase{Name: id.Key(), Label: id.Label(), Seconds: p.Get(id), Additive: id.Additive()})
	}
	return out
}

// ColdStart is the cold start: the first container of the run from pull to the first prompt's
// end, plus any further cold starts (--cold-starts N) in fresh containers.
type ColdStart struct {
	Phases Phases `json:"phases"`
	// TotalS is nil (null, the reason in [Report.Missing]) when the cold start measured
	// nothing: it failed before its first phase ended.
	TotalS *float64 `json:"total_s"`
	// ChargedS splits TotalS by whose time it was ([Charge]: "engine", "comfyui",
	// "harness"): qwenlab's own preflight and the gaps between phases are the harness's, so
	// two images are compared on what they do.
	ChargedS map[Charge]float64 `json:"charged_s,omitempty"`
	// Timeline holds the spans behind Phases and finer ones (model load, log markers), in
	// seconds since t0.
	Timeline []TimelineEntry `json:"timeline"`
	// FirstPrompt is the first prompt against the fresh server.
	FirstPrompt *Run `json:"first_prompt"`
	// Runs holds every cold start when more than one was made, the first included.
	Runs []ColdRun `json:"runs,omitempty"`
	// Summary summarises Runs per phase name ("create_s", ...) and "total_s".
	Summary map[string]Stat `json:"summary,omitempty"`
	// ModelReadBytesPerS, PageCache and ModelBytesCachedBefore are the first cold start's,
	// as in [ColdRun].
	ModelReadBytesPerS     *float64 `json:"model_read_bytes_per_s,omitempty"`
	PageCache              string   `json:"page_cache,omitempty"`
	ModelBytesCachedBefore *int64   `json:"model_bytes_cached_before,omitempty"`
}

// TimelineEntry is one span of the cold start.
type TimelineEntry struct {
	Name   string  `json:"name"`
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	Source Source  `json:"source"` // "engine", "logs", "api" or "client"
	// Parent names the entry this one lies inside ("first_prompt" for a model load); empty
	// for a top-level phase.
	Parent string `json:"parent,omitempty"`
}

// ColdRun is one of several cold starts.
type ColdRun struct {
	Index  int      `json:"index"`
	Phases Phases   `json:"phases"`
	TotalS *float64 `json:"total_s"` // nil when it measured nothing

	Timeline []TimelineEntry `json:"timeline,omitempty"`
	// ReadyS and FirstImageS count from this cold start's t0 to the first 200 from
	// /system_stats and to the first prompt's image.
	ReadyS      *float64 `json:"to_ready_s"`
	FirstImageS *float64 `json:"to_first_image_s"`
	FirstPrompt *Run     `json:"first_prompt,omitempty"`
	// ModelReadBytesPerS is the model files' size over the time the first prompt spent
	// loading them (its loader nodes and the engine's model loads, overlaps counted once).
	ModelReadBytesPerS *float64 `json:"model_read_bytes_per_s,omitempty"`
	// PageCache says what the host's page cache held of the model files when this cold
	// start began: "dropped" (evicted by --drop-caches) or "as found"; empty without a
	// models directory.
	PageCache string `json:"page_cache,omitempty"`
	// ModelBytesCachedBefore is how many bytes of the model files were in the page cache
	// before any drop; nil when not measured.
	ModelBytesCachedBefore *int64 `json:"model_bytes_cached_before,omitempty"`
	Error                  string `json:"error,omitempty"`
}

// Warm is the warm part of the run: measured runs after the warmups, each with its own seed.
type Warm struct {
	Runs    []Run `json:"runs"`
	Warmups []Run `json:"warmups,omitempty"`
	// Summary is the statistic of the valid runs' latency_s (end to end).
	Summary Stat `json:"summary"`
	// Summaries holds "e2e_s", "image_s", "queue_s", "server_s" and "lag_s" of the valid runs.
	Summaries map[string]Stat `json:"summaries"`
	// StepsPerSecond is the statistic of the valid runs' steps_per_s (its values are steps
	// per second, not seconds); nil when no run reported progress.
	StepsPerSecond *Stat `json:"steps_per_s"`
	// Invalid counts the runs left out of the statistics (cached sampler, error).
	Invalid int `json:"invalid"`
	// LagFlagged counts the valid runs whose delivery lag was flagged.
	LagFlagged int `json:"lag_flagged,omitempty"`
	// Metric is the metric a comparison gates on ("e2e" or "server").
	Metric Headline `json:"metric,omitempty"`
}

// Run is one prompt: submitted, executed, observed to its end.
type Run struct {
	Kind  RunKind `json:"kind,omitempty"` // "cold", "warmup" or "warm"
	Index int     `json:"index"`
	Seed  string  `json:"seed"` // decimal; ComfyUI seeds go up to 2^64-1
	// Vary is the value sent to the --vary input (target.config.vary names it).
	Vary     string `json:"vary,omitempty"`
	PromptID string `json:"prompt_id"`
	// LatencyS is end to end: submit to the final executing null (equal to E2ES); both are
	// nil (null, with the reason in [Report.Missing]) when the run never reached its end.
	LatencyS *float64 `json:"latency_s"`
	E2ES     *float64 `json:"e2e_s"`
	// ImageS is submit to the output image being available; QueueS is submit to the
	// server's execution_start timestamp, on the client's clock ([ServerClock]).
	ImageS *float64 `json:"image_s"`
	QueueS *float64 `json:"queue_s"`
	// ServerS is the server's own account (differences of its timestamp fields); LagS is
	// the server's execution_success timestamp to the client's receipt of the last message:
	// delivery lag outside generation work. QueueS + ServerS + LagS = E2ES, and neither
	// QueueS nor LagS is below −(resolution/2 + uncertainty) of the [ServerClock].
	ServerS *float64 `json:"server_s"`
	// LogExecutedS is the server log's "Prompt executed in N seconds" for this prompt, a
	// cross-check of ServerS (container targets only).
	LogExecutedS *float64              `json:"log_executed_s,omitempty"`
	LagS         *float64              `json:"lag_s"`
	Nodes        map[string]NodeTiming `json:"nodes"`
	Steps        int                   `json:"steps"`
	StepsPerS    *float64              `json:"steps_per_s"`
	Valid        bool                  `json:"valid"`
	// Invalid says why the run is left out of the statistics.
	Invalid    string  `json:"invalid,omitempty"`
	Status     string  `json:"status"` // "success", "error", "interrupted", "timeout"
	Error      string  `json:"error,omitempty"`
	ErrorNode  string  `json:"error_node,omitempty"`  // the node of an execution_error
	ErrorType  string  `json:"error_type,omitempty"`  // its exception_type
	Recovered  bool    `json:"recovered,omitempty"`   // completion learnt from /history after a lost socket
	LagFlagged bool    `json:"lag_flagged,omitempty"` // LagS is large enough to distort this run
	StartedAtS float64 `json:"started_at_s"`
	// ImageSHA256 holds the sha256 of the prompt's output images (fetched through /view after
	// the run, in output-node order); empty when they were not fetched.
	ImageSHA256 []string `json:"image_sha256,omitempty"`

	// FinalState is where the prompt was left on the server, looked up before the report was
	// written, when it differs from Status: "success", "error", "interrupted" (it ended after
	// qwenlab gave up on it), "removed" (taken off the queue before it ran), "running" or
	// "pending" (still on the server when qwenlab exited), "unknown".
	FinalState string `json:"final_state,omitempty"`
	// Contention says which other clients' prompts this one waited behind on a shared server
	// ("queued behind 1 foreign prompt(s) for 23.2 s"); such runs are invalid unless
	// --allow-contention.
	Contention string `json:"contention,omitempty"`
}

// Clock methods say how a [ServerClock] offset was found.
const (
	ClockSameHost  = "same host" // the server runs on this host: one wall clock, offset 0
	ClockEstimated = "estimated" // bounded by every prompt's submit and message receipts
)

// ServerClock says how the server's timestamps (execution_start, execution_success) were
// mapped onto the client's clock.
type ServerClock struct {
	Method string `json:"method"` // "same host" or "estimated"
	// ResolutionS is the resolution of the server's timestamps (ComfyUI: 0.001).
	ResolutionS float64 `json:"resolution_s"`
	// OffsetS is the server's wall clock minus the client's, as used; UncertaintyS its
	// half-width (0 on the same host).
	OffsetS      float64 `json:"offset_s"`
	UncertaintyS float64 `json:"uncertainty_s"`
	// Prompts is how many prompts bounded an estimated offset.
	Prompts int `json:"prompts,omitempty"`
}

// NodeTiming is one node of a prompt.
type NodeTiming struct {
	ClassType string   `json:"class_type"`
	DurationS *float64 `json:"duration_s"` // nil when cached or not observed
	Cached    bool     `json:"cached"`
}

// GPUSection is what NVML saw during the run.
type GPUSection struct {
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"` // why Available is false, or why a value is null
	// VRAMPeakBytes is the highest used VRAM; PeakSource says how it was found ("sampled" or
	// "accounting").
	VRAMPeakBytes *uint64             `json:"vram_peak_bytes"`
	PeakSource    string              `json:"peak_source,omitempty"`
	UtilMeanPct   *float64            `json:"util_mean_pct"`
	PowerMeanW    *float64            `json:"power_mean_w"`
	Phases        map[string]GPUPhase `json:"phases,omitempty"`
	// Series holds the samples as columns, one entry per device (JSON "samples", as
	// DESIGN.md names them); points may be merged to keep reports small.
	Series []GPUSeries `json:"samples"`
	// Samples is how many samples were taken.
	Samples int `json:"sample_count"`
	// Processes are the container's processes that used the GPUs (PIDs as the host sees
	// them; for a url target, every process seen on the GPUs during the run), with their VRAM
	// peak: from NVML accounting where it is on, else sampled.
	Processes []GPUProcess `json:"processes,omitempty"`
}

// GPUProcess is one process of the container on the GPUs.
type GPUProcess struct {
	PID           uint32 `json:"pid"`
	VRAMPeakBytes uint64 `json:"vram_peak_bytes"`
	Source        string `json:"source"` // "accounting" or "sampled"
}

// GPUPhase is the GPU during one phase of the run ("startup", "first_prompt", "warm", ...).
type GPUPhase struct {
	VRAMPeakBytes   *uint64  `json:"vram_peak_bytes"`
	VRAMMeanBytes   *uint64  `json:"vram_mean_bytes"`
	UtilMeanPct     *float64 `json:"util_mean_pct"`
	UtilP95Pct      *float64 `json:"util_p95_pct"`
	PowerMeanW      *float64 `json:"power_mean_w"`
	PowerMaxW       *float64 `json:"power_max_w"`
	EnergyJ         *float64 `json:"energy_j"`
	EnergyPerImageJ *float64 `json:"energy_per_image_j,omitempty"`
	Samples         int      `json:"samples"`
}

// GPUSeries is one device's samples as columns with one entry per point. A column the
// device never reported is named in Missing, and its entries are 0.
type GPUSeries struct {
	Index         int       `json:"gpu"`
	TS            []float64 `json:"t_s"` // since t0
	VRAMUsedBytes []uint64  `json:"vram_used_bytes"`
	UtilPct       []float64 `json:"util_pct"`
	PowerW        []float64 `json:"power_w"`
	Missing       []string  `json:"missing,omitempty"`
}

// ContainerStats is the container's own resource use, from the engine's stats.
type ContainerStats struct {
	CPUPercentMean float64 `json:"cpu_percent_mean"`
	CPUPercentMax  float64 `json:"cpu_percent_max"`
	MemPeakBytes   int64   `json:"mem_peak_bytes"`
	MemLimitBytes  int64   `json:"mem_limit_bytes"` // 0 means no limit
}

// Logs is what the container's logs told.
type Logs struct {
	SlowSteps []SlowStep `json:"slow_steps"`
	Tail      []string   `json:"tail"`
	File      string     `json:"file,omitempty"` // the full log, when kept
	// FileError says why --save-logs is incomplete (File is then empty).
	FileError string `json:"file_error,omitempty"`
	// PromptExecutedS holds the "Prompt executed in N seconds" figures, in log order.
	PromptExecutedS []float64 `json:"prompt_executed_s,omitempty"`
	// ImportFailures holds the custom nodes whose import failed.
	ImportFailures []string `json:"import_failures,omitempty"`
}

// SlowStep is a phase that took longer than its budget, or a long silence in the logs.
type SlowStep struct {
	Phase     string   `json:"phase"`
	Kind      SlowKind `json:"kind"` // "gap", "budget", "thrashing", "stuck", "gpu_idle"
	DurationS float64  `json:"duration_s"`
	BudgetS   float64  `json:"budget_s"`
	Before    string   `json:"before,omitempty"` // the log line before the gap
	After     string   `json:"after,omitempty"`  // the log line after it
}

// Teardown is how the run cleaned up.
type Teardown struct {
	Removed   bool     `json:"removed"`
	Leftovers []string `json:"leftovers"`
	StopS     *float64 `json:"stop_s"`
	RemoveS   *float64 `json:"remove_s"`
}

// ErrorPhaseTeardown is the [ErrorInfo.Phase] of a run that failed only in its teardown:
// every measurement was taken.
const ErrorPhaseTeardown = "teardown"

// ErrorInfo is why a run failed, and in which phase.
type ErrorInfo struct {
	Phase   string `json:"phase"`
	Message string `json:"message"`
}

// CutShort says whether the failure cut the measurements short: a run that failed only in
// its teardown measured everything it set out to.
func (e *ErrorInfo) CutShort() bool { return e != nil && e.Phase != ErrorPhaseTeardown }

// Seconds returns a pointer to s, for the optional durations of a report.
func Seconds(s float64) *float64 { return &s }
