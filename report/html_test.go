package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// parseHTML renders r and parses the page as a browser would.
func parseHTML(t *testing.T, r *Report) (*html.Node, string) {
	t.Helper()
	var b bytes.Buffer
	if err := RenderHTML(&b, r); err != nil {
		t.Fatalf("RenderHTML: %v", err)
	}
	doc, err := html.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("parse the page: %v", err)
	}
	return doc, b.String()
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	return slicesContains(strings.Fields(v), class)
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// findAll returns the elements for which match is true, in document order.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// TestRenderHTMLFull checks the page of a full report: a bar per timeline span, a point per
// warm run with the invalid and lagged ones marked, the slow step marked on its bar, the
// GPU charts with phases shaded, the environment, and nothing to fetch.
func TestRenderHTMLFull(t *testing.T) {
	r := fullReport()
	doc, page := parseHTML(t, r)

	// Three cold starts: the first with its timeline, the second without one (its phases are
	// laid back to back: 7 measured), the third failed after create.
	blocks := findAll(doc, func(n *html.Node) bool { return n.Data == "g" && hasClass(n, "cold-start") })
	if len(blocks) != 3 {
		t.Fatalf("%d cold-start blocks, want 3", len(blocks))
	}
	for i, want := range []int{len(r.ColdStart.Timeline), 7, 1} {
		if got := len(findAll(blocks[i], func(n *html.Node) bool { return n.Data == "rect" && hasClass(n, "bar") })); got != want {
			t.Errorf("cold start %d: %d bars, want %d", i+1, got, want)
		}
	}
	if !strings.Contains(textOf(blocks[2]), "failed") {
		t.Error("the failed cold start is not marked")
	}
	bars := findAll(blocks[0], func(n *html.Node) bool { return n.Data == "rect" && hasClass(n, "bar") })
	var slow []string
	for _, b := range bars {
		if hasClass(b, "slow") {
			v, _ := attr(b, "data-phase")
			slow = append(slow, v)
		}
	}
	if len(slow) != 1 || slow[0] != "model load" {
		t.Errorf("slow bars %q, want the model load (its budget was exceeded)", slow)
	}

	pts := findAll(doc, func(n *html.Node) bool { return n.Data == "circle" && hasClass(n, "pt-e2e") })
	if len(pts) != len(r.Warm.Runs) {
		t.Fatalf("%d e2e points, want one per warm run (%d)", len(pts), len(r.Warm.Runs))
	}
	runs := findAll(doc, func(n *html.Node) bool { return n.Data == "g" && hasClass(n, "run") })
	flags := map[string]string{}
	for _, g := range runs {
		run, _ := attr(g, "data-run")
		flag, _ := attr(g, "data-flag")
		flags[run] = flag
	}
	if flags["7"] != "cached" || flags["2"] != "lag" || flags["0"] != "" {
		t.Errorf("run flags %v: want run 7 cached, run 2 lag, run 0 unflagged", flags)
	}
	if n := len(findAll(doc, func(n *html.Node) bool { return hasClass(n, "cross") })); n != 1 {
		t.Errorf("%d invalid-run crosses, want 1", n)
	}
	if len(findAll(doc, func(n *html.Node) bool { return hasClass(n, "ci") })) != 1 {
		t.Error("no confidence band of the median")
	}

	gpu := findAll(doc, func(n *html.Node) bool { return n.Data == "svg" && hasClass(n, "gpu-chart") })
	var metrics []string
	for _, g := range gpu {
		m, _ := attr(g, "data-metric")
		metrics = append(metrics, m)
	}
	if strings.Join(metrics, ",") != "vram,util,power" {
		t.Errorf("GPU charts %v, want vram,util,power", metrics)
	}
	if shades := findAll(gpu[0], func(n *html.Node) bool { return hasClass(n, "shade-warm") }); len(shades) != 1 {
		t.Errorf("%d warm shades on the GPU chart, want 1", len(shades))
	}

	nodes := findAll(doc, func(n *html.Node) bool { return n.Data == "g" && hasClass(n, "node") })
	if len(nodes) != 3 {
		t.Errorf("%d node rows, want the typical run's 3 nodes", len(nodes))
	}

	body := textOf(doc)
	for _, want := range []string{"ghcr.io/example/comfyui-qwen:0.3.64", "sha256:0123456789abcdef", "570.133.20", "12.8",
		"NVIDIA H100 80GB HBM3", "gpu-box-1", "HF_TOKEN=<redacted>", "sampler node 3 (KSampler) was served from the cache", "0.3.64"} {
		if !strings.Contains(body, want) {
			t.Errorf("page text lacks %q", want)
		}
	}
	assertSelfContained(t, doc, page)
}

