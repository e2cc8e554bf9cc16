package lab

import (
	"context"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/gpu"
)

// Engine is the part of the Docker Engine that a run uses.
type Engine interface {
	Info(ctx context.Context) (docker.Info, error)
	ImageInspect(ctx context.Context, ref string) (docker.Image, error)
	Pull(ctx context.Context, ref string, progress func(docker.PullProgress)) error
	Create(ctx context.Context, s docker.Spec) (string, error)
	Start(ctx context.Context, id string) error
	Inspect(ctx context.Context, id string) (docker.State, error)
	WaitExit(ctx context.Context, id string) <-chan docker.State
	FollowLogs(ctx context.Context, id string, fn func(docker.LogLine)) error
	StreamStats(ctx context.Context, id string, fn func(docker.Stats)) error
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Remove(ctx context.Context, id string) error
	ListLabelled(ctx context.Context, runID string) ([]docker.Resource, error)
	// Alive pings the engine over a fresh connection (see [docker.Client.Alive]).
	Alive(ctx context.Context) error
}

// RemoteEngine is what a run on a remote engine needs beyond [Engine]: a private network,
// the engine's own event times, removing what the run labelled, and the engine's name.
type RemoteEngine interface {
	Engine
	CreateNetwork(ctx context.Context, name, runID string) (string, error)
	// CopyFiles writes files (absolute path → content) into a created container.
	CopyFiles(ctx context.Context, id string, files map[string][]byte) error
	WatchEvents(ctx context.Context, runID string) <-chan docker.Event
	RemoveResource(ctx context.Context, r docker.Resource) error
	Name() string
}

// Comfy is the part of a ComfyUI server that a benchmark uses.
type Comfy interface {
	Ready(ctx context.Context) error
	SystemStats(ctx context.Context) (comfy.SystemStats, error)
	// ObjectInfoFor describes the given node classes (GET /object_info/{class}); a class
	// the server lacks is absent.
	ObjectInfoFor(ctx context.Context, classes []string) (comfy.ObjectInfo, error)
	Run(ctx context.Context, w comfy.Workflow) (*comfy.Result, error)
	Close() error
}

// GPU is the part of NVML that a run uses. A nil GPU in Deps means "unavailable".
type GPU interface {
	Inventory() ([]gpu.Device, error)
	Sample(indexes []int) ([]gpu.Sample, error)
	// ProcessPeaks is NVML accounting's peak VRAM per PID; ok is false when accounting
	// mode is off or recorded none of them.
	ProcessPeaks(pids []uint32) (map[uint32]uint64, bool)
}

// Deps are the adapters a run talks to.
type Deps struct {
	Engine Engine // nil for bench --url
	// Dial returns a client for the ComfyUI server at baseURL (known only once the port is).
	Dial func(baseURL string) (Comfy, error)
	// SimImage builds or finds the simulator image (up-and-bench without --image).
	SimImage func(ctx context.Context) (string, error)
	GPU      GPU
	// GPUReason says why GPU is nil.
	GPUReason string
	// Now gives wall-clock time for the timestamps written into the report.
	Now func() time.Time
	// Progress receives the run's progress events, from several goroutines (nil: none). It
	// must return quickly: it is called on the paths it reports on.
	Progress func(Event)
}
