package lab

import (
	"context"
	"fmt"

	"github.com/qwenlab/qwenlab/report"
)

// warmPhase sends the warmups and the measured runs, each with its own seed so ComfyUI's
// execution cache never serves a result.
// ctx ends with the run (Ctrl-C) or with the container (its cause says why).
func (r *run) warmPhase(ctx context.Context, c Comfy) error {
	var done func(string)
	if r.cfg.Warmup > 0 {
		done = r.stage(StageWarmup, "")
	}
	for i := 0; i < r.cfg.Warmup; i++ {
		r.emit(Event{Kind: EventPrompt, Stage: StageWarmup, Run: i + 1, Runs: r.cfg.Warmup})
		pr := r.runPrompt(ctx, c, report.RunWarmup, i)
		r.warmups = append(r.warmups, pr)
		r.emit(Event{Kind: EventPromptDone, Stage: StageWarmup, Run: i + 1, Runs: r.cfg.Warmup, Text: describe(pr)})
		if pr.Err != nil && r.stopsRun(pr) {
			return inPhase("warmup", r.promptFailure(ctx, pr.Err))
		}
	}
	if done != nil {
		done("")
	}
	if r.cfg.Runs == 0 { // a cold start only: a matrix's round before the last
		return nil
	}
	done = r.stage(StageWarm, "")
	defer func() { done("") }()
	failed := 0
	for i := 0; i < r.cfg.Runs; i++ {
		r.emit(Event{Kind: EventPrompt, Stage: StageWarm, Run: i + 1, Runs: r.cfg.Runs})
		pr := r.runPrompt(ctx, c, report.RunWarm, i)
		r.warm = append(r.warm, pr)
		r.emit(Event{Kind: EventPromptDone, Stage: StageWarm, Run: i + 1, Runs: r.cfg.Runs, Text: describe(pr)})
		if pr.Err != nil {
			failed++
			if r.stopsRun(pr) || ctx.Err() != nil {
				return inPhase("warm runs", r.promptFailure(ctx, pr.Err))
			}
		}
	}
	if failed > 0 {
		return inPhase("warm runs", fmt.Errorf("%d of %d runs failed (--on-error continue)", failed, r.cfg.Runs))
	}
	if r.cfg.CheckDeterminism && r.cfg.Runs > 0 {
		r.determinism = r.checkDeterminism(ctx, c)
		r.progressf("determinism: %s", r.determinism.Note)
	}
	return nil
}

func describe(pr *promptRun) string {
	res := pr.Res
	if pr.Err != nil {
		return "failed: " + oneLine(pr.Err.Error())
	}
	s := fmt.Sprintf("e2e %s", report.HumanSeconds(res.E2E().Seconds()))
	if srv, ok := res.Server(); ok {
		s += fmt.Sprintf(", server %s", report.HumanSeconds(srv.Seconds()))
	}
	if pr.Flagged {
		s += fmt.Sprintf(", delivery lag %s (flagged)", report.HumanSeconds(pr.Lag.Seconds()))
	}
	if res.Recovered {
		s += " (recovered from /history after the WebSocket dropped)"
	}
	if pr.Invalid != "" {
		s += " — invalid: " + pr.Invalid
	}
	return s
}
