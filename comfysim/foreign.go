package comfysim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
)

// ForeignNode is the node id of the graph [ForeignPrompt] queues. With
// `--fault slow-node=foreign:DUR` each foreign prompt occupies the server for DUR without
// progress messages, as a colleague's long job would.
const ForeignNode = "foreign"

var foreignSeq atomic.Int64

// ForeignPrompt queues a prompt on the ComfyUI (or simulator) at baseURL the way another
// client would: POST /prompt with that client's id and no WebSocket of its own. The graph is
// EmptyImage (node [ForeignNode], a new colour each time so the cache never serves it) →
// SaveImage. It returns the prompt id.
func ForeignPrompt(ctx context.Context, baseURL, clientID string) (string, error) {
	n := foreignSeq.Add(1)
	body, err := json.Marshal(map[string]any{
		"client_id": clientID,
		"prompt": map[string]any{
			ForeignNode:           map[string]any{"class_type": "EmptyImage", "inputs": map[string]any{"width": 64, "height": 64, "batch_size": 1, "color": n % 0xFFFFFF}},
			ForeignNode + "-save": map[string]any{"class_type": "SaveImage", "inputs": map[string]any{"images": []any{ForeignNode, 0}, "filename_prefix": "foreign"}},
		},
	})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/prompt", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("queue foreign prompt: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("queue foreign prompt: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("queue foreign prompt: HTTP %d: %s", resp.StatusCode, data)
	}
	var r struct {
		PromptID string `json:"prompt_id"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return "", fmt.Errorf("queue foreign prompt: %w", err)
	}
	return r.PromptID, nil
}
