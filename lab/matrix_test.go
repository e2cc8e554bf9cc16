package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/qwenlab/qwenlab/report"
)

func TestMatrixOrderIsABBA(t *testing.T) {
	got := fmt.Sprint(MatrixOrder(2, 4))
	if got != "[[0 1] [1 0] [0 1] [1 0]]" {
		t.Errorf("MatrixOrder(2, 4) = %s", got)
	}
	if got := fmt.Sprint(MatrixOrder(3, 2)); got != "[[0 1 2] [2 1 0]]" {
		t.Errorf("MatrixOrder(3, 2) = %s", got)
	}
}

func profileOf(cmd []string) string {
	if i := slices.Index(cmd, "--profile"); i >= 0 && i+1 < len(cmd) {
		return cmd[i+1]
	}
	return "?"
}

func TestMatrixRunsEachEntryOneAtATimeInABBAOrder(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	cfg := testConfig()
	cfg.ColdStarts = 2
	cfg.Compare = report.CompareOptions{Thresholds: []report.Threshold{{Text: "warm.e2e<+5%", Metric: report.MetricWarmE2E, Op: "<", Pct: 5}}}
	entries := []MatrixEntry{{Label: "sim:instant", SimProfile: "instant"}, {Label: "sim:default", SimProfile: "default"}}
	rep, err := Matrix(context.Background(), cfg, entries, testDeps(e, c), UpAndBench)
	if err != nil {
		t.Fatalf("Matrix: %v", err)
	}
	var order []string
	for _, s := range e.specs {
		order = append(order, profileOf(s.Cmd))
	}
	if fmt.Sprint(order) != "[instant default default instant]" {
		t.Errorf("containers in order %v, want ABBA", order)
	}
	// One container at a time: each was removed before the next was created.
	live := 0
	for _, call := range e.calls {
		switch {
		case len(call) > 7 && call[:7] == "create ":
			live++
		case len(call) > 7 && call[:7] == "remove ":
			live--
		}
		if live > 1 {
			t.Fatalf("two containers at once: %v", e.calls)
		}
	}
	if len(rep.Sections) != 2 || rep.Sections[0].Label != "sim:instant" || rep.Sections[1].Label != "sim:default" {
		t.Fatalf("sections %+v", rep.Sections)
	}
	for _, s := range rep.Sections {
		r := s.Report
		if r.ColdStart == nil || len(r.ColdStart.Runs) != 2 || r.ColdStart.Summary["total_s"].N != 2 {
			t.Errorf("%s: cold starts %+v", s.Label, r.ColdStart)
		}
		if r.Warm == nil || len(r.Warm.Runs) != cfg.Runs {
			t.Errorf("%s: warm %+v", s.Label, r.Warm)
		}
		if r.Target.Config["sim_profile"] != s.Report.Target.Config["image_label"][4:] || r.Target.Config["cold_starts"] != "2" {
			t.Errorf("%s: config %v", s.Label, r.Target.Config)
		}
	}
	if rep.Comparison == nil || len(rep.Comparison.Pairs) != 1 || rep.Comparison.Pairs[0].Head != "sim:default" || len(rep.Comparison.Checks) != 1 {
		t.Fatalf("comparison %+v", rep.Comparison)
	}
	diff := rep.Comparison.Pairs[0].Differences
	if !slices.ContainsFunc(diff, func(d report.Difference) bool { return d.Field == "flag sim_profile" }) {
		t.Errorf("differences %+v lack the profile", diff)
	}
	// The top level is the first section's report, for readers of single reports.
	if rep.Warm == nil || rep.Target.Config["sim_profile"] != "instant" {
		t.Errorf("top level is not the first section")
	}
}

func TestMatrixStopsAtAFailedEntry(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	e.startErr = errors.New("no such runtime")
	entries := []MatrixEntry{{Label: "sim:instant", SimProfile: "instant"}, {Label: "sim:default", SimProfile: "default"}}
	rep, err := Matrix(context.Background(), testConfig(), entries, testDeps(e, c), UpAndBench)
	if err == nil || rep == nil || rep.Error == nil || len(rep.Sections) != 1 {
		t.Fatalf("err %v, report %+v", err, rep)
	}
	if len(e.specs) != 1 {
		t.Errorf("%d containers created after the first failed", len(e.specs))
	}
	if e.called("remove") != 1 {
		t.Errorf("the failed container was not removed: %v", e.calls)
	}
}

