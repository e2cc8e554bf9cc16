package comfy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/comfy/comfytest"
)

// twoNode is EmptyImage → SaveImage.
const twoNode = `{"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
 "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t"}}}`

// sampled is a small graph with a KSampler of 5 steps.
const sampled = `{"3": {"class_type": "KSampler", "inputs": {"seed": 18446744073709551615, "steps": 5}},
 "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0]}},
 "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "t"}}}`

func workflow(t testing.TB, s string) comfy.Workflow {
	t.Helper()
	w, err := comfy.ParseWorkflow([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newClient(t testing.TB, url string, opts comfy.Options) *comfy.Client {
	t.Helper()
	c, err := comfy.NewClient(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRunSuccess(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{})
	c := newClient(t, s.URL, comfy.Options{ClientID: "cid-1"})
	w := workflow(t, sampled)
	res, err := c.Run(ctxT(t), w)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "success" || res.Recovered || res.ClientID != "cid-1" {
		t.Errorf("status %q recovered %v client %q", res.Status, res.Recovered, res.ClientID)
	}
	// The request the server saw: our client id, our prompt id, the graph with the big seed.
	ps := s.Prompts()
	if len(ps) != 1 || ps[0].ClientID != "cid-1" || ps[0].ID != res.PromptID || len(res.PromptID) != 36 {
		t.Fatalf("prompts = %+v, result id %q", ps, res.PromptID)
	}
	if !strings.Contains(string(ps[0].Raw), `"seed":18446744073709551615`) {
		t.Errorf("seed not sent exactly: %s", ps[0].Raw)
	}
	// Socket before POST, and no Origin header.
	if ev := s.Events(); len(ev) != 2 || ev[0] != "ws cid-1" || !strings.HasPrefix(ev[1], "prompt ") {
		t.Errorf("events = %v, want the socket opened before the POST", ev)
	}
	if o := s.Origins(); len(o) != 1 || o[0] != "" {
		t.Errorf("origins = %q, want no Origin header", o)
	}
	// Timeline.
	if !(res.Submit.Before(res.Accepted) || res.Submit.Equal(res.Accepted)) || res.Started.IsZero() || res.ImageAt.IsZero() ||
		res.End.Before(res.ImageAt) || res.End.Before(res.Started) {
		t.Errorf("times out of order: submit %v accepted %v started %v image %v end %v", res.Submit, res.Accepted, res.Started, res.ImageAt, res.End)
	}
	if res.E2E() <= 0 || res.Queue() < 0 || res.Image() <= 0 || res.Image() > res.E2E() {
		t.Errorf("E2E %v Queue %v Image %v", res.E2E(), res.Queue(), res.Image())
	}
	if d, ok := res.Server(); !ok || d < 0 || res.ServerStartMS == 0 {
		t.Errorf("Server() = %v, %v (start %d end %d)", d, ok, res.ServerStartMS, res.ServerEndMS)
	}
	// Nodes in execution order with class types from the workflow, sampler ticks.
	var ids []string
	for _, n := range res.Nodes {
		ids = append(ids, n.ID+":"+n.ClassType)
		if n.Start.IsZero() || n.End.IsZero() || n.End.Before(n.Start) {
			t.Errorf("node %s: start %v end %v", n.ID, n.Start, n.End)
		}
	}
	if got := strings.Join(ids, " "); got != "3:KSampler 8:VAEDecode 9:SaveImage" {
		t.Errorf("nodes = %s", got)
	}
	if n := res.Nodes[0]; len(n.Ticks) != 5 || n.Max != 5 {
		t.Errorf("sampler ticks %d max %d", len(n.Ticks), n.Max)
	}
	if imgs := res.Outputs["9"]; len(imgs) != 1 || imgs[0].Type != "output" || !strings.HasSuffix(imgs[0].Filename, ".png") {
		t.Fatalf("outputs = %+v", res.Outputs)
	}
	if res.Number != 0 || len(res.Cached) != 0 || res.IsCached("3") {
		t.Errorf("number %d cached %v", res.Number, res.Cached)
	}
	// The image can be fetched.
	img, err := c.View(ctxT(t), res.Outputs["9"][0])
	if err != nil || string(img) != string(comfytest.ImageBytes(res.Outputs["9"][0].Filename)) {
		t.Errorf("View = %q, %v", img, err)
	}
	if _, err := c.View(ctxT(t), comfy.ImageRef{Filename: "nope.png"}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("View of a missing file: %v", err)
	}
}

func TestRunKeepsSocketAcrossRuns(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{})
	c := newClient(t, s.URL, comfy.Options{})
	for i := 0; i < 3; i++ {
		res, err := c.Run(ctxT(t), workflow(t, twoNode))
		if err != nil || res.Status != "success" {
			t.Fatalf("run %d: %v %v", i, res.Status, err)
		}
		if res.Number != int64(i) {
			t.Errorf("run %d: number %d", i, res.Number)
		}
	}
	if n := s.Connects(); n != 1 {
		t.Errorf("%d WebSocket connections for 3 runs, want 1", n)
	}
	ps := s.Prompts()
	if ps[0].ID == ps[1].ID || ps[1].ID == ps[2].ID {
		t.Error("prompt ids repeat")
	}
}

func TestRunMessagesBeforeReply(t *testing.T) {
	// The whole run is played before the POST reply: the client must already be collecting.
	s := comfytest.NewServer(t, comfytest.Script{Steps: func(p comfytest.Prompt) []comfytest.Step {
		steps := comfytest.Success(p)
		// The pause lets every frame reach the client well before the reply does.
		return append(steps, comfytest.Step{Delay: 50 * time.Millisecond}, comfytest.Step{Reply: true})
	}})
	c := newClient(t, s.URL, comfy.Options{})
	res, err := c.Run(ctxT(t), workflow(t, twoNode))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "success" || len(res.Nodes) != 2 || res.Started.IsZero() {
		t.Fatalf("result = %+v", res)
	}
	// Receipt times are when the frames arrived, before the POST reply.
	if !res.Started.Before(res.Accepted) || !res.End.Before(res.Accepted) {
		t.Errorf("started %v end %v accepted %v: messages should predate the reply", res.Started, res.End, res.Accepted)
	}
}

func TestRunIgnoresOtherPromptsAndBinaryFrames(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{Steps: func(p comfytest.Prompt) []comfytest.Step {
		other := comfytest.Prompt{ID: "someone-else", Workflow: p.Workflow}
		steps := comfytest.Start(p)
		steps = append(steps,
			comfytest.Msg(comfy.MsgExecuting, comfy.ExecutingMsg{Node: ptr("2")}), // on-connect style, no prompt id
			comfytest.Final(other), // another prompt's end marker
			comfytest.Step{Binary: []byte{0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xd8}}, // JPEG preview
			comfytest.Step{Binary: []byte{0, 0}},                               // short frame
			comfytest.Step{Raw: []byte(`{"type": "executing", "data": `)},      // malformed text
		)
		steps = append(steps, comfytest.Nodes(p, "1", "2")...)
		return append(steps, comfytest.End(p)...)
	}})
	c := newClient(t, s.URL, comfy.Options{})
	res, err := c.Run(ctxT(t), workflow(t, twoNode))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "success" || res.BinaryFrames != 2 || len(res.Nodes) != 2 || res.Nodes[0].ID != "1" {
		t.Errorf("status %q binary %d nodes %+v", res.Status, res.BinaryFrames, res.Nodes)
	}
}

func TestRunCached(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{Steps: func(p comfytest.Prompt) []comfytest.Step {
		imgs, _ := json.Marshal([]comfy.ImageRef{{Filename: "old.png", Type: "output"}})
		return []comfytest.Step{
			comfytest.Msg(comfy.MsgExecutionStart, comfy.ExecutionStartMsg{PromptID: p.ID}),
			comfytest.Msg(comfy.MsgExecutionCached, comfy.ExecutionCachedMsg{Nodes: []string{"1", "2"}, PromptID: p.ID}),
			comfytest.Msg(comfy.MsgExecuted, comfy.ExecutedMsg{Node: "2", Output: map[string]json.RawMessage{"images": imgs}, PromptID: p.ID}),
			comfytest.Msg(comfy.MsgExecutionSuccess, comfy.ExecutionSuccessMsg{PromptID: p.ID}),
			{History: true},
			comfytest.Final(p),
		}
	}})
	c := newClient(t, s.URL, comfy.Options{})
	res, err := c.Run(ctxT(t), workflow(t, twoNode))
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsCached("1") || !res.IsCached("2") || len(res.Nodes) != 0 || res.Outputs["2"][0].Filename != "old.png" {
		t.Errorf("cached %v nodes %v outputs %v", res.Cached, res.Nodes, res.Outputs)
	}
}

func TestRunExecutionError(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{Steps: func(p comfytest.Prompt) []comfytest.Step {
		steps := comfytest.Start(p)
		steps = append(steps, comfytest.Nodes(p, "3")...)
		id := "8"
		return append(steps,
			comfytest.Msg(comfy.MsgExecuting, comfy.ExecutingMsg{Node: &id, DisplayNode: &id, PromptID: p.ID}),
			comfytest.Msg(comfy.MsgExecutionError, comfy.ExecutionErrorMsg{PromptID: p.ID, NodeID: "8", NodeType: "VAEDecode",
				Executed: []string{"3"}, ExceptionMessage: "CUDA out of memory.\n", ExceptionType: "torch.OutOfMemoryError",
				Traceback: []string{"  File \"x.py\", line 1\n"}, CurrentOutputs: []string{"3", "8", "9"}}),
			comfytest.Step{History: true},
			comfytest.Msg(comfy.MsgStatus, comfy.StatusMsg{}),
			comfytest.Final(p),
		)
	}})
	c := newClient(t, s.URL, comfy.Options{})
	res, err := c.Run(ctxT(t), workflow(t, sampled))
	var ee *comfy.ExecutionError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want *ExecutionError", err)
	}
	if ee.NodeID != "8" || ee.NodeType != "VAEDecode" || ee.ExceptionType != "torch.OutOfMemoryError" || len(ee.Traceback) != 1 || ee.PromptID != res.PromptID {
		t.Errorf("error = %+v", ee)
	}
	if !strings.Contains(err.Error(), "node 8 (VAEDecode): torch.OutOfMemoryError: CUDA out of memory.") || strings.Contains(err.Error(), "\n") {
		t.Errorf("message = %q", err)
	}
	if res == nil || res.Status != "error" || res.End.IsZero() || res.ServerEndMS == 0 || len(res.Nodes) != 2 {
		t.Errorf("result = %+v", res)
	}
}

