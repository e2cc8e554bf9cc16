package comfy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// QueueItem is one prompt in GET /queue.
type QueueItem struct {
	Number   float64 // the server's priority number (lower runs first)
	PromptID string
	ClientID string // extra_data.client_id: whose prompt it is ("" when absent)
}

// Queue is GET /queue: the prompt running now (at most one on a stock ComfyUI) and the ones
// waiting, in no particular order.
type Queue struct {
	Running, Pending []QueueItem
}

// Len is the number of prompts on the server (ComfyUI's queue_remaining).
func (q Queue) Len() int { return len(q.Running) + len(q.Pending) }

// State says where promptID is: "running", "pending" or "" when it is on neither list.
func (q Queue) State(promptID string) string {
	for _, it := range q.Running {
		if it.PromptID == promptID {
			return PromptRunning
		}
	}
	for _, it := range q.Pending {
		if it.PromptID == promptID {
			return PromptPending
		}
	}
	return ""
}

// Others returns the prompts on the server that were not sent by clientID.
func (q Queue) Others(clientID string) Queue {
	var o Queue
	for _, it := range q.Running {
		if it.ClientID != clientID {
			o.Running = append(o.Running, it)
		}
	}
	for _, it := range q.Pending {
		if it.ClientID != clientID {
			o.Pending = append(o.Pending, it)
		}
	}
	return o
}

// Ahead counts the prompts that run before promptID: the running one (when it is not
// promptID) and the pending ones with a lower number. -1 when promptID is not on the server.
func (q Queue) Ahead(promptID string) int {
	var mine *QueueItem
	for i := range q.Pending {
		if q.Pending[i].PromptID == promptID {
			mine = &q.Pending[i]
		}
	}
	if mine == nil {
		if q.State(promptID) == PromptRunning {
			return 0
		}
		return -1
	}
	n := len(q.Running)
	for _, it := range q.Pending {
		if it.PromptID != promptID && it.Number < mine.Number {
			n++
		}
	}
	return n
}

// Prompt states beyond the outcomes of [Result.Status]: where a prompt is on the server.
const (
	PromptRunning = "running" // executing now
	PromptPending = "pending" // waiting in the queue
	PromptRemoved = "removed" // taken off the queue before it ran (POST /queue delete)
	PromptUnknown = "unknown" // neither in the queue nor in the history (or the server did not answer)
)

// Queue fetches GET /queue.
func (c *Client) Queue(ctx context.Context) (Queue, error) {
	return get(ctx, c, "/queue", decodeQueue)
}

// decodeQueue reads {"queue_running": [item...], "queue_pending": [item...]} where each
// item is [number, prompt_id, prompt, extra_data, outputs].
func decodeQueue(body []byte) (Queue, error) {
	var r struct {
		Running []json.RawMessage `json:"queue_running"`
		Pending []json.RawMessage `json:"queue_pending"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return Queue{}, fmt.Errorf("decode queue: %w", err)
	}
	item := func(raw json.RawMessage) (QueueItem, bool) {
		var parts []json.RawMessage
		if json.Unmarshal(raw, &parts) != nil || len(parts) < 2 {
			return QueueItem{}, false
		}
		var it QueueItem
		var n json.Number
		if json.Unmarshal(parts[0], &n) == nil {
			it.Number, _ = n.Float64()
		}
		if json.Unmarshal(parts[1], &it.PromptID) != nil {
			return QueueItem{}, false
		}
		if len(parts) > 3 {
			var extra struct {
				ClientID string `json:"client_id"`
			}
			_ = json.Unmarshal(parts[3], &extra)
			it.ClientID = extra.ClientID
		}
		return it, true
	}
	var q Queue
	for _, raw := range r.Running {
		if it, ok := item(raw); ok {
			q.Running = append(q.Running, it)
		}
	}
	for _, raw := range r.Pending {
		if it, ok := item(raw); ok {
			q.Pending = append(q.Pending, it)
		}
	}
	return q, nil
}

// DeletePending takes prompts off the server's queue (POST /queue {"delete": ids}). Only
// pending prompts are removed; a running one is left alone (interrupt it instead). It never
// clears the whole queue: other clients' prompts stay.
func (c *Client) DeletePending(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	st, reply, err := c.do(ctx, http.MethodPost, "/queue", nil, map[string][]string{"delete": ids}, 1<<20)
	if err != nil {
		return fmt.Errorf("delete %v from the queue: %w", ids, err)
	}
	if st != http.StatusOK {
		return fmt.Errorf("delete %v from the queue: %w", ids, statusError(st, reply))
	}
	return nil
}

// PromptState says where a prompt is now: its outcome from /history/{id} ("success",
// "error", "interrupted"), else "running" or "pending" from /queue, else [PromptUnknown].
func (c *Client) PromptState(ctx context.Context, promptID string) (string, error) {
	h, found, err := c.History(ctx, promptID)
	if err != nil {
		return PromptUnknown, err
	}
	if found {
		return historyState(h), nil
	}
	q, err := c.Queue(ctx)
	if err != nil {
		return PromptUnknown, err
	}
	if s := q.State(promptID); s != "" {
		return s, nil
	}
	// The history entry is written before the prompt leaves the running list; look again in
	// case it finished between the two calls.
	if h, found, err := c.History(ctx, promptID); err == nil && found {
		return historyState(h), nil
	}
	return PromptUnknown, nil
}

// historyState is a history entry's outcome: "success", "error" or "interrupted".
func historyState(h *HistoryEntry) string {
	for _, m := range h.Status.Messages {
		switch m.Type {
		case MsgExecutionInterrupted:
			return "interrupted"
		case MsgExecutionError:
			return "error"
		}
	}
	if h.Status.StatusStr == "success" {
		return "success"
	}
	return "error"
}