// The matrix runs every entry through the runner it is given (UpAndBenchRemote on a remote
// engine): one cold start per entry and round in ABBA order, the rounds before the last a
// cold start only (Runs and Warmup 0), each entry's image and profile, its progress labelled.
func TestMatrixRunsEntriesThroughTheRunner(t *testing.T) {
	cfg := testConfig()
	cfg.ColdStarts, cfg.Runs, cfg.Warmup = 3, 4, 2
	type call struct {
		label                    string
		runs, warmup, coldStarts int
	}
	var calls []call
	var lines []string
	run := func(ctx context.Context, c Config, d Deps) (*report.Report, error) {
		label := c.Image
		if label == "" {
			label = "sim:" + c.SimProfile
		}
		calls = append(calls, call{label, c.Runs, c.Warmup, c.ColdStarts})
		d.Progress(Event{Kind: EventNote, Text: "ran"})
		rep := &report.Report{RunID: c.RunID, Target: report.Target{Config: map[string]string{"runs": fmt.Sprint(c.Runs)}},
			ColdStart: &report.ColdStart{TotalS: report.Seconds(1)}}
		if c.Runs > 0 {
			rep.Warm = &report.Warm{Runs: make([]report.Run, c.Runs)}
		}
		return rep, nil
	}
	deps := Deps{Progress: func(ev Event) {
		if ev.Text == "ran" {
			lines = append(lines, ev.Image)
		}
	}}
	entries := []MatrixEntry{{Label: "img:a", Image: "img:a"}, {Label: "sim:instant", SimProfile: "instant"}}
	rep, err := Matrix(context.Background(), cfg, entries, deps, run)
	if err != nil {
		t.Fatalf("Matrix: %v", err)
	}
	want := []call{
		{"img:a", 0, 0, 1}, {"sim:instant", 0, 0, 1},
		{"sim:instant", 0, 0, 1}, {"img:a", 0, 0, 1},
		{"img:a", 4, 2, 1}, {"sim:instant", 4, 2, 1},
	}
	if !slices.Equal(calls, want) {
		t.Errorf("runner calls\n got %v\nwant %v", calls, want)
	}
	if got := strings.Join(lines, " "); got != "img:a sim:instant sim:instant img:a img:a sim:instant" {
		t.Errorf("progress lines labelled %q, want each with its entry", got)
	}
	if len(rep.Sections) != 2 {
		t.Fatalf("sections %+v", rep.Sections)
	}
	for _, s := range rep.Sections {
		if s.Report.ColdStart == nil || len(s.Report.ColdStart.Runs) != 3 || s.Report.Warm == nil || len(s.Report.Warm.Runs) != 4 {
			t.Errorf("%s: cold %+v warm %+v", s.Label, s.Report.ColdStart, s.Report.Warm)
		}
	}
}

// --keep keeps the container measured last: one kept earlier would hold the GPU (and the
// run's container name) while the next entry is measured.
func TestMatrixKeepsOnlyTheLastContainer(t *testing.T) {
	cfg := testConfig()
	cfg.ColdStarts, cfg.Keep = 2, true
	var kept []string
	run := func(ctx context.Context, c Config, d Deps) (*report.Report, error) {
		kept = append(kept, fmt.Sprintf("%s:%v", c.Image, c.Keep))
		return &report.Report{RunID: c.RunID, Target: report.Target{Config: map[string]string{}}}, nil
	}
	entries := []MatrixEntry{{Label: "a", Image: "a"}, {Label: "b", Image: "b"}}
	if _, err := Matrix(context.Background(), cfg, entries, Deps{}, run); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(kept, " "); got != "a:false b:false b:false a:true" {
		t.Errorf("keep per run: %s, want only the last (ABBA: a) kept", got)
	}
}
