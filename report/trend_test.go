package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// nightly returns n nightly reports of one image on one host, a day apart; the report at
// index bump has its cold start's total and warm latencies scaled by factor.
func nightly(n, bump int, factor float64) []NamedReport {
	var out []NamedReport
	for i := 0; i < n; i++ {
		r := fullReport()
		r.StartedAt = t0.Add(time.Duration(i) * 24 * time.Hour)
		r.FinishedAt = r.StartedAt.Add(2 * time.Minute)
		f := 1 + float64(i)*0.01 // a little drift, under the default threshold
		if i == bump {
			f *= factor
		}
		c := r.ColdStart
		c.TotalS = Seconds(*c.TotalS * f)
		for j := range c.Runs {
			if c.Runs[j].TotalS != nil {
				c.Runs[j].TotalS = Seconds(*c.Runs[j].TotalS * f)
			}
		}
		runs := make([]Run, len(r.Warm.Runs))
		for j, run := range r.Warm.Runs {
			run.E2ES = Seconds(*run.E2ES * f)
			runs[j] = run
		}
		r.Warm.Runs = runs
		out = append(out, NamedReport{Name: fmt.Sprintf("night-%02d.json", i), Report: r})
	}
	return out
}

// TestTrendFivePoints: five reports give five points per series in every chart, in time
// order, and the bumped night is the only regression.
func TestTrendFivePoints(t *testing.T) {
	reps := nightly(5, 3, 1.5)
	// A second series: another host, same image.
	other := nightly(5, -1, 1)
	for _, nr := range other {
		nr.Report.Host.Hostname = "gpu-box-2"
		nr.Name = "box2-" + nr.Name
	}
	tr := BuildTrend(append(reps, other...), nil)
	if len(tr.Series) != 2 {
		t.Fatalf("%d series, want 2 (one per host)", len(tr.Series))
	}
	var b bytes.Buffer
	if err := RenderTrendHTML(&b, tr); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	assertSelfContained(t, doc, b.String())
	charts := findAll(doc, func(n *html.Node) bool { return n.Data == "svg" && hasClass(n, "trend-chart") })
	var ids []string
	for _, c := range charts {
		id, _ := attr(c, "data-metric")
		ids = append(ids, id)
		for _, g := range findAll(c, func(n *html.Node) bool { return n.Data == "g" && hasClass(n, "trend-series") }) {
			if pts := findAll(g, func(n *html.Node) bool { return n.Data == "circle" && hasClass(n, "pt") }); len(pts) != 5 {
				s, _ := attr(g, "data-series")
				t.Errorf("chart %s, series %s: %d points, want 5", id, s, len(pts))
			}
		}
	}
	for _, want := range []string{"cold_start.total", "cold_start.create", "cold_start.first_prompt", "warm.e2e"} {
		if !strings.Contains(" "+strings.Join(ids, " ")+" ", " "+want+" ") {
			t.Errorf("no %s chart (charts: %v)", want, ids)
		}
	}
	if ids[0] != "cold_start.total" {
		t.Errorf("the first chart is %s, want the cold start's total", ids[0])
	}
	regs := tr.Regressions()
	got := map[string]string{}
	for _, r := range regs {
		got[string(r.Metric.ID)] = r.Point.Report
	}
	if got["cold_start.total"] != "night-03.json" || got["warm.e2e"] != "night-03.json" || len(regs) != 2 {
		t.Errorf("regressions %v, want cold_start.total and warm.e2e at night-03.json only", got)
	}
	rings := findAll(doc, func(n *html.Node) bool { return n.Data == "circle" && hasClass(n, "regression") })
	if len(rings) != 2 {
		t.Errorf("%d regression rings, want 2", len(rings))
	}
}

// TestTrendThresholds: a threshold replaces the default rule for its metric.
func TestTrendThresholds(t *testing.T) {
	loose, err := ParseThreshold("cold_start.total<+60%")
	if err != nil {
		t.Fatal(err)
	}
	strict, err := ParseThreshold("warm.e2e.median<+0.5%")
	if err != nil {
		t.Fatal(err)
	}
	tr := BuildTrend(nightly(5, 3, 1.5), []Threshold{loose, strict})
	got := map[string][]string{}
	for _, r := range tr.Regressions() {
		got[string(r.Metric.ID)] = append(got[string(r.Metric.ID)], r.Point.Report)
	}
	if len(got["cold_start.total"]) != 0 {
		t.Errorf("cold_start.total: regressions %v under a 60 %% threshold", got["cold_start.total"])
	}
	// The 1 % nightly drift breaks 0.5 % every night that rises (the last one falls).
	if strings.Join(got["warm.e2e"], ",") != "night-01.json,night-02.json,night-03.json" {
		t.Errorf("warm.e2e: regressions %v, want the three rises under a 0.5 %% threshold", got["warm.e2e"])
	}
	if r := tr.Regressions()[0]; r.Point.Rule != "warm.e2e.median<+0.5%" {
		t.Errorf("rule %q, want the threshold as written", r.Point.Rule)
	}
}

// TestTrendMatrixSections: each section of a matrix report is its own series.
func TestTrendMatrixSections(t *testing.T) {
	var reps []NamedReport
	for i, nr := range nightly(3, -1, 1) {
		slow := fullReport()
		slow.StartedAt = nr.Report.StartedAt
		combined := *nr.Report
		combined.Sections = []Section{{Label: "sim:instant", Kind: SectionImage, Report: nr.Report}, {Label: "sim:default", Kind: SectionImage, Report: slow}}
		reps = append(reps, NamedReport{Name: fmt.Sprintf("m%d.json", i), Report: &combined})
	}
	tr := BuildTrend(reps, nil)
	if len(tr.Series) != 2 || tr.Series[0].Image != "sim:instant" || tr.Series[1].Image != "sim:default" {
		t.Fatalf("series %+v, want sim:instant and sim:default", tr.Series)
	}
	for _, line := range tr.Metrics[0].Lines {
		if len(line) != 3 {
			t.Errorf("%d points, want 3", len(line))
		}
	}
}

func TestTrendMarkdownAndText(t *testing.T) {
	tr := BuildTrend(nightly(5, 3, 1.5), nil)
	var md, txt bytes.Buffer
	if err := RenderTrendMarkdown(&md, tr); err != nil {
		t.Fatal(err)
	}
	if err := RenderTrendText(&txt, tr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| cold total | ghcr.io/example/comfyui-qwen:0.3.64 @ gpu-box-1 | 2026-09-13 12:00 | night-03.json |", "**+51.5 % regression**", "### warm e2e"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	for _, want := range []string{"Regressions (2)", "night-03.json", "cold total"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, txt.String())
		}
	}
}

func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	for i, nr := range nightly(3, -1, 1) {
		// Written out of order: ReadDir sorts by start time.
		if err := Write(filepath.Join(dir, fmt.Sprintf("r%d.json", 2-i)), nr.Report); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "notes.json"), []byte(`{"hello": 1}`), 0o644)
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte(`not json`), 0o644)
	reps, skipped, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range reps {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "r2.json,r1.json,r0.json" {
		t.Errorf("reports %v, want them by start time", names)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "notes.json") {
		t.Errorf("skipped %q, want notes.json named", skipped)
	}
}
