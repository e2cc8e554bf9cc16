package comfy

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// RejectedError is a POST /prompt that the server refused (HTTP 400): the graph failed
// validation. Resubmitting the same graph fails the same way.
type RejectedError struct {
	Status                 int
	Type, Message, Details string               // the reply's "error" object
	NodeErrors             map[string]NodeError // per node id; empty for an unknown class
}

// NodeError is one node's entry in a rejection's node_errors.
type NodeError struct {
	ClassType string
	Errors    []struct{ Type, Message, Details string }
}

// Error lists the reason and every node with its reasons, on one line.
func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "prompt rejected (HTTP %d", e.Status)
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	b.WriteString(")")
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Details != "" && e.Details != e.Message {
		b.WriteString(" (" + oneLine(e.Details) + ")")
	}
	for _, id := range sortedIDs(e.NodeErrors) {
		ne := e.NodeErrors[id]
		fmt.Fprintf(&b, "; node %s", id)
		if ne.ClassType != "" {
			fmt.Fprintf(&b, " (%s)", ne.ClassType)
		}
		var reasons []string
		for _, r := range ne.Errors {
			s := r.Message
			if r.Details != "" {
				s += ": " + r.Details
			}
			if s == "" {
				s = r.Type
			}
			reasons = append(reasons, oneLine(s))
		}
		if len(reasons) > 0 {
			b.WriteString(": " + strings.Join(reasons, ", "))
		}
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// decodeRejected reads a 400 reply of POST /prompt.
func decodeRejected(status int, body []byte) *RejectedError {
	e := &RejectedError{Status: status}
	var r struct {
		Error      json.RawMessage `json:"error"`
		NodeErrors map[string]struct {
			ClassType string `json:"class_type"`
			Errors    []struct {
				Type    string `json:"type"`
				Message string `json:"message"`
				Details string `json:"details"`
			} `json:"errors"`
		} `json:"node_errors"`
	}
	if json.Unmarshal(body, &r) != nil {
		e.Message = oneLine(truncate(string(body), 500))
		return e
	}
	if s := rawString(r.Error); s != "" {
		e.Message = s // old servers answered {"error": "text"}
	} else if isObject(r.Error) {
		var eo struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Details string `json:"details"`
		}
		_ = json.Unmarshal(r.Error, &eo)
		e.Type, e.Message, e.Details = eo.Type, eo.Message, eo.Details
	}
	if len(r.NodeErrors) > 0 {
		e.NodeErrors = make(map[string]NodeError, len(r.NodeErrors))
		for id, ne := range r.NodeErrors {
			n := NodeError{ClassType: ne.ClassType}
			for _, x := range ne.Errors {
				n.Errors = append(n.Errors, struct{ Type, Message, Details string }{x.Type, x.Message, x.Details})
			}
			e.NodeErrors[id] = n
		}
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ExecutionError is a prompt that failed while running: a node raised an exception
// (execution_error).
type ExecutionError struct {
	PromptID, NodeID, NodeType      string
	ExceptionType, ExceptionMessage string
	Traceback                       []string
}

func (e *ExecutionError) Error() string {
	msg := strings.TrimSpace(e.ExceptionMessage)
	if msg == "" {
		msg = "(no message)"
	}
	s := fmt.Sprintf("prompt %s failed at node %s (%s): %s: %s", e.PromptID, e.NodeID, e.NodeType, e.ExceptionType, msg)
	if strings.Contains(e.ExceptionType, "OutOfMemory") {
		s += "; the GPU ran out of memory: use a smaller size or fp8 weights, or free VRAM"
	}
	return s
}

// InterruptedError is a prompt that was interrupted (execution_interrupted), by this client
// or by someone else.
type InterruptedError struct{ PromptID, NodeID, NodeType string }

func (e *InterruptedError) Error() string {
	if e.NodeID == "" {
		return fmt.Sprintf("prompt %s was interrupted", e.PromptID)
	}
	return fmt.Sprintf("prompt %s was interrupted at node %s (%s)", e.PromptID, e.NodeID, e.NodeType)
}

// TimeoutError is a prompt during which the server sent nothing for Idle; the client
// asked the server to interrupt it.
type TimeoutError struct {
	PromptID string
	Idle     time.Duration
	Queued   bool // the prompt waited in the queue for Idle without starting; it was deleted from the queue
}

func (e *TimeoutError) Error() string {
	if e.Queued {
		return fmt.Sprintf("prompt %s waited %s in ComfyUI's queue without starting (the server is busy with other prompts), so it was taken off the queue; raise --queue-timeout to wait longer", e.PromptID, e.Idle)
	}
	return fmt.Sprintf("prompt %s: no message from ComfyUI for %s while it executed, so it was interrupted; raise the idle timeout if a node legitimately runs that long without progress", e.PromptID, e.Idle)
}

// StillRunningError says a prompt qwenlab gave up on is still on the server: ComfyUI did not
// confirm the interrupt within the wait (a node without progress runs to its end).
type StillRunningError struct {
	PromptID string
	State    string // "running" or "pending"
	Waited   time.Duration
}

func (e *StillRunningError) Error() string {
	return fmt.Sprintf("prompt %s is still %s on the server %s after qwenlab asked it to stop: ComfyUI stops a prompt only between nodes and at sampler steps", e.PromptID, e.State, e.Waited)
}
