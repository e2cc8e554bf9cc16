package comfy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
)

const (
	queueCheckEvery = time.Second // GET /queue while our prompt is pending
	pollMin         = 50 * time.Millisecond
	pollMax         = time.Second
	lostAfter       = 30 * time.Second // give up on a server that stays unreachable after a drop
)

type promptRequest struct {
	Prompt   Workflow `json:"prompt"`
	ClientID string   `json:"client_id"`
	PromptID string   `json:"prompt_id"`
}

// Run queues the workflow and follows it to the end. It opens (or reuses) the WebSocket
// before POST /prompt, sends its own prompt_id, ends on the final `executing` null for that
// id, then reads /history/{id}. A rejected graph gives *[RejectedError], a node exception
// *[ExecutionError], an interrupt *[InterruptedError], silence for the idle timeout
// *[TimeoutError], a wait in the queue over the queue timeout a *[TimeoutError] with Queued.
// A prompt given up on (timeout, ctx) is taken off the server: deleted from the queue while
// pending, interrupted by id while running, with a bounded wait for the server to confirm;
// Result.Final says where it was left (a *[StillRunningError] joins the error when the server
// did not stop it). When the socket drops mid-prompt Run reconnects with the same client id
// and recovers the outcome from /history (Result.Recovered).
// The *Result is never nil: on error it holds what was recorded.
func (c *Client) Run(ctx context.Context, w Workflow) (*Result, error) {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	res := &Result{PromptID: uuid.NewString(), ClientID: c.clientID, Outputs: map[string][]ImageRef{}, Ahead: -1}
	ws, err := c.socket(ctx)
	if err != nil {
		res.Status = "error"
		return res, fmt.Errorf("run prompt: connect websocket: %w", err)
	}
	ws.listen(true)
	t := &tracker{res: res, wf: w, open: -1, progress: c.progress}
	defer func() {
		if t.ws != nil {
			t.ws.listen(false)
		}
	}()
	t.ws = ws

	res.Submit = time.Now()
	st, reply, err := c.do(ctx, http.MethodPost, "/prompt", nil, promptRequest{Prompt: w, ClientID: c.clientID, PromptID: res.PromptID}, maxBody)
	if err != nil {
		res.Status = "error"
		return res, fmt.Errorf("queue prompt: %w", err)
	}
	res.Accepted = time.Now()
	switch {
	case st == http.StatusBadRequest:
		res.Status = "rejected"
		return res, decodeRejected(st, reply)
	case st != http.StatusOK:
		res.Status = "error"
		return res, fmt.Errorf("queue prompt: %w", statusError(st, reply))
	}
	var ok struct {
		PromptID   string          `json:"prompt_id"`
		Number     json.RawMessage `json:"number"`
		NodeErrors json.RawMessage `json:"node_errors"`
	}
	if err := json.Unmarshal(reply, &ok); err != nil {
		res.Status = "error"
		return res, fmt.Errorf("queue prompt: decode reply: %w", err)
	}
	if ok.PromptID != "" {
		res.PromptID = ok.PromptID // servers before ~0.3.44 pick their own id
	}
	res.Number = rawInt(ok.Number)
	// Who is ahead of us: asked once, beside the prompt, so it costs the measurement nothing.
	ahead := make(chan int, 1)
	go func() {
		n := -1
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if q, err := c.Queue(qctx); err == nil {
			n = q.Ahead(res.PromptID)
		}
		ahead <- n
	}()
	defer func() {
		select {
		case n := <-ahead:
			res.Ahead = n
		case <-time.After(5 * time.Second):
			res.Ahead = -1
		}
	}()
	if isObject(ok.NodeErrors) && len(ok.NodeErrors) > 2 {
		if ne := decodeRejected(st, append(append([]byte(`{"node_errors":`), ok.NodeErrors...), '}')).NodeErrors; len(ne) > 0 {
			res.NodeErrors = ne
		}
	}
	return c.follow(ctx, t)
}

