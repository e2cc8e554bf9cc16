package comfy

import (
	"encoding/json"
	"fmt"
	"time"
)

// Result is one prompt as the client saw it. Run returns it even on error, with whatever
// was recorded.
type Result struct {
	PromptID, ClientID string
	Number             int64 // the server's queue number
	// Client-side receipt times (time.Now() at receipt, so they carry the monotonic clock);
	// zero when not seen. Accepted: the POST reply; Started: execution_start; ImageAt: the
	// first `executed` with images; End: the final `executing` null (or the recovery).
	Submit, Accepted, Started, ImageAt, End time.Time
	// The server's own timestamps (ms since the epoch) from execution_start and
	// execution_success/error/interrupted; 0 when unknown.
	ServerStartMS, ServerEndMS int64
	Cached                     []string              // nodes reported in execution_cached
	Nodes                      []NodeRun             // nodes that ran, in execution order
	Outputs                    map[string][]ImageRef // images per output node
	Status                     string                // "success" | "error" | "interrupted" | "timeout" | "rejected"
	Recovered                  bool                  // the socket dropped during the prompt; the outcome came from a new socket or /history
	// Final is where the prompt was left on the server when Run returned: its outcome
	// ("success", "error", "interrupted") or PromptRunning, PromptPending, PromptRemoved,
	// PromptUnknown. It differs from Status for prompts given up on.
	Final string
	// Ahead is how many other prompts were ahead of this one in the server's queue when it
	// was accepted (GET /queue right after POST /prompt); -1 when unknown.
	Ahead        int
	Note         string // how a prompt given up on ended after all
	BinaryFrames int    // binary frames (previews) received and skipped
	// NodeErrors are validation errors of a prompt the server accepted anyway (an invalid
	// output branch was dropped, the rest ran).
	NodeErrors map[string]NodeError
}

// NodeRun is one node that executed.
type NodeRun struct {
	ID, ClassType string      // ClassType filled from the workflow
	Start, End    time.Time   // executing(node) receipt; next node's start, progress_state finished or the end
	Ticks         []time.Time // progress ticks
	Max           int         // progress max (sampler steps)
}

// ImageRef names an image on the server, for [Client.View].
type ImageRef struct {
	Filename  string `json:"filename"`
	Subfolder string `json:"subfolder"`
	Type      string `json:"type"`
}

// E2E is Submit → End: what a user waits for.
func (r *Result) E2E() time.Duration { return span(r.Submit, r.End) }

// Queue is Submit → Started.
func (r *Result) Queue() time.Duration { return span(r.Submit, r.Started) }

// Image is Submit → ImageAt, 0 if no image was seen.
func (r *Result) Image() time.Duration { return span(r.Submit, r.ImageAt) }

// Server is the server's own account of the execution (ServerEndMS − ServerStartMS).
func (r *Result) Server() (time.Duration, bool) {
	if r.ServerStartMS == 0 || r.ServerEndMS == 0 || r.ServerEndMS < r.ServerStartMS {
		return 0, false
	}
	return time.Duration(r.ServerEndMS-r.ServerStartMS) * time.Millisecond, true
}

// MinStepSpan is the shortest span of progress ticks a step rate is computed from. The
// ticks are timed when the client receives them, and the server's event loop and the
// WebSocket deliver them in bursts of a few milliseconds: over a shorter span the rate
// says how the messages were delivered (it reached 10⁶ steps/s on the instant simulator),
// not how fast the sampler stepped.
const MinStepSpan = 50 * time.Millisecond

// StepsPerSecond is the step rate of the node with the most progress ticks:
// (ticks−1)/(last tick − first tick); 0 (not measured) with fewer than 2 ticks or when
// the ticks span less than MinStepSpan.
func (r *Result) StepsPerSecond() float64 {
	var best *NodeRun
	for i := range r.Nodes {
		if best == nil || len(r.Nodes[i].Ticks) > len(best.Ticks) {
			best = &r.Nodes[i]
		}
	}
	if best == nil || len(best.Ticks) < 2 {
		return 0
	}
	d := best.Ticks[len(best.Ticks)-1].Sub(best.Ticks[0])
	if d < MinStepSpan {
		return 0
	}
	return float64(len(best.Ticks)-1) / d.Seconds()
}

// IsCached reports whether the node was served from the server's cache.
func (r *Result) IsCached(nodeID string) bool {
	for _, id := range r.Cached {
		if id == nodeID {
			return true
		}
	}
	return false
}

func span(a, b time.Time) time.Duration {
	if a.IsZero() || b.IsZero() {
		return 0
	}
	return b.Sub(a)
}

// HistoryEntry is a finished prompt from GET /history/{id}.
type HistoryEntry struct {
	PromptID  string
	Number    int64
	Outputs   map[string][]ImageRef      // images per output node
	RawOutput map[string]json.RawMessage // every node's UI output, as sent
	Status    HistoryStatus
}

// HistoryStatus is the entry's "status".
type HistoryStatus struct {
	StatusStr string // "success" or "error" (also for interrupts)
	Completed bool
	Messages  []Message // execution_start, execution_cached, execution_success/error/interrupted
}

