package lab

import (
	"fmt"
	"strings"
	"time"

	"github.com/qwenlab/qwenlab/compose"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/report"
	"github.com/qwenlab/qwenlab/scenarios"
)

// PullPolicy says when a run pulls its image (--pull).
type PullPolicy string

// Pull policies, as Docker names them.
const (
	PullMissing PullPolicy = "missing" // pull when the image is not present
	PullAlways  PullPolicy = "always"  // pull every time
	PullNever   PullPolicy = "never"   // never pull; a missing image is an error
)

// PullPolicies lists the valid pull policies.
func PullPolicies() []PullPolicy { return []PullPolicy{PullMissing, PullAlways, PullNever} }

// OnError says what a failed prompt does to the run (--on-error).
type OnError string

// On-error policies.
const (
	OnErrorStop     OnError = "stop"     // the first failed prompt ends the run
	OnErrorContinue OnError = "continue" // failed prompts are counted and the run goes on
)

// OnErrors lists the valid on-error policies.
func OnErrors() []OnError { return []OnError{OnErrorStop, OnErrorContinue} }

// Config is one run's plan, built by package cli from flags.
type Config struct {
	RunID       string
	ToolVersion string

	// Target: Image is a container image; empty means the built-in simulator. URL is set for
	// bench --url (no Docker at all).
	Image      string
	URL        string
	SimProfile string
	Pull       PullPolicy

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
	// Vary is NODE.INPUT, an input of a workflow without a seed that gets a new value per
	// prompt (see vary.go); "" = none.
	Vary string

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
	OnError         OnError

	GPUInterval time.Duration

	// Stall sets when a silent wait is called thrashing, stuck or GPU-idle (zero: defaults).
	Stall StallLimits

	Budgets    []Budget
	SlowGap    time.Duration
	FailOnSlow bool

	// LagBase and LagFrac set the delivery-lag flag: lag_s > LagBase + LagFrac*server_s.
	LagBase time.Duration
	LagFrac float64
	Metric  report.Headline

	SaveLogs string // path for all log lines, "" = don't

	// CheckDeterminism repeats one warm run's seed (cache cleared) and compares the output
	// images' hashes.
	CheckDeterminism bool

	// Compare configures the comparison of a matrix's sections and of a --baseline.
	Compare report.CompareOptions

	// Compose is the Compose service the container comes from (--compose), with the fields
	// that have flags (image, env, ports, GPUs, memory, init, the models mount) already merged
	// into this Config by package cli; the rest (command, entrypoint, shm size, ulimits, health
	// check, labels, other bind mounts) is applied to the container here.
	Compose *compose.Service

	// WaitReady (bench --wait-ready) waits up to this long for the server to answer instead
	// of probing it once, and records when it did (target.ready_at): the measuring container on
	// a remote engine starts beside a ComfyUI that is still loading.
	WaitReady time.Duration
	// SameHost (bench --same-host): the server runs on this machine (or beside this container),
	// so its GPUs are watched from here.
	SameHost bool
}

// ownContainerWait caps the wait for an interrupt on qwenlab's own container when a failed
// prompt ends the run: the container is removed right after, so nothing can be left behind.
const ownContainerWait = 3 * time.Second

// PromptInterruptWait is how long the ComfyUI client waits for the server to stop a prompt
// it gave up on: --interrupt-wait, capped at a few seconds on qwenlab's own container under
// --on-error stop (teardown follows at once and leaves nothing running).
func (c Config) PromptInterruptWait() time.Duration {
	if c.URL == "" && c.OnError != OnErrorContinue {
		return min(c.InterruptWait, ownContainerWait)
	}
	return c.InterruptWait
}

// Defaults returns a Config with every default filled in.
func Defaults() Config {
	return Config{
		SimProfile:      "default",
		Pull:            PullMissing,
		ModelsTarget:    "/root/ComfyUI/models",
		Runs:            10,
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
		OnError:         OnErrorStop,
		GPUInterval:     100 * time.Millisecond,
		SlowGap:         10 * time.Second,
		LagBase:         50 * time.Millisecond,
		LagFrac:         0.10,
		Metric:          report.HeadlineE2E,
	}
}