// follow consumes the prompt's messages until its end, a timeout, or cancellation. While the
// prompt waits in the queue only the queue timeout applies (a pending prompt hears nothing but
// status broadcasts); once it executes, silence longer than the idle timeout gives up on it.
func (c *Client) follow(ctx context.Context, t *tracker) (*Result, error) {
	res := t.res
	last := res.Submit // last sign of life
	dropped := false
	nextPoll := time.Time{}
	unreachable := time.Time{} // since when neither /history nor /ws answer after a drop
	poll := pollMin
	nextQueueCheck := res.Accepted.Add(queueCheckEvery)
	noted, runningSeen := false, false
	timer := time.NewTimer(c.idle)
	defer timer.Stop()
	var buf []frame
	for {
		if t.ws != nil {
			dead := t.ws.dead() // before take: the reader queues its last frames before it stops
			buf = t.ws.take(buf)
			for _, f := range buf {
				last = f.at
				t.handle(f)
				if t.done {
					res.Recovered = dropped // the end came on a new socket
					return c.finish(ctx, t)
				}
			}
			if dead {
				// The socket dropped: reconnect with the same client id (the server routes the
				// rest of the prompt to the new socket) and watch /history meanwhile.
				dropped = true
				c.drop(t.ws)
				t.ws = nil
				nextPoll = time.Now()
			}
		}
		if dropped {
			if t.ws == nil {
				if ws, err := c.socket(ctx); err == nil {
					ws.listen(true)
					t.ws = ws
					continue
				}
			}
			if !time.Now().Before(nextPoll) {
				h, found, err := c.History(ctx, res.PromptID)
				switch {
				case err == nil:
					last = time.Now()
					unreachable = time.Time{}
				case unreachable.IsZero():
					unreachable = time.Now()
				case time.Since(unreachable) >= min(c.idle, lostAfter) && t.ws == nil:
					res.Status = "error"
					res.Final = PromptUnknown
					return res, fmt.Errorf("run prompt %s: lost the connection to ComfyUI mid-prompt and could not reach it again for %s: %w",
						res.PromptID, time.Since(unreachable).Round(time.Second), err)
				}
				if found {
					return c.recovered(t, h)
				}
				nextPoll = time.Now().Add(poll)
				poll = min(poll*2, pollMax)
			}
		}
		running := t.started() || runningSeen
		if !running && !time.Now().Before(nextQueueCheck) {
			// Still pending: say behind how many prompts, and notice a prompt that another
			// client removed from the queue (or that ended unseen).
			nextQueueCheck = time.Now().Add(queueCheckEvery)
			if q, err := c.Queue(ctx); err == nil {
				switch q.State(res.PromptID) {
				case PromptRunning:
					// It executes, though its execution_start never reached us: from now on
					// silence counts.
					runningSeen, last = true, time.Now()
				case PromptPending:
					if !noted {
						noted = true
						c.notify(fmt.Sprintf("prompt %s waits in ComfyUI's queue behind %d other prompt(s) (--queue-timeout %s)", res.PromptID, q.Ahead(res.PromptID), c.queue))
					}
				case "":
					if h, found, err := c.History(ctx, res.PromptID); err == nil && found {
						return c.recovered(t, h)
					} else if err == nil && !t.started() {
						res.Status = "error"
						res.Final = PromptRemoved
						return res, fmt.Errorf("run prompt %s: the prompt left ComfyUI's queue without running (another client deleted it or cleared the queue)", res.PromptID)
					}
				}
			}
		}
		var wait time.Duration
		if running {
			since := time.Since(last)
			if since >= c.idle {
				return c.giveUp(ctx, t, &TimeoutError{PromptID: res.PromptID, Idle: c.idle})
			}
			wait = c.idle - since
		} else {
			since := time.Since(res.Accepted)
			if since >= c.queue {
				return c.giveUp(ctx, t, &TimeoutError{PromptID: res.PromptID, Idle: c.queue, Queued: true})
			}
			wait = min(c.queue-since, max(time.Until(nextQueueCheck), time.Millisecond))
		}
		if dropped {
			wait = min(wait, max(time.Until(nextPoll), time.Millisecond))
		}
		timer.Reset(wait)
		var notify <-chan struct{}
		var done <-chan struct{}
		if t.ws != nil {
			notify, done = t.ws.notify, t.ws.done
		}
		select {
		case <-notify:
		case <-done:
		case <-timer.C:
		case <-ctx.Done():
			return c.giveUp(ctx, t, fmt.Errorf("run prompt %s: %w", res.PromptID, ctx.Err()))
		}
	}
}