// assertSelfContained fails when the page could fetch anything: every src/href must be a
// fragment or a data: URL, no script element, and the CSP forbids the rest.
func assertSelfContained(t *testing.T, doc *html.Node, page string) {
	t.Helper()
	if s := findAll(doc, func(n *html.Node) bool { return n.Data == "script" }); len(s) > 0 {
		t.Errorf("the page has %d script element(s)", len(s))
	}
	for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			switch strings.ToLower(a.Key) {
			case "src", "href", "xlink:href", "action", "poster", "srcset":
				if !strings.HasPrefix(a.Val, "#") && !strings.HasPrefix(a.Val, "data:") {
					t.Errorf("<%s %s=%q> could fetch something", n.Data, a.Key, a.Val)
				}
			}
		}
	}
	metas := findAll(doc, func(n *html.Node) bool {
		v, _ := attr(n, "http-equiv")
		return n.Data == "meta" && strings.EqualFold(v, "Content-Security-Policy")
	})
	if len(metas) != 1 {
		t.Fatalf("%d CSP meta elements, want 1", len(metas))
	}
	if v, _ := attr(metas[0], "content"); !strings.Contains(v, "default-src 'none'") {
		t.Errorf("CSP %q does not forbid fetching", v)
	}
	if m := regexp.MustCompile(`(?i)url\(|@import`).FindString(page); m != "" {
		t.Errorf("the stylesheet could fetch something: %q", m)
	}
}

