package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// A stored matrix with a baseline reads as up-and-bench printed it: each section, the
// comparison with the first, the baseline's gate, the report's path last.
func TestRenderRunMatrixAndBaseline(t *testing.T) {
	a := fullReport()
	b := scaledCopy(t, a, 1.5)
	b.Warm = SummarizeWarm(b.Warm.Runs, b.Warm.Warmups)
	rep := Combine([]Section{{Label: "img:a", Kind: SectionImage, Report: a}, {Label: "img:b", Kind: SectionImage, Report: b}}, CompareOptions{})
	res, err := CompareReports([]NamedReport{{"base.json", a}, {"img:a", a}, {"img:b", b}}, CompareOptions{Thresholds: []Threshold{mustThreshold(t, "warm.e2e.median<+5%")}})
	if err != nil {
		t.Fatal(err)
	}
	rep.Baseline = res
	var out bytes.Buffer
	if err := RenderRun(&out, rep, SummaryOptions{ReportPath: "m.json"}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	order := []string{"=== img:a ===", "=== img:b ===", "=== comparison with the first image ===", "=== comparison with the baseline ===", "FAIL  warm.e2e.median<+5%", "\nReport: m.json\n"}
	at := -1
	for _, want := range order {
		i := strings.Index(got, want)
		if i <= at {
			t.Fatalf("%q missing or out of order in:\n%s", want, got)
		}
		at = i
	}
	if strings.Count(got, "Report: m.json") != 1 {
		t.Error("the report path is said more than once")
	}
	if err := RenderRun(failingWriter{}, rep, SummaryOptions{}); err == nil {
		t.Error("a failing writer went unnoticed")
	}
}

func TestRenderMarkdownBaseline(t *testing.T) {
	a := fullReport()
	b := scaledCopy(t, a, 1.5)
	res, err := CompareReports([]NamedReport{{"base.json", a}, {"this run", b}}, CompareOptions{Thresholds: []Threshold{mustThreshold(t, "warm.e2e.median<+5%")}})
	if err != nil {
		t.Fatal(err)
	}
	b.Baseline = res
	var out bytes.Buffer
	if err := RenderMarkdown(&out, b); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "### Against the baseline") || !strings.Contains(got, "| `warm.e2e.median<+5%` | +50.0% | **FAIL**: significant |") {
		t.Errorf("markdown lacks the baseline gate:\n%s", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