// finish completes a prompt that ended on the WebSocket.
func (c *Client) finish(ctx context.Context, t *tracker) (*Result, error) {
	res := t.res
	var herr error
	for attempt := 0; attempt < 3; attempt++ {
		h, found, err := c.History(ctx, res.PromptID)
		if err != nil {
			herr = err
			break
		}
		if found {
			t.merge(h)
			herr = nil
			break
		}
		herr = fmt.Errorf("get history %s: no entry after the prompt ended", res.PromptID)
		if attempt < 2 {
			time.Sleep(pollMin)
		}
	}
	err := t.outcome()
	res.Final = res.Status
	if err == nil && res.Status == "" {
		res.Status = "error"
		res.Final = PromptUnknown
		if herr != nil {
			return res, fmt.Errorf("run prompt %s: the prompt ended without execution_success, and %w", res.PromptID, herr)
		}
		return res, fmt.Errorf("run prompt %s: the prompt ended without execution_success", res.PromptID)
	}
	return res, err
}

// recovered completes a prompt from its history entry (after the socket dropped, or when
// the prompt ended without a word on the socket).
func (c *Client) recovered(t *tracker, h *HistoryEntry) (*Result, error) {
	t.res.End = time.Now()
	t.res.Recovered = true
	t.merge(h)
	t.res.Final = historyState(h)
	if err := t.outcome(); err != nil || t.res.Status != "" {
		return t.res, err
	}
	t.res.Status = "error"
	return t.res, fmt.Errorf("run prompt %s: history status %q", t.res.PromptID, h.Status.StatusStr)
}

// giveUp makes sure a prompt qwenlab stops waiting for does not stay on the server: a
// pending prompt is deleted from the queue, a running one is interrupted by its id, and the
// server's confirmation (execution_interrupted or another end) is awaited for at most the
// interrupt wait. cause is why (a *TimeoutError or the context's end). res.Final records
// where the prompt was left. A prompt that finished with success meanwhile is a success.
func (c *Client) giveUp(ctx context.Context, t *tracker, cause error) (*Result, error) {
	res := t.res
	status := "timeout"
	if ctx.Err() != nil {
		status = "interrupted"
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.intrWait+5*time.Second)
	defer cancel()
	var errs []error
	if !t.started() {
		if err := c.DeletePending(gctx, res.PromptID); err != nil {
			errs = append(errs, err)
		}
		q, err := c.Queue(gctx)
		switch {
		case err != nil:
			errs = append(errs, err)
		case q.State(res.PromptID) == "":
			// Off the queue: deleted before it ran, or it ran to its end meanwhile.
			if h, found, herr := c.History(gctx, res.PromptID); herr == nil && found {
				return c.settled(t, h, status, cause)
			}
			res.Status = status
			res.Final = PromptRemoved
			return res, cause
		}
		// It started meanwhile (or /queue did not answer): interrupt it.
	}
	if err := c.Interrupt(gctx, res.PromptID); err != nil {
		// The server does not answer (it crashed or the run ends with it): nothing to wait for.
		res.Status = status
		res.Final = PromptUnknown
		return res, errors.Join(append([]error{cause}, append(errs, err)...)...)
	}
	c.notify(fmt.Sprintf("interrupted prompt %s; waiting up to %s for ComfyUI to stop it (it stops only between nodes and at sampler steps)", res.PromptID, c.intrWait))
	if h, ok := c.awaitEnd(gctx, t); ok {
		return c.settled(t, h, status, cause)
	}
	res.Status = status
	res.Final = PromptUnknown
	if st, err := c.PromptState(gctx, res.PromptID); err == nil {
		res.Final = st
	}
	switch res.Final {
	case PromptRunning, PromptPending:
		errs = append(errs, &StillRunningError{PromptID: res.PromptID, State: res.Final, Waited: c.intrWait})
	case "success", "error", "interrupted":
		if h, found, err := c.History(gctx, res.PromptID); err == nil && found {
			return c.settled(t, h, status, cause)
		}
	}
	return res, errors.Join(append([]error{cause}, errs...)...)
}

