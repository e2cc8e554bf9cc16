package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// scaledCopy deep-copies r (through JSON) and multiplies every warm run's latencies by f.
func scaledCopy(t testing.TB, r *Report, f float64) *Report {
	t.Helper()
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	mul := func(p *float64) {
		if p != nil {
			*p *= f
		}
	}
	for i := range c.Warm.Runs {
		run := &c.Warm.Runs[i]
		mul(run.E2ES)
		mul(run.LatencyS)
		mul(run.ServerS)
		mul(run.ImageS)
	}
	return c
}

func metric(t *testing.T, p PairResult, id MetricID) MetricResult {
	t.Helper()
	for _, m := range p.Metrics {
		if m.Metric == id {
			return m
		}
	}
	t.Fatalf("metric %s not compared; have %v", id, p.Metrics)
	return MetricResult{}
}

func mustThreshold(t *testing.T, s string) Threshold {
	t.Helper()
	th, err := ParseThreshold(s)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

func TestCompareWithItself(t *testing.T) {
	r := fullReport()
	res, err := CompareReports([]NamedReport{{"a.json", r}, {"b.json", r}}, CompareOptions{Thresholds: []Threshold{mustThreshold(t, "warm.e2e.median<+5%")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed {
		t.Error("a report compared with itself failed its threshold")
	}
	p := res.Pairs[0]
	if len(p.Differences) != 0 {
		t.Errorf("differences with itself: %v", p.Differences)
	}
	if len(p.Metrics) < 10 {
		t.Errorf("only %d metrics compared", len(p.Metrics))
	}
	for _, m := range p.Metrics {
		if m.Significant || m.Delta != "~" {
			t.Errorf("%s: significant=%v delta=%q, want ~", m.Metric, m.Significant, m.Delta)
		}
	}
	var out bytes.Buffer
	if err := RenderCompare(&out, res, FormatText); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "warm ") && !strings.Contains(line, " ~ ") {
			t.Errorf("a change is shown where there is none: %q", line)
		}
	}
	if !strings.Contains(out.String(), "what differs: nothing") {
		t.Errorf("no 'nothing differs' line:\n%s", out.String())
	}
}

func TestCompareSlowerIsSignificant(t *testing.T) {
	base := fullReport()
	head := scaledCopy(t, base, 1.5)
	res, err := CompareReports([]NamedReport{{"base.json", base}, {"slow.json", head}}, CompareOptions{
		Thresholds: []Threshold{mustThreshold(t, "warm.e2e.median<+5%"), mustThreshold(t, "cold_start.total<+10%")},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := metric(t, res.Pairs[0], MetricWarmE2E)
	if !m.Significant || m.ChangePct == nil || fmt.Sprintf("%.1f", *m.ChangePct) != "50.0" {
		t.Fatalf("warm e2e: significant=%v change=%v, want +50%% significant", m.Significant, m.ChangePct)
	}
	if m.Delta != "+50.00%" {
		t.Errorf("delta %q, want +50.00%%", m.Delta)
	}
	if got := metric(t, res.Pairs[0], MetricWarmServer); !got.Significant {
		t.Error("warm server not significant")
	}
	if got := metric(t, res.Pairs[0], MetricColdTotal); got.Significant || !got.TooFewSamples {
		t.Errorf("cold total (1 sample each): significant=%v tooFew=%v", got.Significant, got.TooFewSamples)
	}
	if !res.Failed {
		t.Fatal("threshold warm.e2e.median<+5% did not fail")
	}
	if c := res.Checks; len(c) != 2 || c[0].Result != CheckFail || c[1].Result != CheckPass {
		t.Errorf("checks %+v", c)
	}
	// The faster direction passes the same threshold.
	res, err = CompareReports([]NamedReport{{"slow.json", head}, {"base.json", base}}, CompareOptions{Thresholds: []Threshold{mustThreshold(t, "warm.e2e.median<+5%")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed {
		t.Error("an improvement failed the threshold")
	}
	if got := metric(t, res.Pairs[0], MetricWarmE2E); !got.Significant || *got.ChangePct > -33 {
		t.Errorf("faster: %+v", got)
	}
}

func TestCompareRateThreshold(t *testing.T) {
	base := fullReport()
	head := scaledCopy(t, base, 1)
	for i := range head.Warm.Runs {
		if s := head.Warm.Runs[i].StepsPerS; s != nil {
			*s *= 0.8
		}
	}
	res, err := CompareReports([]NamedReport{{"a", base}, {"b", head}}, CompareOptions{Thresholds: []Threshold{mustThreshold(t, "warm.steps_per_s>-5%")}})
	if err != nil {
		t.Fatal(err)
	}
	m := metric(t, res.Pairs[0], MetricWarmStepsPerS)
	if !m.Significant || changeWord(m) != "worse" || !res.Failed {
		t.Errorf("20%% fewer steps/s: significant=%v word=%q failed=%v", m.Significant, changeWord(m), res.Failed)
	}
}

func TestCompareDifferentHosts(t *testing.T) {
	a := fullReport()
	b := scaledCopy(t, a, 1)
	b.Host.Hostname = "gpu-box-2"
	b.Host.GPUs[0].Driver = "575.51.03"
	b.Host.GPUs[0].CUDA = "12.9"
	b.Target.Config["runs"] = "9"
	res, err := CompareReports([]NamedReport{{"a", a}, {"b", b}}, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Difference{}
	for _, d := range res.Pairs[0].Differences {
		got[d.Field] = d
	}
	for field, want := range map[string][2]string{
		"driver": {"570.133.20", "575.51.03"}, "CUDA": {"12.8", "12.9"},
		"host": {"gpu-box-1", "gpu-box-2"}, "flag runs": {"8", "9"},
	} {
		if d, ok := got[field]; !ok || d.Base != want[0] || d.Head != want[1] {
			t.Errorf("difference %s = %+v, want %v", field, d, want)
		}
	}
	if len(got) != 4 {
		t.Errorf("differences %v, want exactly 4", res.Pairs[0].Differences)
	}
	var out bytes.Buffer
	RenderCompare(&out, res, FormatText)
	s := out.String()
	di, mi := strings.Index(s, "driver"), strings.Index(s, "warm e2e")
	if di < 0 || mi < 0 || di > mi {
		t.Errorf("differences are not printed before the metrics:\n%s", s)
	}
	if !strings.Contains(s, "570.133.20 → 575.51.03") || !strings.Contains(s, "12.8 → 12.9") {
		t.Errorf("driver/CUDA change not shown:\n%s", s)
	}
}

func TestCompareRefusesDifferentWorkflowOrGPU(t *testing.T) {
	a := fullReport()
	for name, edit := range map[string]func(*Report){
		"workflow": func(r *Report) { r.Scenario.WorkflowSHA256 = strings.Repeat("f", 64) },
		"GPU":      func(r *Report) { r.Host.GPUs[0].Name = "NVIDIA L40S" },
	} {
		b := scaledCopy(t, a, 1)
		edit(b)
		_, err := CompareReports([]NamedReport{{"a", a}, {"b", b}}, CompareOptions{})
		if !errors.Is(err, ErrIncomparable) || !strings.Contains(err.Error(), "--force") {
			t.Errorf("%s: err = %v, want ErrIncomparable naming --force", name, err)
		}
		res, err := CompareReports([]NamedReport{{"a", a}, {"b", b}}, CompareOptions{Force: true})
		if err != nil || len(res.Warnings) != 1 {
			t.Errorf("%s with force: %v, warnings %v", name, err, res)
		}
	}
}

func TestCompareMissingSide(t *testing.T) {
	a := fullReport()
	b := scaledCopy(t, a, 1)
	b.GPU.VRAMPeakBytes = nil
	res, err := CompareReports([]NamedReport{{"a", a}, {"b", b}}, CompareOptions{Thresholds: []Threshold{mustThreshold(t, "gpu.vram_peak<+1%")}})
	if err != nil {
		t.Fatal(err)
	}
	m := metric(t, res.Pairs[0], MetricVRAMPeak)
	if m.Head.N != 0 || len(m.Notes) == 0 || !strings.Contains(m.Notes[0], "not measured in the new") {
		t.Errorf("vram peak %+v", m)
	}
	// A gate that cannot judge does not pass.
	if c := res.Checks[0]; c.Result != CheckNotMeasured || !res.Failed || c.Verdict() != "not measured in the new report" {
		t.Errorf("check %+v (%s), failed %v", c, c.Verdict(), res.Failed)
	}
}

func TestCompareErrors(t *testing.T) {
	r := fullReport()
	if _, err := CompareReports([]NamedReport{{"a", r}}, CompareOptions{}); err == nil {
		t.Error("one report compared")
	}
	if _, err := CompareReports([]NamedReport{{"a", r}, {"b", r}}, CompareOptions{Alpha: 1.5}); err == nil {
		t.Error("alpha 1.5 accepted")
	}
	if _, err := CompareReports([]NamedReport{{"a", r}, {"b", nil}}, CompareOptions{}); err == nil {
		t.Error("nil report accepted")
	}
}

func TestParseThreshold(t *testing.T) {
	for in, want := range map[string]Threshold{
		"warm.e2e.median<+5%":      {Metric: MetricWarmE2E, Op: "<", Pct: 5},
		"cold_start.total <= 10 %": {Metric: MetricColdTotal, Op: "<=", Pct: 10},
		"warm.steps_per_s>-3.5%":   {Metric: MetricWarmStepsPerS, Op: ">", Pct: -3.5},
		"cold_start.model_load<0%": {Metric: "cold_start.model_load", Op: "<", Pct: 0},
	} {
		got, err := ParseThreshold(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		want.Text = in
		if got != want {
			t.Errorf("%q = %+v, want %+v", in, got, want)
		}
	}
	for in, why := range map[string]string{
		"warm.e2e<5":          "want METRIC",
		"warm.e2e=5%":         "want METRIC",
		"":                    "want METRIC",
		"warm.latency<+5%":    `unknown metric "warm.latency"`,
		"warm.e2e.p95<+5%":    "only the median",
		"warm.e2e.median<+x%": "want METRIC",
	} {
		_, err := ParseThreshold(in)
		var te *ThresholdError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
			t.Errorf("%q: err = %v, want a ThresholdError naming it and %q", in, err, why)
		}
	}
}

func TestRenderCompareFormats(t *testing.T) {
	base := fullReport()
	head := scaledCopy(t, base, 1.5)
	head.Host.GPUs[0].Driver = "575.51.03"
	head.Target.Image.Ref = "ghcr.io/example/comfyui-qwen:0.3.65-with-a-rather-long-tag-name-for-wrapping"
	res, err := CompareReports([]NamedReport{{"base.json", base}, {"slow.json", head}}, CompareOptions{Thresholds: []Threshold{mustThreshold(t, "warm.e2e.median<+5%")}})
	if err != nil {
		t.Fatal(err)
	}
	var text, md, js bytes.Buffer
	for f, b := range map[string]*bytes.Buffer{FormatText: &text, FormatMarkdown: &md, FormatJSON: &js} {
		if err := RenderCompare(b, res, f); err != nil {
			t.Fatal(f, err)
		}
	}
	for i, line := range strings.Split(text.String(), "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("text line %d has %d columns: %q", i+1, n, line)
		}
	}
	for _, want := range []string{"+50.0%", "warm.e2e.median<+5%", "FAIL", "too few samples", "~"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(md.String(), "| warm e2e |") || !strings.Contains(md.String(), "**+50.0%** worse") {
		t.Errorf("markdown:\n%s", md.String())
	}
	var back CompareResult
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || !back.Failed || len(back.Pairs[0].Metrics) != len(res.Pairs[0].Metrics) {
		t.Errorf("json round trip: %v %+v", err, back.Failed)
	}
	if err := RenderCompare(&text, res, "html"); err == nil {
		t.Error("unknown format accepted")
	}
	golden(t, "compare.golden", text.Bytes())
	golden(t, "compare_md.golden", md.Bytes())
}

// manyRuns is a report of n valid warm runs (and n cold starts), for the benchmark.
func manyRuns(n int, f float64) *Report {
	r := fullReport()
	runs := make([]Run, n)
	colds := make([]ColdRun, n)
	for i := range runs {
		runs[i] = warmRun(i%200, (2.5+float64(i%17)*0.01)*f, (2.4+float64(i%13)*0.01)*f)
		colds[i] = ColdRun{Index: i, Phases: r.ColdStart.Phases, TotalS: Seconds(80 + float64(i%7))}
	}
	r.Warm = SummarizeWarm(runs, nil)
	r.ColdStart.Runs = colds
	return r
}

// BenchmarkCompare1000 decodes two 1,000-run reports (1,000 warm runs and 1,000 cold starts
// each) and compares them: what `qwenlab compare a.json b.json` does.
func BenchmarkCompare1000(b *testing.B) {
	ad, _ := Marshal(manyRuns(1000, 1))
	bd, _ := Marshal(manyRuns(1000, 1.02))
	b.SetBytes(int64(len(ad) + len(bd)))
	b.ResetTimer()
	for b.Loop() {
		ra, err := Decode(ad)
		if err != nil {
			b.Fatal(err)
		}
		rb, err := Decode(bd)
		if err != nil {
			b.Fatal(err)
		}
		res, err := CompareReports([]NamedReport{{"a", ra}, {"b", rb}}, CompareOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := RenderCompare(&bytes.Buffer{}, res, FormatText); err != nil {
			b.Fatal(err)
		}
	}
}

// A gate that cannot test a change does not wave it through: with one cold start per report
// no change is ever significant, so a change past the limit fails as "untested", naming the
// flag that gives the test its samples; a change within the limit passes.
func TestThresholdUntestedChangeFailsTheGate(t *testing.T) {
	a := fullReport()
	a.ColdStart.Runs = nil // one cold start: its phases and total
	b := scaledCopy(t, a, 1)
	b.ColdStart.TotalS = Seconds(*b.ColdStart.TotalS * 1.5)
	*b.GPU.VRAMPeakBytes = *b.GPU.VRAMPeakBytes * 3 / 2
	res, err := CompareReports([]NamedReport{{"a", a}, {"b", b}}, CompareOptions{Thresholds: []Threshold{
		mustThreshold(t, "cold_start.total<+10%"), mustThreshold(t, "cold_start.total<+60%"), mustThreshold(t, "gpu.vram_peak<+10%"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed {
		t.Error("a +50% cold start under a +10% limit passed the gate")
	}
	c := res.Checks[0]
	if c.Result != CheckUntested || c.N1 != 1 || c.N2 != 1 || !c.Fails() {
		t.Errorf("cold total past the limit: %+v", c)
	}
	if v := c.Verdict(); v != "+50.0%, untested: 1+1 samples, the test needs 4 per side (--cold-starts 4 or more)" {
		t.Errorf("verdict %q", v)
	}
	if c := res.Checks[1]; c.Result != CheckPass || c.Fails() || c.Verdict() != "+50.0%, within the limit (too few samples to test)" {
		t.Errorf("cold total within the limit: %+v (%s)", c, c.Verdict())
	}
	// VRAM peak is one value per run: no flag gives it more samples.
	if c := res.Checks[2]; c.Result != CheckUntested || c.Verdict() != "+50.0%, past the limit (one value per report: no test, the values are compared)" {
		t.Errorf("vram peak: %+v (%s)", c, c.Verdict())
	}
	var text bytes.Buffer
	if err := RenderCompare(&text, res, "text"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  FAIL  cold_start.total<+10%  +50.0%, untested: 1+1 samples, the test needs 4\n        per side (--cold-starts 4 or more)\n",
		"  ok    cold_start.total<+60%  +50.0%, within the limit (too few samples to\n        test)\n",
		"FAILED: a change went past a threshold with too few samples to test it",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

func TestTestableSampleSizes(t *testing.T) {
	for _, tc := range []struct {
		n1, n2 int
		alpha  float64
		want   bool
	}{
		{1, 1, 0.05, false}, {3, 3, 0.05, false}, {4, 4, 0.05, true}, {3, 5, 0.05, true},
		{2, 20, 0.05, true}, {1, 30, 0.05, false}, {0, 10, 0.05, false}, {4, 4, 0.01, false}, {5, 5, 0.01, true},
	} {
		if got := testable(tc.n1, tc.n2, tc.alpha); got != tc.want {
			t.Errorf("testable(%d, %d, %g) = %v, want %v", tc.n1, tc.n2, tc.alpha, got, tc.want)
		}
	}
	if n := needPerSide(0.05); n != 4 {
		t.Errorf("needPerSide(0.05) = %d, want 4 (benchmath says so too)", n)
	}
}

func TestThresholdUntestableBeforeARun(t *testing.T) {
	cold, warm, vram := mustThreshold(t, "cold_start.total<+10%"), mustThreshold(t, "warm.e2e.median<+5%"), mustThreshold(t, "gpu.vram_peak<+5%")
	for _, tc := range []struct {
		th       Threshold
		n, nBase int
		alpha    float64
		want     string
	}{
		{cold, cold.Metric.SamplesPerRun(10, 1), -1, 0, "1+1 samples, the test needs 4 per side (--cold-starts 4 or more)"},
		{cold, cold.Metric.SamplesPerRun(10, 4), 1, 0, "1+4 samples, the test needs 4 per side (--cold-starts 4 or more)"},
		{cold, cold.Metric.SamplesPerRun(10, 4), -1, 0, ""},
		{warm, warm.Metric.SamplesPerRun(3, 1), 3, 0.05, "3+3 samples, the test needs 4 per side (--runs 4 or more)"},
		{warm, warm.Metric.SamplesPerRun(10, 1), 10, 0.05, ""},
		{warm, warm.Metric.SamplesPerRun(4, 1), 4, 0.01, "4+4 samples, the test needs 5 per side (--runs 5 or more)"},
		{vram, vram.Metric.SamplesPerRun(10, 4), -1, 0, ""}, // one value per report, compared as it is
	} {
		if got := tc.th.Untestable(tc.n, tc.nBase, tc.alpha); got != tc.want {
			t.Errorf("%s with %d, base %d, alpha %g: %q, want %q", tc.th.Text, tc.n, tc.nBase, tc.alpha, got, tc.want)
		}
	}
	if n := Samples(fullReport(), MetricWarmE2E); n != 7 {
		t.Errorf("Samples(warm.e2e) = %d, want the fixture's 7 valid runs", n)
	}
}
