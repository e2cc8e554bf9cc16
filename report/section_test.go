package report

import (
	"strings"
	"testing"
)

func TestCombine(t *testing.T) {
	a := fullReport()
	b := scaledCopy(t, a, 1.5)
	th := mustThreshold(t, "warm.e2e.median<+5%")
	rep := Combine([]Section{{"A", SectionImage, a}, {"B", SectionImage, b}}, CompareOptions{Thresholds: []Threshold{th}})
	if rep.Warm != a.Warm || len(rep.Sections) != 2 || a.Sections != nil {
		t.Fatalf("the top level is not the first section, or the section was changed")
	}
	if rep.Comparison == nil || !rep.Comparison.Failed || rep.Comparison.Pairs[0].Head != "B" {
		t.Fatalf("comparison %+v", rep.Comparison)
	}
	if got := SectionReports(rep); len(got) != 2 || got[1].Report != b {
		t.Errorf("SectionReports %+v", got)
	}
	if SectionReports(a) != nil {
		t.Error("a single report has sections")
	}
	// Sections that cannot be compared: a warning, no comparison, still one report.
	c := scaledCopy(t, a, 1)
	c.Scenario.WorkflowSHA256 = strings.Repeat("e", 64)
	rep = Combine([]Section{{"A", SectionImage, a}, {"C", SectionImage, c}}, CompareOptions{})
	if rep.Comparison != nil || len(rep.Warnings) != len(a.Warnings)+1 || !strings.Contains(rep.Warnings[len(rep.Warnings)-1], "no comparison of the sections") {
		t.Errorf("warnings %q", rep.Warnings)
	}
	if len(a.Warnings) != len(fullReport().Warnings) {
		t.Error("Combine changed the first section's warnings")
	}
	// A combined report round-trips through the codec.
	data, err := Marshal(Combine([]Section{{"A", SectionImage, a}, {"B", SectionImage, b}}, CompareOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(data)
	if err != nil || len(back.Sections) != 2 || back.Sections[1].Report.Warm == nil || back.Comparison == nil {
		t.Fatalf("round trip: %v", err)
	}
}