// TestRenderHTMLEscapes: a report is untrusted input; markup in it renders as text.
func TestRenderHTMLEscapes(t *testing.T) {
	r := fullReport()
	evil := `<script>alert("x")</script>`
	r.Scenario.Params["prompt"] = "a cat " + evil
	r.Scenario.Name = `</title><script>alert(1)</script>`
	r.Target.Image.Ref = `img"><svg onload=alert(1)>`
	r.Logs.Tail = append(r.Logs.Tail, `<img src=x onerror=alert(1)>`)
	r.ColdStart.Timeline[1].Name = `create"><script>alert(2)</script>`
	r.ColdStart.Timeline[1].Source = `engine" onmouseover="alert(3)`
	r.Warnings = append(r.Warnings, `<a href="https://evil.example/">click</a>`)
	r.Warm.Runs[0].Nodes["<b>9</b>"] = NodeTiming{ClassType: "<i>Evil</i>", DurationS: Seconds(0.5)}
	r.Warm.Runs[1].Nodes = r.Warm.Runs[0].Nodes // make the evil node's run typical either way
	r.Warm.Runs[3].Nodes = r.Warm.Runs[0].Nodes
	r.Warm.Runs[6].Nodes = r.Warm.Runs[0].Nodes

	doc, page := parseHTML(t, r)
	assertSelfContained(t, doc, page)
	for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
		switch n.Data {
		case "img", "a", "b", "i":
			t.Errorf("report text became a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") {
				t.Errorf("report text became an event handler: <%s %s=%q>", n.Data, a.Key, a.Val)
			}
		}
	}
	body := textOf(doc)
	for _, want := range []string{"a cat " + evil, `<img src=x onerror=alert(1)>`, `img"><svg onload=alert(1)>`, `<a href="https://evil.example/">click</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page text lacks %q, shown as text", want)
		}
	}
	r.ColdStart.Runs = nil // draw the report's own timeline
	doc, _ = parseHTML(t, r)
	bars := findAll(doc, func(n *html.Node) bool { return n.Data == "rect" && hasClass(n, "bar") })
	if v, _ := attr(bars[1], "data-source"); v != "unknown" {
		t.Errorf("an unknown source became data-source %q, want unknown", v)
	}
}

func TestRenderHTMLPartialAndURL(t *testing.T) {
	for name, r := range map[string]*Report{"failed": failedReport(), "url": urlReport()} {
		t.Run(name, func(t *testing.T) {
			doc, page := parseHTML(t, r)
			assertSelfContained(t, doc, page)
			body := textOf(doc)
			main := findAll(doc, func(n *html.Node) bool { return hasClass(n, "qwenlab-report") })
			status, _ := attr(main[0], "data-status")
			switch name {
			case "failed":
				if status != "partial" || !strings.Contains(body, "container exited with code 1") || !strings.Contains(body, "RuntimeError: boom") {
					t.Errorf("failed report: status %q; the error and the log tail must show", status)
				}
				if !strings.Contains(body, "run failed before warm runs") {
					t.Error("the reason for no warm runs is missing")
				}
			case "url":
				if status != "ok" || !strings.Contains(body, "url target: the server was already running") {
					t.Errorf("url report: status %q; the reason for no cold start must show", status)
				}
				if n := len(findAll(doc, func(n *html.Node) bool { return hasClass(n, "pt-e2e") })); n != 3 {
					t.Errorf("%d points, want 3", n)
				}
			}
		})
	}
}

func TestRenderHTMLNil(t *testing.T) {
	if err := RenderHTML(&bytes.Buffer{}, nil); err == nil {
		t.Error("RenderHTML(nil) did not fail")
	}
}

// TestRenderHTMLManyColdStarts stacks the cold starts: one block per cold start, each with
// its own bars.
func TestRenderHTMLManyColdStarts(t *testing.T) {
	r := fullReport()
	second := r.ColdStart.Runs[0]
	second.Index, second.TotalS = 1, Seconds(40)
	second.Timeline = []TimelineEntry{
		{Name: "create", StartS: 0, EndS: 0.1, Source: SourceEngine},
		{Name: "start", StartS: 0.1, EndS: 0.5, Source: SourceEngine},
	}
	r.ColdStart.Runs = append(r.ColdStart.Runs[:1], second)
	doc, _ := parseHTML(t, r)
	blocks := findAll(doc, func(n *html.Node) bool { return n.Data == "g" && hasClass(n, "cold-start") })
	if len(blocks) != 2 {
		t.Fatalf("%d cold-start blocks, want 2", len(blocks))
	}
	first := findAll(blocks[0], func(n *html.Node) bool { return hasClass(n, "bar") })
	sec := findAll(blocks[1], func(n *html.Node) bool { return hasClass(n, "bar") })
	if len(first) != len(r.ColdStart.Runs[0].Timeline) || len(sec) != 2 {
		t.Errorf("bars per block %d, %d; want %d, 2", len(first), len(sec), len(r.ColdStart.Runs[0].Timeline))
	}
}

func TestWriteHTML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.html")
	if err := WriteHTML(path, fullReport()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) {
		t.Fatalf("read back: %v, %.40q", err, b)
	}
	if err := WriteHTML(filepath.Join(t.TempDir(), "missing", "r.html"), fullReport()); err == nil {
		t.Error("writing into a missing folder did not fail")
	}
}

// matrixReport is a matrix of two images: the second one slower.
func matrixReport() *Report {
	a, b := fullReport(), fullReport()
	b.Target.Image.Ref = `slow<img src=x>:1`
	b.Target.Image.Digest = "sha256:ffff"
	for i := range b.Warm.Runs {
		b.Warm.Runs[i].E2ES = Seconds(*b.Warm.Runs[i].E2ES * 1.5)
	}
	b.Warm = SummarizeWarm(b.Warm.Runs, b.Warm.Warmups)
	return Combine([]Section{{Label: "fast:1", Kind: SectionImage, Report: a}, {Label: `slow<img src=x>:1`, Kind: SectionImage, Report: b}}, CompareOptions{})
}

// TestRenderHTMLMatrix: a matrix report shows its images side by side (a column each, the
// change and its significance, the differences, one timeline and one warm chart for both),
// then each image's own page.
func TestRenderHTMLMatrix(t *testing.T) {
	r := matrixReport()
	doc, page := parseHTML(t, r)
	assertSelfContained(t, doc, page)
	cmp := findAll(doc, func(n *html.Node) bool { return n.Data == "section" && hasClass(n, "compare") })
	if len(cmp) != 1 {
		t.Fatalf("%d side-by-side sections, want 1", len(cmp))
	}
	heads := findAll(cmp[0], func(n *html.Node) bool {
		return n.Data == "th" && n.Parent.Parent.Parent != nil && hasClass(n.Parent.Parent.Parent, "compare-metrics")
	})
	if len(heads) != 3 || textOf(heads[1]) != "fast:1" || textOf(heads[2]) != "slow<img src=x>:1" {
		var hs []string
		for _, h := range heads {
			hs = append(hs, textOf(h))
		}
		t.Errorf("comparison columns %q, want metric, fast:1, slow<img src=x>:1", hs)
	}
	var e2e *html.Node
	for _, tr := range findAll(cmp[0], func(n *html.Node) bool { return n.Data == "tr" }) {
		if v, _ := attr(tr, "data-metric"); v == "warm.e2e" {
			e2e = tr
		}
	}
	if e2e == nil || !strings.Contains(textOf(e2e), "+50.00%") || !strings.Contains(textOf(e2e), "worse") {
		t.Errorf("warm.e2e row %q: want the +50 %% change, significant and worse", textOf(e2e))
	}
	if !strings.Contains(textOf(cmp[0]), "sha256:ffff") {
		t.Error("the differing digest is not shown")
	}
	groups := map[string]int{}
	for _, g := range findAll(cmp[0], func(n *html.Node) bool { return n.Data == "g" && hasClass(n, "cold-start") }) {
		v, _ := attr(g, "data-group")
		groups[v]++
	}
	if groups["0"] != 3 || groups["1"] != 3 {
		t.Errorf("cold starts per image on the shared timeline %v, want 3 each", groups)
	}
	if pts := findAll(cmp[0], func(n *html.Node) bool { return hasClass(n, "pt-multi") }); len(pts) != 2*len(r.Warm.Runs) {
		t.Errorf("%d points on the shared warm chart, want %d", len(pts), 2*len(r.Warm.Runs))
	}
	secs := findAll(doc, func(n *html.Node) bool { return hasClass(n, "matrix-section") })
	if len(secs) != 2 {
		t.Fatalf("%d image pages, want 2", len(secs))
	}
	for _, s := range secs {
		if n := len(findAll(s, func(n *html.Node) bool { return hasClass(n, "pt-e2e") })); n != len(r.Warm.Runs) {
			t.Errorf("an image page has %d warm points, want %d", n, len(r.Warm.Runs))
		}
	}
	if imgs := findAll(doc, func(n *html.Node) bool { return n.Data == "img" }); len(imgs) > 0 {
		t.Error("a section label became an element")
	}
}

func TestRenderCompareHTML(t *testing.T) {
	a, b := fullReport(), fullReport()
	for i := range b.Warm.Runs {
		b.Warm.Runs[i].E2ES = Seconds(*b.Warm.Runs[i].E2ES * 1.5)
	}
	b.Warm = SummarizeWarm(b.Warm.Runs, b.Warm.Warmups)
	named := []NamedReport{{Name: "a.json", Report: a}, {Name: "b.json", Report: b}}
	th, _ := ParseThreshold("warm.e2e.median<+5%")
	res, err := CompareReports(named, CompareOptions{Thresholds: []Threshold{th}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := RenderCompareHTML(&buf, res, named); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	assertSelfContained(t, doc, buf.String())
	checks := findAll(doc, func(n *html.Node) bool { return n.Data == "table" && hasClass(n, "checks") })
	if len(checks) != 1 || !strings.Contains(textOf(checks[0]), "warm.e2e.median<+5%") || !strings.Contains(textOf(checks[0]), "FAIL: significant") {
		t.Error("the failed threshold is not shown")
	}
	if n := len(findAll(doc, func(n *html.Node) bool { return hasClass(n, "pt-multi") })); n != 2*len(a.Warm.Runs) {
		t.Errorf("%d warm points, want %d", n, 2*len(a.Warm.Runs))
	}
}

// A nightly's report kept its comparison with the baseline and the gate's verdicts: the page
// shows them, a gate that could not test its change failing as loudly as a significant one.
func TestRenderHTMLBaselineGate(t *testing.T) {
	base := fullReport()
	base.ColdStart.Runs = nil
	r := scaledCopy(t, base, 1)
	r.ColdStart.TotalS = Seconds(*r.ColdStart.TotalS * 1.5)
	res, err := CompareReports([]NamedReport{{"baseline.json", base}, {"this run", r}}, CompareOptions{Thresholds: []Threshold{
		mustThreshold(t, "cold_start.total<+10%"), mustThreshold(t, "warm.e2e.median<+5%"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	r.Baseline = res
	doc, page := parseHTML(t, r)
	assertSelfContained(t, doc, page)
	if !strings.Contains(page, "<h2>Against the baseline</h2>") {
		t.Error("no baseline section")
	}
	gate := findAll(doc, func(n *html.Node) bool { return hasClass(n, "gate-failed") })
	if len(gate) != 1 || !strings.Contains(textOf(gate[0]), "too few samples to test it") {
		t.Errorf("gate banner: %d", len(gate))
	}
	rows := findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "data-result"); return n.Data == "tr" && v != "" })
	if len(rows) != 2 {
		t.Fatalf("%d threshold rows, want 2", len(rows))
	}
	if v, _ := attr(rows[0], "data-result"); v != "untested" || !strings.Contains(textOf(rows[0]), "FAIL: untested: 1+1 samples") ||
		len(findAll(rows[0], func(n *html.Node) bool { return hasClass(n, "slow") })) != 1 {
		t.Errorf("cold total row: %q", textOf(rows[0]))
	}
	if v, _ := attr(rows[1], "data-result"); v != "pass" || !strings.Contains(textOf(rows[1]), "ok: ") {
		t.Errorf("warm e2e row: %q", textOf(rows[1]))
	}
}
