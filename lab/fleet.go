package lab

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/qwenlab/qwenlab/report"
)

// FleetMember is one engine of a fleet run: its label (the host or context as the user named
// it) and how to run the benchmark there.
type FleetMember struct {
	Label string
	Run   func(ctx context.Context, cfg Config) (*report.Report, error)
}

// FleetResult is one member's outcome. Report is never nil: a member that could not even
// start gets a report that says why.
type FleetResult struct {
	Label  string
	RunID  string
	Report *report.Report
	Err    error
}

// Fleet runs the same benchmark on every member in parallel, each with a run id of its own
// (cfg.RunID-1, -2, …: several members may share one engine). A member that fails or
// disconnects does not stop the others; cancelling ctx (Ctrl-C) ends every member, each of
// which tears down on its own engine. It returns each member's result, in order, and the
// combined report: one section per host, compared with the first.
func Fleet(ctx context.Context, cfg Config, members []FleetMember) ([]FleetResult, *report.Report) {
	results := make([]FleetResult, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		c := cfg
		c.RunID = fmt.Sprintf("%s-%d", cfg.RunID, i+1)
		results[i] = FleetResult{Label: m.Label, RunID: c.RunID}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := runMember(ctx, c, m)
			if rep == nil {
				rep = failedReport(c, err)
			}
			results[i].Report, results[i].Err = rep, err
		}()
	}
	wg.Wait()
	sections := make([]report.Section, len(results))
	for i, r := range results {
		sections[i] = report.Section{Label: r.Label, Kind: report.SectionHost, Report: r.Report}
	}
	combined := report.Combine(sections, cfg.Compare)
	combined.RunID = cfg.RunID
	for _, r := range results {
		if r.Err != nil {
			combined.Warnings = append(combined.Warnings, fmt.Sprintf("%s: %v", r.Label, r.Err))
		}
	}
	return results, combined
}

// runMember runs one member, turning a panic in it into that member's error: one host's
// failure must not lose the others' results.
func runMember(ctx context.Context, c Config, m FleetMember) (rep *report.Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: internal error: %v", m.Label, p)
		}
	}()
	return m.Run(ctx, c)
}

// failedReport is the report of a member that produced none (it could not reach its engine).
func failedReport(c Config, err error) *report.Report {
	if err == nil {
		err = errors.New("no report")
	}
	phase := "connect"
	var pe *PhaseError
	if errors.As(err, &pe) {
		phase = pe.Phase
	}
	if errors.Is(err, context.Canceled) {
		phase += " (interrupted)"
	}
	return &report.Report{
		SchemaVersion: report.SchemaVersion,
		Tool:          report.Tool{Name: "qwenlab", Version: c.ToolVersion},
		RunID:         c.RunID,
		Scenario:      report.Scenario{Name: c.Scenario.Name},
		Teardown:      report.Teardown{Leftovers: []string{}},
		Warnings:      []string{},
		Error:         &report.ErrorInfo{Phase: phase, Message: report.RedactString(err.Error(), report.SecretValues(c.Env))},
	}
}