// awaitEnd follows the prompt after an interrupt until the server says it ended (on the
// socket or in /history), for at most the interrupt wait.
func (c *Client) awaitEnd(ctx context.Context, t *tracker) (*HistoryEntry, bool) {
	deadline := time.Now().Add(c.intrWait)
	poll := pollMin
	failures := 0
	var buf []frame
	for time.Now().Before(deadline) {
		if t.ws != nil && !t.ws.dead() {
			buf = t.ws.take(buf)
			for _, f := range buf {
				t.handle(f)
			}
		}
		h, found, err := c.History(ctx, t.res.PromptID)
		switch {
		case err == nil && found:
			return h, true
		case err != nil:
			if failures++; failures >= 3 {
				return nil, false // the server stopped answering
			}
		default:
			failures = 0
		}
		if ctx.Err() != nil {
			return nil, false
		}
		var notify <-chan struct{}
		if t.ws != nil {
			notify = t.ws.notify
		}
		select {
		case <-notify:
		case <-time.After(min(poll, time.Until(deadline))):
			poll = min(poll*2, 500*time.Millisecond)
		case <-ctx.Done():
			return nil, false
		}
	}
	return nil, false
}

// settled records the end of a prompt given up on, from its history entry. One that
// succeeded after all is a success (the report must not call it a timeout); any other end
// keeps the reason it was given up for.
func (c *Client) settled(t *tracker, h *HistoryEntry, status string, cause error) (*Result, error) {
	res := t.res
	t.merge(h)
	res.Final = historyState(h)
	if res.End.IsZero() {
		res.End = time.Now()
	}
	if res.Final == "success" && status == "timeout" {
		res.Status = "success"
		res.Note = fmt.Sprintf("finished with success after qwenlab gave up on it (%v)", cause)
		return res, nil
	}
	res.Status = status
	return res, cause
}

// tracker turns the prompt's messages into a Result.
type tracker struct {
	res     *Result
	wf      Workflow
	ws      *wsConn
	open    int // index in res.Nodes of the node running, -1 if none
	done    bool
	success bool
	failure error
	// progress, when set, hears of each node start and sampler step.
	progress func(Progress)
}

func (t *tracker) handle(f frame) {
	res := t.res
	if f.binary {
		res.BinaryFrames++
		return
	}
	m, err := DecodeMessage(f.data)
	if err != nil {
		return
	}
	pid := res.PromptID
	switch m.Type {
	case MsgExecutionStart:
		var d ExecutionStartMsg
		if m.Decode(&d) != nil || d.PromptID != pid {
			return
		}
		if res.Started.IsZero() {
			res.Started = f.at
		}
		res.ServerStartMS = d.Timestamp
	case MsgExecutionCached:
		var d ExecutionCachedMsg
		if m.Decode(&d) != nil || d.PromptID != pid {
			return
		}
		res.Cached = append(res.Cached, d.Nodes...)
	case MsgExecuting:
		var d ExecutingMsg
		if m.Decode(&d) != nil || d.PromptID != pid {
			return // includes the on-connect message, which has no prompt_id
		}
		t.closeOpen(f.at)
		if d.Node == nil {
			res.End = f.at
			t.done = true
			return
		}
		res.Nodes = append(res.Nodes, NodeRun{ID: *d.Node, ClassType: t.wf[*d.Node].ClassType, Start: f.at})
		t.open = len(res.Nodes) - 1
		if t.progress != nil {
			t.progress(Progress{PromptID: pid, Node: *d.Node, ClassType: t.wf[*d.Node].ClassType})
		}
	case MsgProgress:
		var d ProgressMsg
		if m.Decode(&d) != nil || (d.PromptID != "" && d.PromptID != pid) {
			return
		}
		if i := t.find(d.Node); i >= 0 {
			n := &res.Nodes[i]
			n.Ticks = append(n.Ticks, f.at)
			n.Max = int(d.Max)
		}
		if t.progress != nil {
			t.progress(Progress{PromptID: pid, Node: d.Node, ClassType: t.wf[d.Node].ClassType, Step: int(d.Value), Max: int(d.Max)})
		}
	case MsgProgressState:
		var d ProgressStateMsg
		if m.Decode(&d) != nil || d.PromptID != pid {
			return
		}
		for id, st := range d.Nodes {
			if st.State != "finished" {
				continue
			}
			if i := t.find(id); i >= 0 && res.Nodes[i].End.IsZero() {
				res.Nodes[i].End = f.at
				if i == t.open {
					t.open = -1
				}
			}
		}
	case MsgExecuted:
		var d ExecutedMsg
		if m.Decode(&d) != nil || d.PromptID != pid {
			return
		}
		if imgs := d.Images(); len(imgs) > 0 {
			res.Outputs[d.Node] = imgs
			if res.ImageAt.IsZero() {
				res.ImageAt = f.at
			}
		}
	case MsgExecutionSuccess:
		var d ExecutionSuccessMsg
		if m.Decode(&d) != nil || d.PromptID != pid {
			return
		}
		res.ServerEndMS = d.Timestamp
		t.success = true
	case MsgExecutionError:
		var d ExecutionErrorMsg
		if m.Decode(&d) != nil || d.PromptID != pid {
			return
		}
		res.ServerEndMS = d.Timestamp
		t.failure = &ExecutionError{PromptID: pid, NodeID: d.NodeID, NodeType: d.NodeType,
			ExceptionType: d.ExceptionType, ExceptionMessage: d.ExceptionMessage, Traceback: d.Traceback}
	case MsgExecutionInterrupted:
		var d ExecutionInterruptedMsg
		if m.Decode(&d) != nil || d.PromptID != pid {
			return
		}
		res.ServerEndMS = d.Timestamp
		t.failure = &InterruptedError{PromptID: pid, NodeID: d.NodeID, NodeType: d.NodeType}
	}
}