// decodeHistory reads the body of GET /history/{id}; ok is false for {} (unknown or running).
func decodeHistory(body []byte, promptID string) (*HistoryEntry, bool, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(body, &all); err != nil {
		return nil, false, fmt.Errorf("decode history: %w", err)
	}
	raw, ok := all[promptID]
	if !ok {
		if len(all) != 1 {
			return nil, false, nil
		}
		for id, r := range all { // a server that changed the id: take the only entry
			promptID, raw = id, r
		}
	}
	var r struct {
		Prompt  []json.RawMessage          `json:"prompt"`
		Outputs map[string]json.RawMessage `json:"outputs"`
		Status  struct {
			StatusStr string              `json:"status_str"`
			Completed bool                `json:"completed"`
			Messages  [][]json.RawMessage `json:"messages"`
		} `json:"status"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, false, fmt.Errorf("decode history entry %s: %w", promptID, err)
	}
	h := &HistoryEntry{PromptID: promptID, Outputs: map[string][]ImageRef{}, RawOutput: r.Outputs}
	if len(r.Prompt) > 0 {
		h.Number = rawInt(r.Prompt[0])
	}
	for id, o := range r.Outputs {
		var m map[string]json.RawMessage
		if json.Unmarshal(o, &m) == nil {
			if imgs := imagesOf(m); len(imgs) > 0 {
				h.Outputs[id] = imgs
			}
		}
	}
	h.Status.StatusStr = r.Status.StatusStr
	h.Status.Completed = r.Status.Completed
	for _, m := range r.Status.Messages {
		if len(m) != 2 {
			continue
		}
		t := rawString(m[0])
		if t == "" {
			continue
		}
		h.Status.Messages = append(h.Status.Messages, Message{Type: t, Data: m[1]})
	}
	return h, true, nil
}

// rawInt reads an int or float JSON number (ComfyUI sends a float number when the client
// chose the priority); 0 when it is not a number.
func rawInt(raw json.RawMessage) int64 {
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return 0
	}
	if i, err := n.Int64(); err == nil {
		return i
	}
	f, err := n.Float64()
	if err != nil {
		return 0
	}
	return int64(f)
}

// SystemStats is GET /system_stats. Sizes are bytes.
type SystemStats struct {
	System  System   `json:"system"`
	Devices []Device `json:"devices"`
}

// System is the "system" object of SystemStats.
type System struct {
	OS                      string   `json:"os"` // "posix"/"nt" before v0.4.0, then "linux", "win32", ...
	RAMTotal                int64    `json:"ram_total"`
	RAMFree                 int64    `json:"ram_free"`
	ComfyUIVersion          string   `json:"comfyui_version"`
	RequiredFrontendVersion string   `json:"required_frontend_version"`
	PythonVersion           string   `json:"python_version"`
	PytorchVersion          string   `json:"pytorch_version"`
	EmbeddedPython          bool     `json:"embedded_python"`
	Argv                    []string `json:"argv"`
}

// Device is one entry of SystemStats.Devices. TorchVRAMTotal is what torch has reserved, not
// the card's capacity; VRAMFree includes torch's cached-but-free memory.
type Device struct {
	Name           string `json:"name"`  // "cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync"
	Type           string `json:"type"`  // "cuda", "cpu", ...
	Index          *int   `json:"index"` // nil on CPU
	VRAMTotal      int64  `json:"vram_total"`
	VRAMFree       int64  `json:"vram_free"`
	TorchVRAMTotal int64  `json:"torch_vram_total"`
	TorchVRAMFree  int64  `json:"torch_vram_free"`
}

// decodeSystemStats reads GET /system_stats, tolerating float sizes.
func decodeSystemStats(body []byte) (SystemStats, error) {
	var s SystemStats
	if err := json.Unmarshal(body, &s); err == nil {
		return s, nil
	}
	// Some builds report sizes as floats: decode leniently.
	var r struct {
		System struct {
			System
			RAMTotal json.Number `json:"ram_total"`
			RAMFree  json.Number `json:"ram_free"`
		} `json:"system"`
		Devices []struct {
			Device
			Index          *json.Number `json:"index"`
			VRAMTotal      json.Number  `json:"vram_total"`
			VRAMFree       json.Number  `json:"vram_free"`
			TorchVRAMTotal json.Number  `json:"torch_vram_total"`
			TorchVRAMFree  json.Number  `json:"torch_vram_free"`
		} `json:"devices"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return SystemStats{}, fmt.Errorf("decode system_stats: %w", err)
	}
	s = SystemStats{System: r.System.System}
	s.System.RAMTotal = numInt(r.System.RAMTotal)
	s.System.RAMFree = numInt(r.System.RAMFree)
	for _, d := range r.Devices {
		dev := d.Device
		if d.Index != nil {
			i := int(numInt(*d.Index))
			dev.Index = &i
		}
		dev.VRAMTotal, dev.VRAMFree = numInt(d.VRAMTotal), numInt(d.VRAMFree)
		dev.TorchVRAMTotal, dev.TorchVRAMFree = numInt(d.TorchVRAMTotal), numInt(d.TorchVRAMFree)
		s.Devices = append(s.Devices, dev)
	}
	return s, nil
}

func numInt(n json.Number) int64 {
	if n == "" {
		return 0
	}
	return rawInt(json.RawMessage(n))
}
