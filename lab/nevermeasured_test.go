package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/report"
)

// Never-measured values are null with a reason, never 0 (issue 10, item 21): a run that
// crashed mid-prompt has no e2e_s/latency_s, a stop call that never reached the engine has no
// stop_s, and a server that never answered did not "answer before it logged anything".
func TestNeverMeasuredValuesAreNullWithAReason(t *testing.T) {
	e := newFakeEngine()
	e.stopErr = errors.New("dial unix /var/run/docker.sock: connect: connection refused")
	r := newRun(testConfig(), Deps{Engine: e})
	base := time.Now()
	r.t0 = base
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	ok := &promptRun{Kind: "warm", Index: 0, Seed: 42, Res: &comfy.Result{PromptID: "a", Status: "success", Submit: at(1000), Started: at(1001), End: at(1500), ImageAt: at(1500)}}
	crashed := &promptRun{Kind: "warm", Index: 1, Seed: 43, Invalid: "error",
		Err: errors.New("server crashed at step 3"), Res: &comfy.Result{PromptID: "b", Status: "error", Submit: at(2000), Started: at(2001)}}
	r.warm = []*promptRun{ok, crashed}
	// A cold start whose server never logged nor answered, and whose first prompt never ended.
	cr := &coldRun{ID: "c0ffee", Start: at(0), First: &promptRun{Kind: "cold", Seed: 41, Err: errors.New("server never answered"), Res: &comfy.Result{Status: "error"}}}
	r.colds = []*coldRun{cr}
	r.td.add(cr)
	if err := r.td.one(context.Background(), cr); err == nil {
		t.Fatal("teardown with a failing stop returned no error")
	}
	rep := r.assemble(nil)

	b, err := report.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Warm struct {
			Runs []map[string]json.RawMessage `json:"runs"`
		} `json:"warm"`
		Teardown map[string]json.RawMessage `json:"teardown"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"e2e_s", "latency_s"} {
		if v, ok := raw.Warm.Runs[1][k]; !ok || string(v) != "null" {
			t.Errorf("crashed run %s = %s, want null", k, v)
		}
		if v := string(raw.Warm.Runs[0][k]); v != "0.5" {
			t.Errorf("measured run %s = %s, want 0.5", k, v)
		}
	}
	if v := string(raw.Teardown["stop_s"]); v != "null" {
		t.Errorf("teardown.stop_s = %s for a stop call that failed, want null", v)
	}
	for path, want := range map[string]string{
		"warm.runs[1].e2e_s":            "server crashed at step 3",
		"cold_start.first_prompt.e2e_s": "server never answered",
		"teardown.stop_s":               "connection refused",
		"cold_start.phases.first_log_s": "never answered",
	} {
		if got := rep.Missing[path]; !strings.Contains(got, want) {
			t.Errorf("missing[%q] = %q, want it to contain %q", path, got, want)
		}
	}
	if _, ok := rep.Missing["warm.runs[0].e2e_s"]; ok {
		t.Error("the measured run is named as missing")
	}
	if s := rep.Warm.Summaries[report.MetricE2E]; s.N != 1 || s.MedianS != 0.5 {
		t.Errorf("e2e summary = %+v, want only the measured run", s)
	}

	var out bytes.Buffer
	if err := report.RenderSummary(&out, rep); err != nil {
		t.Fatal(err)
	}
	_, warm, found := strings.Cut(out.String(), "Warm runs")
	if !found {
		t.Fatalf("no warm section in the summary:\n%s", out.String())
	}
	if m := regexp.MustCompile(`(^|[^0-9.])0 s\b`).FindString(warm); m != "" {
		t.Errorf("the warm section shows a never-measured value as %q:\n%s", m, warm)
	}
	if !regexp.MustCompile(`(?m)^\s+2\s+43\s+—`).MatchString(warm) {
		t.Errorf("the crashed run's e2e is not shown as —:\n%s", warm)
	}
}

// A cold start that measured nothing (the create call failed) has total_s null with a reason,
// not 0, in the report and the summary.
func TestColdStartThatMeasuredNothingHasNoTotal(t *testing.T) {
	e, c := newFakeEngine(), newFakeComfy(qwenWorkflow(t))
	e.createErr = errors.New("create container: no space left on device")
	rep, err := UpAndBench(context.Background(), testConfig(), testDeps(e, c))
	if err == nil {
		t.Fatal("a failed create gave no error")
	}
	cs := rep.ColdStart
	if cs == nil {
		t.Fatal("no cold start section for the attempted cold start")
	}
	if cs.TotalS != nil {
		t.Errorf("total_s = %v for a cold start that measured nothing, want null", *cs.TotalS)
	}
	if why := rep.Missing["cold_start.total_s"]; !strings.Contains(why, "failed before any of its phases ended") {
		t.Errorf("missing[cold_start.total_s] = %q", why)
	}
	b, err := report.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"total_s": null`) {
		t.Errorf("report JSON lacks a null total_s")
	}
	var out bytes.Buffer
	if err := report.RenderSummary(&out, rep); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Contains(s, "total 0 s") || !strings.Contains(s, "total — (the cold start failed before") {
		t.Errorf("summary:\n%s", s)
	}
}
