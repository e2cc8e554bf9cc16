package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/report"
)

// serverQueue is what the queue guard needs of a ComfyUI client beyond [Comfy]: the server's
// queue, taking our own pending prompts off it, interrupting our own running ones by id, and
// a prompt's state. A client without it (a test fake) is not guarded.
type serverQueue interface {
	ClientID() string
	Queue(ctx context.Context) (comfy.Queue, error)
	DeletePending(ctx context.Context, ids ...string) error
	Interrupt(ctx context.Context, promptID string) error
	PromptState(ctx context.Context, promptID string) (string, error)
}

// queueGuard keeps a benchmark to its own work on a server others may share: before each
// prompt it waits until none of our earlier prompts is on the server and (bounded) until no
// foreign prompt is, and at the end it takes what is left of ours off the server and looks up
// the final state of every prompt we sent.
type queueGuard struct {
	client   Comfy
	q        serverQueue
	cfg      Config
	progress func(format string, a ...any)
	poll     time.Duration // first poll interval (doubles up to a second)
	sent     []*promptRun  // every prompt sent through this client
}

func newQueueGuard(c Comfy, cfg Config, progress func(string, ...any)) *queueGuard {
	q, ok := c.(serverQueue)
	if !ok {
		return nil
	}
	return &queueGuard{q: q, cfg: cfg, progress: progress, poll: 100 * time.Millisecond}
}

// split divides the server's queue into our prompts and the others'.
func (g *queueGuard) split(q comfy.Queue) (ours []comfy.QueueItem, others int) {
	id := g.q.ClientID()
	for _, it := range append(append([]comfy.QueueItem(nil), q.Running...), q.Pending...) {
		if it.ClientID == id {
			ours = append(ours, it)
		} else {
			others++
		}
	}
	return ours, others
}

// beforeRun waits until the server holds none of our prompts (at most --queue-timeout: then
// it is an error, a run never starts while our previous prompt is still there) and no
// foreign prompt (at most --idle-wait, unless --allow-contention; then the run goes ahead
// and is flagged). It returns how many foreign prompts were on the server when it gave up
// waiting.
func (g *queueGuard) beforeRun(ctx context.Context) (int, error) {
	if g == nil {
		return 0, nil
	}
	start := time.Now()
	poll := g.poll
	saidOurs, saidOthers := false, false
	for {
		q, err := g.q.Queue(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, nil // a server without /queue: nothing to go by
		}
		ours, others := g.split(q)
		waited := time.Since(start)
		switch {
		case len(ours) > 0:
			if waited >= g.cfg.QueueTimeout {
				return 0, fmt.Errorf("our earlier prompt %s is still %s on the server after %s (--queue-timeout): not starting another one beside it", ours[0].PromptID, q.State(ours[0].PromptID), waited.Round(time.Second))
			}
			if !saidOurs {
				saidOurs = true
				g.progress("waiting for our earlier prompt %s to leave the server (%s) before the next run", ours[0].PromptID, q.State(ours[0].PromptID))
			}
		case others > 0:
			if g.cfg.AllowContention {
				return others, nil
			}
			if waited >= g.cfg.IdleWait {
				g.progress("ComfyUI is still busy with %d prompt(s) of other clients after %s (--idle-wait): running anyway; the run is flagged and left out of the statistics", others, waited.Round(time.Second))
				return others, nil
			}
			if !saidOthers {
				saidOthers = true
				g.progress("ComfyUI is busy with %d prompt(s) of other clients: waiting up to %s for it to go idle (--idle-wait) so their work stays out of our numbers", others, g.cfg.IdleWait)
			}
		default:
			if saidOthers || saidOurs {
				g.progress("ComfyUI is idle after %s: going on", waited.Round(100*time.Millisecond))
			}
			return 0, nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
		poll = min(poll*2, time.Second)
	}
}

// settle runs when qwenlab is done with the server, on every path: it deletes our pending
// prompts, interrupts our running ones by id and waits (bounded) for them to go, then looks
// up the final state of every prompt we sent that did not end in our sight. It returns the
// notes for the report's warnings.
func (g *queueGuard) settle(ctx context.Context) []string {
	if g == nil {
		return nil
	}
	prompts := g.sent
	wait := g.cfg.PromptInterruptWait()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait+10*time.Second)
	defer cancel()
	var notes []string
	if q, err := g.q.Queue(ctx); err == nil {
		ours, _ := g.split(q)
		var pending, running []string
		for _, it := range ours {
			if q.State(it.PromptID) == comfy.PromptRunning {
				running = append(running, it.PromptID)
			} else {
				pending = append(pending, it.PromptID)
			}
		}
		if len(pending) > 0 {
			if err := g.q.DeletePending(ctx, pending...); err != nil {
				notes = append(notes, err.Error())
			}
		}
		for _, id := range running {
			if err := g.q.Interrupt(ctx, id); err != nil {
				notes = append(notes, err.Error())
			}
		}
		if len(running) > 0 {
			g.progress("interrupted our prompt(s) %s on the way out; waiting up to %s for ComfyUI to stop them", strings.Join(running, ", "), wait)
			left := g.waitGone(ctx, wait)
			for _, it := range left {
				if g.cfg.URL == "" {
					break // qwenlab's own container: teardown removes it with the prompt
				}
				notes = append(notes, fmt.Sprintf("our prompt %s is still %s on ComfyUI after qwenlab exits: it did not stop within %s of the interrupt (a node without progress runs to its end)", it.PromptID, q.State(it.PromptID), wait))
			}
		}
	}
	for _, pr := range prompts {
		res := pr.Res
		if res == nil || res.PromptID == "" || res.Status == "rejected" {
			continue
		}
		switch res.Final {
		case "success", "error", "interrupted", comfy.PromptRemoved:
		default:
			if res.Accepted.IsZero() {
				continue // never reached the server
			}
			if st, err := g.q.PromptState(ctx, res.PromptID); err == nil {
				res.Final = st
			}
		}
		if res.Status == "timeout" && res.Final == "success" {
			// Not a timeout after all: the server finished it after qwenlab stopped waiting.
			res.Status = "success"
			pr.Err = fmt.Errorf("prompt %s went silent for --prompt-timeout and qwenlab stopped waiting, but ComfyUI finished it later (history: success): its timing is unknown", res.PromptID)
			pr.Invalid = "finished on the server after qwenlab stopped waiting: timing unknown"
		}
	}
	return notes
}

// waitGone polls the queue until none of our prompts is on it, for at most d; it returns
// those still there.
func (g *queueGuard) waitGone(ctx context.Context, d time.Duration) []comfy.QueueItem {
	deadline := time.Now().Add(d)
	poll := g.poll
	for {
		q, err := g.q.Queue(ctx)
		if err != nil {
			return nil
		}
		ours, _ := g.split(q)
		if len(ours) == 0 || !time.Now().Before(deadline) {
			return ours
		}
		select {
		case <-ctx.Done():
			return ours
		case <-time.After(min(poll, time.Until(deadline))):
		}
		poll = min(poll*2, time.Second)
	}
}

// contention says why a run measured other clients' work too: "" when nothing was ahead of it.
func contention(foreign int, res *comfy.Result) string {
	n := max(foreign, res.Ahead)
	if n <= 0 {
		return ""
	}
	s := fmt.Sprintf("queued behind %d foreign prompt(s)", n)
	if q := res.Queue(); q > 0 {
		s += " for " + report.HumanSeconds(q.Seconds())
	}
	return s
}
