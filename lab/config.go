package lab

import (
	"time"

	"github.com/qwenlab/qwenlab/comfylog"
	"github.com/qwenlab/qwenlab/scenarios"
)

// Config is one run's plan, built by package cli from flags.
type Config struct {
	RunID       string
	ToolVersion string

	// Target: Image is a container image; empty means the built-in simulator. URL is set for
	// bench --url (no Docker at all).
	Image      string
	URL        string
	SimProfile string
	Pull       string // missing | always | never

	ModelsDir    string // host directory, mounted read-only; "" = none (simulator: placeholders)
	ModelsTarget string // mount point inside the container
	// DropCaches evicts the model files under ModelsDir from the host's page cache before
	// each cold start (cli allows it to root only).
	DropCaches bool

	Scenario     scenarios.Scenario
	WorkflowPath string            // --workflow FILE overrides the scenario's graph
	Params       map[string]string // --set name=value overrides of scenario params

	Runs, Warmup, ColdStarts int
	Seed                     uint64

	GPUs          string
	Port          int // host port; 0 = a free one
	ContainerPort int
	PublishAll    bool
	Env           []string
	ComfyArgs     []string
	Init          bool
	Keep          bool
	MemoryBytes   int64 // --memory: the container's RAM limit, 0 = none

	StartTimeout  time.Duration // create → HTTP ready
	PromptTimeout time.Duration // no message for this long while a prompt executes
	QueueTimeout  time.Duration // a prompt waiting this long in the server's queue is taken off it
	IdleWait      time.Duration // before a run, wait at most this long for other clients' prompts to finish
	InterruptWait time.Duration // how long to wait for the server to stop a prompt given up on
	// AllowContention counts runs that waited behind other clients' prompts in the
	// statistics (load-under-contention measurements); by default they are left out.
	AllowContention bool
	TeardownTimeout time.Duration
	StopTimeout     time.Duration
	OnError         string // stop | continue

	GPUInterval time.Duration

	Budgets    []comfylog.Budget
	SlowGap    time.Duration
	FailOnSlow bool

	// LagBase and LagFrac set the delivery-lag flag: lag_s > LagBase + LagFrac*server_s.
	LagBase time.Duration
	LagFrac float64
	Metric  string // e2e | server

	SaveLogs string // path for all log lines, "" = don't
}

// Defaults returns a Config with every default filled in.
func Defaults() Config {
	return Config{
		SimProfile:      "default",
		Pull:            "missing",
		ModelsTarget:    "/root/ComfyUI/models",
		Runs:            5,
		Warmup:          1,
		ColdStarts:      1,
		Seed:            42,
		ContainerPort:   8188,
		Init:            true,
		StartTimeout:    10 * time.Minute,
		PromptTimeout:   10 * time.Minute,
		QueueTimeout:    30 * time.Minute,
		IdleWait:        5 * time.Minute,
		InterruptWait:   30 * time.Second,
		TeardownTimeout: 30 * time.Second,
		StopTimeout:     2 * time.Second,
		OnError:         "stop",
		GPUInterval:     100 * time.Millisecond,
		SlowGap:         10 * time.Second,
		LagBase:         50 * time.Millisecond,
		LagFrac:         0.10,
		Metric:          "e2e",
	}
}
