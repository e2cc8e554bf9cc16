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
	Res     *comfy.Result
	Err     error
	Invalid string // why the run does not count ("" = valid)
	Lag     time.Duration
	LagOK   bool // Lag is known
	Flagged bool // Lag over the threshold
	// LogExecuted is the matching "Prompt executed in N seconds" of the server's log.
	LogExecuted *float64
}

// samplerClasses are node classes whose being cached means a run measured nothing.
func isSampler(class string) bool {
	return strings.HasPrefix(class, "KSampler") || strings.HasPrefix(class, "SamplerCustom") || class == "QwenT2IWrapper"
}

// runPrompt sends one prompt with the next seed and classifies the outcome.
func (r *run) runPrompt(ctx context.Context, c Comfy, kind report.RunKind, index int) *promptRun {
	seed := r.cfg.Seed + r.seq
	r.seq++
	pr := &promptRun{Kind: kind, Index: index, Seed: seed}
	pr.Res, pr.Err = c.Run(ctx, r.plan.withSeed(seed))
	if n := len(r.colds); n > 0 {
		r.colds[n-1].prompts = append(r.colds[n-1].prompts, pr)
	}
	if pr.Res == nil {
		pr.Res = &comfy.Result{Status: "error"}
	}
	res := pr.Res
	if pr.Err == nil {
		pr.Invalid = cachedVerdict(res, r.plan.wf)
	} else {
		pr.Invalid = "failed: " + oneLine(pr.Err.Error())
	}
	if srv, ok := res.Server(); ok && !res.Started.IsZero() && !res.End.IsZero() {
		pr.Lag = res.End.Sub(res.Started) - srv
		pr.LagOK = true
		limit := r.cfg.LagBase + time.Duration(r.cfg.LagFrac*float64(srv))
		pr.Flagged = pr.Lag > limit
	}
	return pr
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