// started says whether the prompt has begun executing.
func (t *tracker) started() bool { return !t.res.Started.IsZero() || len(t.res.Nodes) > 0 }

// find returns the index of the latest run of node id, or -1.
func (t *tracker) find(id string) int {
	for i := len(t.res.Nodes) - 1; i >= 0; i-- {
		if t.res.Nodes[i].ID == id {
			return i
		}
	}
	return -1
}

func (t *tracker) closeOpen(at time.Time) {
	if t.open >= 0 && t.res.Nodes[t.open].End.IsZero() {
		t.res.Nodes[t.open].End = at
	}
	t.open = -1
}

// merge fills what the WebSocket did not tell from a history entry.
func (t *tracker) merge(h *HistoryEntry) {
	res := t.res
	for id, imgs := range h.Outputs {
		if _, ok := res.Outputs[id]; !ok {
			res.Outputs[id] = imgs
		}
	}
	if res.Number == 0 {
		res.Number = h.Number
	}
	for _, m := range h.Status.Messages {
		switch m.Type {
		case MsgExecutionStart:
			var d ExecutionStartMsg
			if m.Decode(&d) == nil && res.ServerStartMS == 0 {
				res.ServerStartMS = d.Timestamp
			}
		case MsgExecutionCached:
			var d ExecutionCachedMsg
			if m.Decode(&d) == nil && res.Cached == nil {
				res.Cached = d.Nodes
			}
		case MsgExecutionSuccess:
			var d ExecutionSuccessMsg
			if m.Decode(&d) == nil && t.failure == nil {
				if res.ServerEndMS == 0 {
					res.ServerEndMS = d.Timestamp
				}
				t.success = true
			}
		case MsgExecutionError:
			var d ExecutionErrorMsg
			if m.Decode(&d) == nil && t.failure == nil {
				if res.ServerEndMS == 0 {
					res.ServerEndMS = d.Timestamp
				}
				t.failure = &ExecutionError{PromptID: res.PromptID, NodeID: d.NodeID, NodeType: d.NodeType,
					ExceptionType: d.ExceptionType, ExceptionMessage: d.ExceptionMessage, Traceback: d.Traceback}
			}
		case MsgExecutionInterrupted:
			var d ExecutionInterruptedMsg
			if m.Decode(&d) == nil && t.failure == nil {
				if res.ServerEndMS == 0 {
					res.ServerEndMS = d.Timestamp
				}
				t.failure = &InterruptedError{PromptID: res.PromptID, NodeID: d.NodeID, NodeType: d.NodeType}
			}
		}
	}
	if !t.success && t.failure == nil && h.Status.Completed && h.Status.StatusStr == "success" {
		t.success = true
	}
}

// outcome sets Status from what was seen and returns the prompt's error, if any.
func (t *tracker) outcome() error {
	switch f := t.failure.(type) {
	case *ExecutionError:
		t.res.Status = "error"
		return f
	case *InterruptedError:
		t.res.Status = "interrupted"
		return f
	}
	if t.success {
		t.res.Status = "success"
	}
	return nil
}
