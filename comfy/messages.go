package comfy

import (
	"encoding/json"
	"errors"
	"fmt"
)

// WebSocket message types (the "type" of a text frame).
const (
	MsgStatus               = "status"
	MsgExecutionStart       = "execution_start"
	MsgExecutionCached      = "execution_cached"
	MsgExecuting            = "executing"
	MsgProgress             = "progress"
	MsgProgressState        = "progress_state"
	MsgExecuted             = "executed"
	MsgExecutionSuccess     = "execution_success"
	MsgExecutionError       = "execution_error"
	MsgExecutionInterrupted = "execution_interrupted"
	MsgFeatureFlags         = "feature_flags"
)

// Message is one text frame: {"type": ..., "data": {...}}.
type Message struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// DecodeMessage decodes a text frame. The data stays raw; decode it with [Message.Decode].
func DecodeMessage(data []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return Message{}, fmt.Errorf("decode message: %w", err)
	}
	if m.Type == "" {
		return Message{}, errors.New("decode message: no type")
	}
	return m, nil
}

// Decode decodes the message's data into v (one of the *Msg structs).
func (m Message) Decode(v any) error {
	if len(m.Data) == 0 {
		return fmt.Errorf("decode %s: no data", m.Type)
	}
	if err := json.Unmarshal(m.Data, v); err != nil {
		return fmt.Errorf("decode %s: %w", m.Type, err)
	}
	return nil
}

// The structs below are the data of each message type, with the fields in the order ComfyUI
// sends them.

// StatusMsg is "status": the queue length; SID only in the message sent on connect.
type StatusMsg struct {
	Status QueueStatus `json:"status"`
	SID    string      `json:"sid,omitempty"`
}

// QueueStatus is the "status" object of a StatusMsg.
type QueueStatus struct {
	ExecInfo ExecInfo `json:"exec_info"`
}

// ExecInfo holds the number of prompts pending or running.
type ExecInfo struct {
	QueueRemaining int `json:"queue_remaining"`
}

// ExecutionStartMsg is "execution_start". Timestamp is milliseconds since the epoch.
type ExecutionStartMsg struct {
	PromptID  string `json:"prompt_id"`
	Timestamp int64  `json:"timestamp"`
}

// ExecutionCachedMsg is "execution_cached": the nodes whose outputs came from the cache.
type ExecutionCachedMsg struct {
	Nodes     []string `json:"nodes"`
	PromptID  string   `json:"prompt_id"`
	Timestamp int64    `json:"timestamp"`
}

// ExecutingMsg is "executing". Node is nil in the final message of a prompt. The message a
// server sends on connect to the client that is executing has no prompt_id.
type ExecutingMsg struct {
	Node        *string `json:"node"`
	DisplayNode *string `json:"display_node,omitempty"`
	PromptID    string  `json:"prompt_id,omitempty"`
}

// ProgressMsg is "progress": a sampler step (Value 1..Max).
type ProgressMsg struct {
	Value    float64 `json:"value"`
	Max      float64 `json:"max"`
	PromptID string  `json:"prompt_id"`
	Node     string  `json:"node"`
}

// ProgressStateMsg is "progress_state": every non-pending node so far.
type ProgressStateMsg struct {
	PromptID string               `json:"prompt_id"`
	Nodes    map[string]NodeState `json:"nodes"`
}

// NodeState is one node's entry in a ProgressStateMsg. State is "running" or "finished"
// ("pending" and "error" exist in the enum).
type NodeState struct {
	Value         float64 `json:"value"`
	Max           float64 `json:"max"`
	State         string  `json:"state"`
	NodeID        string  `json:"node_id"`
	PromptID      string  `json:"prompt_id"`
	DisplayNodeID *string `json:"display_node_id"`
	ParentNodeID  *string `json:"parent_node_id"`
	RealNodeID    *string `json:"real_node_id"`
}

// ExecutedMsg is "executed": a node returned UI data (SaveImage: {"images": [...]}).
type ExecutedMsg struct {
	Node        string                     `json:"node"`
	DisplayNode string                     `json:"display_node,omitempty"`
	Output      map[string]json.RawMessage `json:"output"`
	PromptID    string                     `json:"prompt_id"`
}

// Images returns the images listed in the output, if any.
func (m ExecutedMsg) Images() []ImageRef { return imagesOf(m.Output) }

func imagesOf(out map[string]json.RawMessage) []ImageRef {
	raw, ok := out["images"]
	if !ok {
		return nil
	}
	var imgs []ImageRef
	if json.Unmarshal(raw, &imgs) != nil {
		return nil
	}
	return imgs
}

// ExecutionSuccessMsg is "execution_success": every node ran.
type ExecutionSuccessMsg struct {
	PromptID  string `json:"prompt_id"`
	Timestamp int64  `json:"timestamp"`
}

// ExecutionErrorMsg is "execution_error": a node raised an exception.
type ExecutionErrorMsg struct {
	PromptID         string          `json:"prompt_id"`
	NodeID           string          `json:"node_id"`
	NodeType         string          `json:"node_type"`
	Executed         []string        `json:"executed"`
	ExceptionMessage string          `json:"exception_message"`
	ExceptionType    string          `json:"exception_type"`
	Traceback        []string        `json:"traceback"`
	CurrentInputs    json.RawMessage `json:"current_inputs"` // name → list of values, as sent
	CurrentOutputs   []string        `json:"current_outputs"`
	Timestamp        int64           `json:"timestamp"`
}

// ExecutionInterruptedMsg is "execution_interrupted".
type ExecutionInterruptedMsg struct {
	PromptID  string   `json:"prompt_id"`
	NodeID    string   `json:"node_id"`
	NodeType  string   `json:"node_type"`
	Executed  []string `json:"executed"`
	Timestamp int64    `json:"timestamp"`
}

// FeatureFlagsMsg is "feature_flags", sent by a client first and answered by the server.
type FeatureFlagsMsg struct {
	SupportsPreviewMetadata bool           `json:"supports_preview_metadata"`
	MaxUploadSize           float64        `json:"max_upload_size,omitempty"`
	Extension               map[string]any `json:"extension,omitempty"`
	NodeReplacements        *bool          `json:"node_replacements,omitempty"`
	Assets                  *bool          `json:"assets,omitempty"`
}