// ConfigError says which setting of a [Config] is invalid; Flag is the command-line flag
// that sets it.
type ConfigError struct {
	Flag string
	Msg  string
}

func (e *ConfigError) Error() string { return "--" + e.Flag + " " + e.Msg }

// Validate checks the settings a run depends on, as package cli fills them in from flags;
// the first invalid one is returned as a *[ConfigError].
func (c Config) Validate() error {
	bad := func(flag, format string, a ...any) error {
		return &ConfigError{Flag: flag, Msg: fmt.Sprintf(format, a...)}
	}
	switch {
	case c.Runs < 1:
		return bad("runs", "%d: need at least 1 measured run", c.Runs)
	case c.Runs > 100000:
		return bad("runs", "%d: at most 100000", c.Runs)
	case c.Warmup < 0:
		return bad("warmup", "%d: must be 0 or more", c.Warmup)
	case c.Warmup > 100000:
		return bad("warmup", "%d: at most 100000", c.Warmup)
	case c.PromptTimeout <= 0:
		return bad("prompt-timeout", "%s: must be positive", c.PromptTimeout)
	case c.GPUInterval < 10*time.Millisecond:
		return bad("gpu-interval", "%s: at least 10ms", c.GPUInterval)
	case c.QueueTimeout <= 0:
		return bad("queue-timeout", "%s: must be positive", c.QueueTimeout)
	case c.InterruptWait <= 0:
		return bad("interrupt-wait", "%s: must be positive", c.InterruptWait)
	case c.IdleWait < 0:
		return bad("idle-wait", "%s: must be 0 or more", c.IdleWait)
	}
	if err := oneOf("on-error", c.OnError, OnErrors()); err != nil {
		return err
	}
	if err := oneOf("metric", c.Metric, report.Headlines()); err != nil {
		return err
	}
	if c.URL != "" {
		return nil // bench --url: no container settings
	}
	switch {
	case c.ColdStarts < 1 || c.ColdStarts > 1000:
		return bad("cold-starts", "%d: between 1 and 1000", c.ColdStarts)
	case c.Port < 0 || c.Port > 65535:
		return bad("port", "%d: between 1 and 65535 (0: a free one)", c.Port)
	case c.ContainerPort < 1 || c.ContainerPort > 65535:
		return bad("container-port", "%d: between 1 and 65535", c.ContainerPort)
	case c.MemoryBytes != 0 && c.MemoryBytes < 6<<20:
		return bad("memory", "%d bytes: at least 6m", c.MemoryBytes)
	case c.StartTimeout <= 0:
		return bad("start-timeout", "%s: must be positive", c.StartTimeout)
	case c.TeardownTimeout <= 0:
		return bad("teardown-timeout", "%s: must be positive", c.TeardownTimeout)
	case c.StopTimeout < 0:
		return bad("stop-timeout", "%s: must not be negative", c.StopTimeout)
	case c.DropCaches && c.ModelsDir == "":
		return bad("drop-caches", "needs --models DIR: it evicts the model files of that folder")
	}
	if err := oneOf("pull", c.Pull, PullPolicies()); err != nil {
		return err
	}
	if c.Image != "" {
		if err := docker.CheckImageRef(c.Image); err != nil {
			return bad("image", "%v", err)
		}
	}
	if _, err := docker.ParseGPUs(c.GPUs); err != nil {
		return &ConfigError{Flag: "gpus", Msg: strings.TrimPrefix(err.Error(), "invalid --gpus value ")}
	}
	for _, kv := range c.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return bad("env", "%q: want NAME=VALUE", kv)
		}
	}
	return nil
}

func oneOf[T ~string](flag string, v T, allowed []T) error {
	names := make([]string, 0, len(allowed))
	for _, a := range allowed {
		if v == a {
			return nil
		}
		names = append(names, string(a))
	}
	return &ConfigError{Flag: flag, Msg: fmt.Sprintf("%q: must be one of %s", v, strings.Join(names, ", "))}
}