func TestRunInterrupted(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{Steps: func(p comfytest.Prompt) []comfytest.Step {
		steps := comfytest.Start(p)
		steps = append(steps, comfytest.Nodes(p, "1")...)
		return append(steps,
			comfytest.Msg(comfy.MsgExecutionInterrupted, comfy.ExecutionInterruptedMsg{PromptID: p.ID, NodeID: "2", NodeType: "SaveImage", Executed: []string{"1"}}),
			comfytest.Step{History: true},
			comfytest.Final(p),
		)
	}})
	c := newClient(t, s.URL, comfy.Options{})
	res, err := c.Run(ctxT(t), workflow(t, twoNode))
	var ie *comfy.InterruptedError
	if !errors.As(err, &ie) || ie.NodeID != "2" || ie.NodeType != "SaveImage" {
		t.Fatalf("err = %v", err)
	}
	if res.Status != "interrupted" || res.ServerEndMS == 0 {
		t.Errorf("result = %+v", res)
	}
}

func TestRunIdleTimeout(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{Steps: func(p comfytest.Prompt) []comfytest.Step {
		steps := comfytest.Start(p)
		id := "1"
		return append(steps,
			comfytest.Msg(comfy.MsgExecuting, comfy.ExecutingMsg{Node: &id, PromptID: p.ID}),
			comfytest.Step{Hang: true},
			comfytest.Msg(comfy.MsgExecutionInterrupted, comfy.ExecutionInterruptedMsg{PromptID: p.ID, NodeID: "1", NodeType: "EmptyImage"}),
			comfytest.Step{History: true},
			comfytest.Final(p),
		)
	}})
	c := newClient(t, s.URL, comfy.Options{IdleTimeout: 150 * time.Millisecond})
	res, err := c.Run(ctxT(t), workflow(t, twoNode))
	var te *comfy.TimeoutError
	if !errors.As(err, &te) || te.Idle != 150*time.Millisecond || te.PromptID != res.PromptID {
		t.Fatalf("err = %v", err)
	}
	if res.Status != "timeout" || res.Started.IsZero() || len(res.Nodes) != 1 {
		t.Errorf("result = %+v", res)
	}
	if got := s.Interrupts(); len(got) != 1 || got[0] != res.PromptID {
		t.Errorf("interrupts = %q, want [%s]", got, res.PromptID)
	}
	if res.Final != "interrupted" {
		t.Errorf("final state %q, want the interrupt the server confirmed", res.Final)
	}
	// The client is still usable on the same socket (the fake hangs again, so it times out
	// again, for its own prompt id).
	before := s.Connects()
	res2, err := c.Run(ctxT(t), workflow(t, twoNode))
	if !errors.As(err, &te) || te.PromptID != res2.PromptID || res2.PromptID == res.PromptID {
		t.Errorf("second run: %v", err)
	}
	if s.Connects() != before {
		t.Errorf("connects = %d, want the socket kept after a timeout", s.Connects())
	}
}

