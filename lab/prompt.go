package lab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/report"
)

// promptRun is one prompt as measured: what ComfyUI did and what the client saw.
type promptRun struct {
	Kind    report.RunKind
	Index   int
	Seed    uint64
	NoSeed  bool // the workflow has no seed input: Seed was not sent
	Vary    any  // the --vary input's value sent (nil: no --vary)
	Res     *comfy.Result
	Err     error
	Invalid string // why the run does not count ("" = valid)
	// Queue and Lag are on the client's clock (serverClock); QueueOK and LagOK say they are
	// known.
	Queue   time.Duration
	QueueOK bool
	Lag     time.Duration
	LagOK   bool
	Flagged bool // Lag over the threshold
	// Contention says which foreign prompts this one waited behind ("" = none).
	Contention string
	// LogExecuted is the matching "Prompt executed in N seconds" of the server's log.
	LogExecuted *float64
	// ImageSHA256 holds the sha256 of the output images, fetched after the run.
	ImageSHA256 []string
}

// samplerClasses are node classes whose being cached means a run measured nothing.
func isSampler(class string) bool {
	return strings.HasPrefix(class, "KSampler") || strings.HasPrefix(class, "SamplerCustom") || class == "QwenT2IWrapper"
}

// runPrompt sends one prompt with the next seed and classifies the outcome.
func (r *run) runPrompt(ctx context.Context, c Comfy, kind report.RunKind, index int) *promptRun {
	seed := r.cfg.Seed + r.seq
	r.seq++
	return r.runSeed(ctx, c, kind, index, seed)
}

// runSeed sends one prompt with the given seed and classifies the outcome; its output
// images are hashed afterwards, outside the timing.
func (r *run) runSeed(ctx context.Context, c Comfy, kind report.RunKind, index int, seed uint64) *promptRun {
	pr := &promptRun{Kind: kind, Index: index, Seed: seed, NoSeed: r.plan.seed.Node == "", Vary: r.plan.varyValue(seed)}
	g := r.guardFor(c)
	foreign, err := g.beforeRun(ctx)
	if err != nil {
		pr.Res, pr.Err = &comfy.Result{Status: "error", Ahead: -1}, err
	} else {
		r.stall.prompt(true)
		pr.Res, pr.Err = c.Run(ctx, r.plan.withSeed(seed))
		r.stall.prompt(false)
	}
	if g != nil {
		g.sent = append(g.sent, pr)
	}
	r.hashImages(ctx, c, pr)
	if n := len(r.colds); n > 0 {
		r.colds[n-1].prompts = append(r.colds[n-1].prompts, pr)
	}
	if pr.Res == nil {
		pr.Res = &comfy.Result{Status: "error"}
	}
	res := pr.Res
	pr.Contention = contention(foreign, res)
	if pr.Err == nil {
		pr.Invalid = cachedVerdict(res, r.plan.wf)
		if pr.Invalid == "" && pr.Contention != "" && !r.cfg.AllowContention {
			pr.Invalid = pr.Contention + ": it measured other clients' work too (--allow-contention counts such runs)"
		}
	} else {
		pr.Invalid = "failed: " + oneLine(pr.Err.Error())
	}
	r.clock.observe(res)
	r.measure(pr)
	return pr
}

// measure puts the prompt's queue and delivery lag on the client's clock and flags a lag
// over the threshold. It runs again when the report is assembled: a remote server's clock
// offset is known better after every prompt.
func (r *run) measure(pr *promptRun) {
	pr.Queue, pr.Lag, pr.QueueOK, pr.LagOK = r.clock.promptTimes(pr.Res)
	pr.Flagged = false
	if srv, ok := pr.Res.Server(); ok && pr.LagOK {
		limit := r.cfg.LagBase + time.Duration(r.cfg.LagFrac*float64(srv))
		pr.Flagged = pr.Lag > limit
	}
}

// prompts are every prompt of the run, in the order they were sent.
func (r *run) prompts() []*promptRun {
	var out []*promptRun
	for _, cr := range r.colds {
		if cr.First != nil {
			out = append(out, cr.First)
		}
	}
	return append(append(out, r.warmups...), r.warm...)
}

// cachedVerdict says why a successful run is not a valid measurement: ComfyUI served its
// sampler (or everything) from the execution cache.
func cachedVerdict(res *comfy.Result, wf comfy.Workflow) string {
	if len(res.Cached) > 0 && len(res.Cached) == len(wf) {
		return "every node was served from ComfyUI's cache (same graph and inputs as an earlier prompt)"
	}
	for _, id := range res.Cached {
		if n, ok := wf[id]; ok && isSampler(n.ClassType) {
			return fmt.Sprintf("sampler node %s (%s) was served from ComfyUI's cache: the seed did not change", id, n.ClassType)
		}
	}
	return ""
}

// stopsRun says whether a prompt failure ends the benchmark under --on-error.
func (r *run) stopsRun(pr *promptRun) bool {
	if pr.Err == nil {
		return false
	}
	var rej *comfy.RejectedError
	if errors.As(pr.Err, &rej) {
		return true // the same graph will be rejected every time
	}
	return r.cfg.OnError != OnErrorContinue
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// guardFor returns the queue guard of client c (nil when c cannot tell the server's queue).
func (r *run) guardFor(c Comfy) *queueGuard {
	if r.guard == nil || r.guard.client != c {
		r.guard = newQueueGuard(c, r.cfg, r.progressf)
		if r.guard != nil {
			r.guard.client = c
		}
	}
	return r.guard
}

// settleServer takes what is left of our prompts off the server and records every prompt's
// final state before the report is written; it runs on every path out of a client's use.
func (r *run) settleServer(ctx context.Context, c Comfy) {
	g := r.guardFor(c)
	for _, note := range g.settle(ctx) {
		r.warnf("%s", note)
	}
}
