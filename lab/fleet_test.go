package lab

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/report"
)

func fleetReport(runID string, latency float64) *report.Report {
	return &report.Report{SchemaVersion: report.SchemaVersion, RunID: runID, Warnings: []string{},
		Warm: &report.Warm{Runs: []report.Run{{Index: 0, LatencyS: report.Seconds(latency), Valid: true}}}}
}

// TestFleetKeepsOthersResults: a member that fails or panics does not lose the others'
// reports, each member runs with its own run id, and the combined report has a section per
// host in order.
func TestFleetKeepsOthersResults(t *testing.T) {
	cfg := Defaults()
	cfg.RunID = "abc"
	members := []FleetMember{
		{Label: "tcp://a:1", Run: func(ctx context.Context, c Config) (*report.Report, error) {
			return fleetReport(c.RunID, 1), nil
		}},
		{Label: "ssh://b", Run: func(ctx context.Context, c Config) (*report.Report, error) {
			return nil, &PhaseError{Phase: "connect", Err: errors.New("docker daemon unreachable: ssh://b")}
		}},
		{Label: "ssh://c", Run: func(ctx context.Context, c Config) (*report.Report, error) {
			panic("boom")
		}},
	}
	res, combined := Fleet(context.Background(), cfg, members)
	if len(res) != 3 || res[0].Err != nil || res[0].Report.RunID != "abc-1" {
		t.Fatalf("results %+v", res)
	}
	if res[1].Report == nil || res[1].Report.Error == nil || res[1].Report.Error.Phase != "connect" || res[1].Report.RunID != "abc-2" {
		t.Errorf("failed member's report %+v", res[1].Report)
	}
	if res[2].Err == nil || !strings.Contains(res[2].Err.Error(), "internal error: boom") || res[2].Report.Error == nil {
		t.Errorf("panicking member: %v %+v", res[2].Err, res[2].Report)
	}
	if len(combined.Sections) != 3 || combined.Sections[1].Label != "ssh://b" || combined.Sections[0].Kind != report.SectionHost {
		t.Fatalf("sections %+v", combined.Sections)
	}
	if combined.RunID != "abc" {
		t.Errorf("combined run id %q", combined.RunID)
	}
	if !slicesContainsPrefix(combined.Warnings, "ssh://b: ") {
		t.Errorf("warnings %q", combined.Warnings)
	}
}

// TestFleetCancelReachesEveryMember: Ctrl-C (the context) ends every member at once, and
// each still gets to tear down before Fleet returns.
func TestFleetCancelReachesEveryMember(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var started, tornDown atomic.Int32
	run := func(ctx context.Context, c Config) (*report.Report, error) {
		started.Add(1)
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // teardown on a context of its own
		tornDown.Add(1)
		return fleetReport(c.RunID, 1), &PhaseError{Phase: "bench", Err: ctx.Err()}
	}
	members := []FleetMember{{Label: "a", Run: run}, {Label: "b", Run: run}}
	go func() {
		for started.Load() < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	done := make(chan struct{})
	var res []FleetResult
	go func() { res, _ = Fleet(ctx, Defaults(), members); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Fleet did not return after the cancel")
	}
	if tornDown.Load() != 2 {
		t.Errorf("%d of 2 members tore down", tornDown.Load())
	}
	for _, r := range res {
		if !errors.Is(r.Err, context.Canceled) {
			t.Errorf("%s: %v", r.Label, r.Err)
		}
	}
}

func slicesContainsPrefix(ss []string, p string) bool {
	for _, s := range ss {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