func TestRunContextCancel(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{Steps: func(p comfytest.Prompt) []comfytest.Step {
		return append(comfytest.Start(p), comfytest.Step{Hang: true})
	}})
	c := newClient(t, s.URL, comfy.Options{InterruptWait: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := c.Run(ctx, workflow(t, twoNode))
	if !errors.Is(err, context.DeadlineExceeded) || res.Status != "interrupted" {
		t.Fatalf("err = %v status %q", err, res.Status)
	}
	if got := s.Interrupts(); len(got) != 1 || got[0] != res.PromptID {
		t.Errorf("interrupts = %q", got)
	}
}

func TestRunDropRecoveredFromHistory(t *testing.T) {
	// The socket drops mid-prompt and nothing more comes over the WebSocket: the outcome
	// comes from /history.
	s := comfytest.NewServer(t, comfytest.Script{Steps: func(p comfytest.Prompt) []comfytest.Step {
		steps := comfytest.Start(p)
		steps = append(steps, comfytest.Nodes(p, "1")...)
		steps = append(steps, comfytest.Step{Drop: true}, comfytest.Step{Delay: 30 * time.Millisecond})
		steps = append(steps, comfytest.Nodes(p, "2")...) // lost: no socket
		return append(steps, comfytest.Msg(comfy.MsgExecutionSuccess, comfy.ExecutionSuccessMsg{PromptID: p.ID}), comfytest.Step{History: true})
	}})
	c := newClient(t, s.URL, comfy.Options{})
	res, err := c.Run(ctxT(t), workflow(t, twoNode))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Recovered || res.Status != "success" || res.End.IsZero() || res.ServerEndMS == 0 || res.ServerStartMS == 0 {
		t.Errorf("result = %+v", res)
	}
	if len(res.Outputs["2"]) != 1 {
		t.Errorf("outputs from history = %+v", res.Outputs)
	}
	if s.Connects() < 2 {
		t.Errorf("connects = %d, want a reconnect", s.Connects())
	}
}

func TestRunDropResumedOnNewSocket(t *testing.T) {
	// The socket drops; the client reconnects with the same id and the rest of the prompt
	// arrives on the new socket.
	s := comfytest.NewServer(t, comfytest.Script{Steps: func(p comfytest.Prompt) []comfytest.Step {
		steps := comfytest.Start(p)
		steps = append(steps, comfytest.Nodes(p, "1")...)
		steps = append(steps, comfytest.Step{Drop: true}, comfytest.Step{WaitReconnect: true}, comfytest.Step{Delay: 20 * time.Millisecond})
		steps = append(steps, comfytest.Nodes(p, "2")...)
		return append(steps, comfytest.End(p)...)
	}})
	c := newClient(t, s.URL, comfy.Options{ClientID: "same"})
	res, err := c.Run(ctxT(t), workflow(t, twoNode))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Recovered || res.Status != "success" || len(res.Outputs["2"]) != 1 {
		t.Errorf("result = %+v", res)
	}
	ev := s.Events()
	if len(ev) < 3 || ev[0] != "ws same" || ev[len(ev)-1] != "ws same" {
		t.Errorf("events = %v, want a reconnect with the same client id", ev)
	}
}

func TestRunRejected(t *testing.T) {
	body := map[string]any{
		"error": map[string]any{"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": map[string]any{}},
		"node_errors": map[string]any{
			"37": map[string]any{"errors": []any{map[string]any{"type": "value_not_in_list", "message": "Value not in list", "details": "unet_name: 'q.safetensors' not in []", "extra_info": map[string]any{}}},
				"dependent_outputs": []string{"60"}, "class_type": "UNETLoader"},
		},
	}
	s := comfytest.NewServer(t, comfytest.Script{Reject: func(comfytest.Prompt) (int, any) { return http.StatusBadRequest, body }})
	c := newClient(t, s.URL, comfy.Options{})
	res, err := c.Run(ctxT(t), workflow(t, twoNode))
	var re *comfy.RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v", err)
	}
	if re.Status != 400 || re.Type != "prompt_outputs_failed_validation" || re.NodeErrors["37"].ClassType != "UNETLoader" || re.NodeErrors["37"].Errors[0].Type != "value_not_in_list" {
		t.Errorf("rejection = %+v", re)
	}
	want := "prompt rejected (HTTP 400 prompt_outputs_failed_validation): Prompt outputs failed validation; node 37 (UNETLoader): Value not in list: unet_name: 'q.safetensors' not in []"
	if err.Error() != want {
		t.Errorf("Error() =\n%q\nwant\n%q", err, want)
	}
	if res == nil || res.Status != "rejected" || res.Submit.IsZero() {
		t.Errorf("result = %+v", res)
	}
}

