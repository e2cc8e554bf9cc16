package report

import "time"

// Remote describes a run on a remote Docker Engine: ComfyUI ran there with nothing published,
// and qwenlab's own image measured it from a container beside it.
type Remote struct {
	// Engine is the engine as named on the command line (context name or host URL).
	Engine string `json:"engine"`
	// AgentImage is the measuring container's image (qwenlab itself).
	AgentImage string `json:"agent_image"`
	Network    string `json:"network"`
	// ComfyUI is ComfyUI's container as created: on the private network, no port published.
	ComfyUI *ContainerSpec `json:"comfyui_spec,omitempty"`
	// Events are the containers' lifecycle events, on the engine's clock.
	Events []EngineEvent `json:"events"`
}

// EngineEvent is one container event the engine recorded.
type EngineEvent struct {
	Container string    `json:"container"` // "comfyui" or "agent"
	Action    string    `json:"action"`    // create, start, die, destroy, oom
	Time      time.Time `json:"time"`
	ExitCode  string    `json:"exit_code,omitempty"`
}
