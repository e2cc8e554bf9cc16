package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/qwenlab/qwenlab/report"
)

// MatrixEntry is one image of a matrix run.
type MatrixEntry struct {
	// Label is the entry as the user named it: an image reference, "sim" or "sim:PROFILE".
	Label string
	// Image is the container image; "" is the built-in simulator with SimProfile.
	Image      string
	SimProfile string
	// GPUs is the entry's --gpus value; "" keeps the plan's.
	GPUs string
}

// MatrixOrder returns, for each of rounds cold-start rounds, the order in which the n
// entries run: forward in even rounds, backward in odd ones (ABBA for two entries and two
// rounds), so that a drift of the machine over time does not favour one entry.
func MatrixOrder(n, rounds int) [][]int {
	out := make([][]int, rounds)
	for r := range out {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		out[r] = order
	}
	return out
}

// Runner runs one benchmark of a container: [UpAndBench] on this machine's engine,
// [UpAndBenchRemote] on a remote one.
type Runner func(ctx context.Context, cfg Config, deps Deps) (*report.Report, error)

// Matrix runs the same plan (scenario, seeds, cold starts, warm runs) against every entry,
// one container at a time so that two models never share the GPU; run runs each entry's
// container. With cfg.ColdStarts = N
// it makes N rounds of one cold start per entry in [MatrixOrder]; each entry's warm runs
// follow its cold start of the last round. The result is one combined report
// ([report.Combine]): a section per entry and the comparison of each with the first, using
// cfg.Compare. A failed entry ends the matrix (its teardown done): the report then holds the
// sections measured so far and the error.
func Matrix(ctx context.Context, cfg Config, entries []MatrixEntry, deps Deps, run Runner) (*report.Report, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: a matrix needs at least one image", ErrUsage)
	}
	rounds := max(cfg.ColdStarts, 1)
	reps := make([][]*report.Report, len(entries))
	var runErr, slow error
run:
	for round, order := range MatrixOrder(len(entries), rounds) {
		for k, i := range order {
			e := entries[i]
			c := cfg
			c.Image, c.ColdStarts = e.Image, 1
			// --keep keeps the container measured last, as a run with several cold starts
			// does: one kept earlier would hold the GPU (and its name) while the next is
			// measured.
			c.Keep = cfg.Keep && round == rounds-1 && k == len(order)-1
			if e.Image == "" {
				c.SimProfile = e.SimProfile
			}
			if e.GPUs != "" {
				c.GPUs = e.GPUs
			}
			if round < rounds-1 {
				// Warm runs follow the last round's cold start: this one is a cold start only.
				c.Runs, c.Warmup = 0, 0
			}
			d := deps
			if progress := deps.Progress; progress != nil {
				// Every line of this entry says which image it is about.
				label := e.Label
				d.Progress = func(ev Event) {
					if ev.Image == "" {
						ev.Image = label
					}
					progress(ev)
				}
				progress(Event{Kind: EventNote, Text: fmt.Sprintf("matrix: %s, cold start %d/%d", label, round+1, rounds)})
			}
			rep, err := run(ctx, c, d)
			if rep != nil {
				reps[i] = append(reps[i], rep)
			}
			switch {
			case errors.Is(err, ErrSlow):
				slow = err // the run is complete; --fail-on-slow decides at the end
			case err != nil:
				runErr = fmt.Errorf("%s: %w", e.Label, err)
				break run
			}
		}
	}
	var sections []report.Section
	for i, e := range entries {
		if len(reps[i]) == 0 {
			continue
		}
		sec := mergeRounds(reps[i])
		sec.Target.Config["image_label"] = e.Label
		sections = append(sections, report.Section{Label: e.Label, Kind: report.SectionImage, Report: sec})
	}
	if len(sections) == 0 {
		return nil, runErr
	}
	rep := report.Combine(sections, cfg.Compare)
	if runErr != nil && rep.Error == nil {
		rep.Error = &report.ErrorInfo{Phase: "matrix", Message: runErr.Error()}
	}
	if runErr == nil {
		runErr = slow
	}
	return rep, runErr
}

// mergeRounds makes one report of an entry's rounds (one cold start each, warm runs in the
// last): the cold starts become ColdStart.Runs with their summary, the first one the
// headline, as a single run with --cold-starts N reports them. The reports are not modified.
func mergeRounds(rs []*report.Report) *report.Report {
	last := rs[len(rs)-1]
	out := *last
	out.Target.Config = map[string]string{}
	for k, v := range last.Target.Config {
		out.Target.Config[k] = v
	}
	out.Target.Config["cold_starts"] = strconv.Itoa(len(rs))
	if len(rs) == 1 {
		return &out
	}
	out.StartedAt = rs[0].StartedAt
	out.Warnings = nil
	out.Teardown.Leftovers = nil
	cs := &report.ColdStart{}
	for i, r := range rs {
		out.Warnings = append(out.Warnings, r.Warnings...)
		out.Teardown.Leftovers = append(out.Teardown.Leftovers, r.Teardown.Leftovers...)
		c := r.ColdStart
		if c == nil {
			continue
		}
		cr := report.ColdRun{
			Index: i, Phases: c.Phases, TotalS: c.TotalS, Timeline: c.Timeline, FirstPrompt: c.FirstPrompt,
			ModelReadBytesPerS: c.ModelReadBytesPerS, PageCache: c.PageCache, ModelBytesCachedBefore: c.ModelBytesCachedBefore,
		}
		if len(c.Runs) == 1 {
			cr.ReadyS, cr.FirstImageS, cr.Error = c.Runs[0].ReadyS, c.Runs[0].FirstImageS, c.Runs[0].Error
		}
		if r.Error != nil && cr.Error == "" {
			cr.Error = r.Error.Message
		}
		if len(cs.Runs) == 0 {
			cs.Phases, cs.TotalS, cs.Timeline, cs.FirstPrompt = c.Phases, c.TotalS, c.Timeline, c.FirstPrompt
			cs.ModelReadBytesPerS, cs.PageCache, cs.ModelBytesCachedBefore = c.ModelReadBytesPerS, c.PageCache, c.ModelBytesCachedBefore
		}
		cs.Runs = append(cs.Runs, cr)
	}
	if len(cs.Runs) > 0 {
		cs.Summary = report.SummarizeColdRuns(cs.Runs)
		out.ColdStart = cs
	}
	return &out
}