func TestRunRejectedUnknownNode(t *testing.T) {
	body := map[string]any{"error": map[string]any{"type": "missing_node_type", "message": "Node 'QwenT2IWrapper' not found. The custom node may not be installed.", "details": "Node ID '#6'",
		"extra_info": map[string]any{"node_id": "6", "class_type": "QwenT2IWrapper", "node_title": "QwenT2IWrapper"}}, "node_errors": map[string]any{}}
	s := comfytest.NewServer(t, comfytest.Script{Reject: func(comfytest.Prompt) (int, any) { return 400, body }})
	c := newClient(t, s.URL, comfy.Options{})
	_, err := c.Run(ctxT(t), workflow(t, twoNode))
	if err == nil || err.Error() != "prompt rejected (HTTP 400 missing_node_type): Node 'QwenT2IWrapper' not found. The custom node may not be installed. (Node ID '#6')" {
		t.Errorf("err = %v", err)
	}
}

func TestRunServerError(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{Reject: func(comfytest.Prompt) (int, any) { return 500, "boom" }})
	c := newClient(t, s.URL, comfy.Options{})
	res, err := c.Run(ctxT(t), workflow(t, twoNode))
	var re *comfy.RejectedError
	if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "queue prompt: HTTP 500") || res.Status != "error" {
		t.Errorf("err = %v, status %q", err, res.Status)
	}
}

func TestRunNoServer(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1", comfy.Options{})
	res, err := c.Run(ctxT(t), workflow(t, twoNode))
	if err == nil || res == nil || res.Status != "error" || !strings.Contains(err.Error(), "connect websocket") {
		t.Errorf("res %+v err %v", res, err)
	}
	if err := c.Ready(ctxT(t)); err == nil {
		t.Error("Ready succeeded without a server")
	}
}

func TestRunAfterClose(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{})
	c := newClient(t, s.URL, comfy.Options{})
	if _, err := c.Run(ctxT(t), workflow(t, twoNode)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := c.Run(ctxT(t), workflow(t, twoNode)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("run after Close: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestRunFrameOverReadLimit(t *testing.T) {
	// A frame larger than ReadLimit breaks the socket; the client reconnects and still
	// learns the outcome (from the new socket or /history).
	s := comfytest.NewServer(t, comfytest.Script{Steps: func(p comfytest.Prompt) []comfytest.Step {
		steps := comfytest.Start(p)
		big := make([]byte, 8<<10)
		copy(big, []byte{0, 0, 0, 1, 0, 0, 0, 2})
		steps = append(steps, comfytest.Step{Binary: big}, comfytest.Step{Delay: 30 * time.Millisecond})
		steps = append(steps, comfytest.Nodes(p, "1", "2")...)
		return append(steps, comfytest.End(p)...)
	}})
	c := newClient(t, s.URL, comfy.Options{ReadLimit: 1 << 10})
	res, err := c.Run(ctxT(t), workflow(t, twoNode))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "success" || !res.Recovered || res.BinaryFrames != 0 {
		t.Errorf("status %q recovered %v binary %d", res.Status, res.Recovered, res.BinaryFrames)
	}
	if s.Connects() != 2 {
		t.Errorf("connects = %d, want 2", s.Connects())
	}
}

func TestRunReportsProgress(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{})
	var got []comfy.Progress
	c := newClient(t, s.URL, comfy.Options{Progress: func(p comfy.Progress) { got = append(got, p) }})
	res, err := c.Run(ctxT(t), workflow(t, sampled))
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	steps := 0
	for _, p := range got {
		if p.PromptID != res.PromptID {
			t.Errorf("progress of prompt %q during %q", p.PromptID, res.PromptID)
		}
		if p.Max == 0 {
			nodes = append(nodes, p.Node+" "+p.ClassType)
			continue
		}
		steps++
		if p.Node != "3" || p.ClassType != "KSampler" || p.Max != 5 || p.Step != steps {
			t.Errorf("step %d reported as %+v", steps, p)
		}
	}
	if want := "3 KSampler,8 VAEDecode,9 SaveImage"; strings.Join(nodes, ",") != want || steps != 5 {
		t.Errorf("node starts %q and %d steps; want %q and 5", nodes, steps, want)
	}
}

func TestRunDropThenCancelIsNotRecovered(t *testing.T) {
	// The socket drops mid-prompt and nothing tells the outcome before the run is cancelled:
	// the result is "interrupted" and was not recovered from anywhere (issue 10, item 18).
	s := comfytest.NewServer(t, comfytest.Script{Steps: func(p comfytest.Prompt) []comfytest.Step {
		steps := comfytest.Start(p)
		steps = append(steps, comfytest.Nodes(p, "1")...)
		return append(steps, comfytest.Step{Drop: true}, comfytest.Step{Hang: true})
	}})
	c := newClient(t, s.URL, comfy.Options{InterruptWait: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res, err := c.Run(ctx, workflow(t, twoNode))
	if !errors.Is(err, context.DeadlineExceeded) || res.Status != "interrupted" {
		t.Fatalf("err = %v status %q", err, res.Status)
	}
	if res.Recovered {
		t.Errorf("recovered = true for a prompt whose outcome nobody told")
	}
}
