package report

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRenderSummaryGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *Report
	}{
		{"summary_full.golden", fullReport()},
		{"summary_failed.golden", failedReport()},
		{"summary_url.golden", urlReport()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := RenderSummary(&b, tc.r); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

// The goldens are checked by eye once; these pin the facts a reader relies on, so a careless
// -update cannot drop them.
func TestRenderSummaryContent(t *testing.T) {
	render := func(r *Report) string {
		var b bytes.Buffer
		if err := RenderSummary(&b, r); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	full := render(fullReport())
	for _, want := range []string{
		"Cold start  total 1m23s",
		"pull          41.2 s",
		"model load    22.4 s    (within first prompt)",
		"pull          41.2 s    ◀ slowest",
		"Warm runs  7 valid of 8 (1 invalid, 1 cached, 1 lagged), after 1 warmup",
		"e2e *    2.50 s   3.08 s   2.49 s … 3.12 s    7",
		"run 8 invalid: sampler node 3 (KSampler) was served from the cache",
		"run 3: delivery lag 713 ms (e2e 3.12 s, server 2.40 s)",
		"GPU: VRAM peak 57.0 GiB (sampled), mean util 88 %, power 512 W; 1125 samples",
		"Teardown: removed (stop 310 ms, remove 42.0 ms)",
		"steps/s",
		"model_load  budget  22.4 s  15.0 s\n    between \"Requested to load QwenImage\" and \"loaded completely 78843.6 38963.4",
	} {
		if !strings.Contains(full, want) {
			t.Errorf("full summary lacks %q:\n%s", want, full)
		}
	}
	if strings.Contains(full, "Error") {
		t.Errorf("successful run shows an error:\n%s", full)
	}

	failed := render(failedReport())
	for _, want := range []string{
		"Error (ready): wait for ready: container exited with code 1 (see logs.tail)",
		"GPU: unavailable: NVML not found",
		"pull       —         image present",
		"Warm runs: none (run failed before warm runs)",
		"Teardown: NOT removed, left behind: c0ffee123456",
	} {
		if !strings.Contains(failed, want) {
			t.Errorf("failed summary lacks %q:\n%s", want, failed)
		}
	}

	url := render(urlReport())
	for _, want := range []string{
		"target    url\n          ComfyUI 0.21.0  http://127.0.0.1:8188",
		"Cold start: none (url target: the server was already running)",
		"note: fewer than 6 valid runs, no 95% CI of the median: use --runs 10 or more",
	} {
		if !strings.Contains(url, want) {
			t.Errorf("url summary lacks %q:\n%s", want, url)
		}
	}
	if strings.Contains(url, "Teardown") {
		t.Errorf("url target shows a teardown line:\n%s", url)
	}
}

// TestRenderSummaryFits80Columns: every summary line fits in 80 columns, whatever the
// report holds; long per-run tables need Verbose; the report's path ends the summary.
func TestRenderSummaryFits80Columns(t *testing.T) {
	many := fullReport()
	for len(many.Warm.Runs) <= MaxRunTable {
		r := many.Warm.Runs[0]
		r.Index = len(many.Warm.Runs)
		many.Warm.Runs = append(many.Warm.Runs, r)
	}
	many.Warnings = append(many.Warnings, strings.Repeat("a long warning that goes on ", 12))
	for _, tc := range []struct {
		name string
		r    *Report
		o    SummaryOptions
	}{
		{"full", fullReport(), SummaryOptions{ReportPath: "out/r.json"}},
		{"failed", failedReport(), SummaryOptions{}},
		{"url", urlReport(), SummaryOptions{}},
		{"many", many, SummaryOptions{}},
		{"many verbose", many, SummaryOptions{Verbose: true}},
	} {
		var b bytes.Buffer
		if err := RenderSummaryWith(&b, tc.r, tc.o); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for i, l := range strings.Split(out, "\n") {
			if n := utf8.RuneCountInString(l); n > SummaryWidth {
				t.Errorf("%s: line %d is %d columns: %q", tc.name, i+1, n, l)
			}
		}
		listed := regexp.MustCompile(`\n  21 +\d`).MatchString(out)
		switch tc.name {
		case "many":
			if listed || !strings.Contains(out, "--verbose lists each") {
				t.Errorf("%d runs listed one by one without --verbose:\n%s", len(tc.r.Warm.Runs), out)
			}
		case "many verbose":
			if !listed {
				t.Errorf("--verbose does not list every run:\n%s", out)
			}
		case "full":
			if !strings.HasSuffix(out, "\nReport: out/r.json\n") {
				t.Errorf("the summary does not end with where the report went:\n%s", out)
			}
		}
	}
}

func TestRenderSummaryNilAndEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := RenderSummary(&b, nil); err != nil || b.String() != "no report\n" {
		t.Errorf("nil report: %q, %v", b.String(), err)
	}
	b.Reset()
	if err := RenderSummary(&b, &Report{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "GPU: unavailable: no reason given") {
		t.Errorf("empty report: %q", b.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderSummaryWriteError(t *testing.T) {
	err := RenderSummary(failWriter{}, fullReport())
	if err == nil || !strings.Contains(err.Error(), "render summary: disk full") {
		t.Errorf("err = %v", err)
	}
}

func TestHumanSeconds(t *testing.T) {
	test := func(s float64, want string) {
		t.Helper()
		if got := HumanSeconds(s); got != want {
			t.Errorf("HumanSeconds(%v) = %q, want %q", s, got, want)
		}
	}
	test(0, "0 s")
	test(0.000_85, "850 µs")
	test(0.001, "1.00 ms")
	test(0.012_34, "12.3 ms")
	test(0.123_4, "123 ms")
	test(0.999_6, "1.00 s")
	test(1.234, "1.23 s")
	test(48.21, "48.2 s")
	test(59.96, "1m00s")
	test(123.4, "2m03s")
	test(3725, "1h02m")
	test(-0.5, "-500 ms")
}

func TestHumanBytes(t *testing.T) {
	test := func(b uint64, want string) {
		t.Helper()
		if got := HumanBytes(b); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", b, got, want)
		}
	}
	test(0, "0 B")
	test(1023, "1023 B")
	test(1536, "1.5 KiB")
	test(85_520_809_984, "79.6 GiB")
	test(1<<50, "1024.0 TiB")
}

func TestBar(t *testing.T) {
	if got := bar(0, 15, 30); got != "|"+strings.Repeat("=", timelineWidth/2)+strings.Repeat(" ", timelineWidth/2)+"|" {
		t.Errorf("half bar = %q", got)
	}
	// A span too short to show still gets one mark, also at the very end.
	if got := bar(30, 30, 30); got != "|"+strings.Repeat(" ", timelineWidth-1)+"=|" {
		t.Errorf("end bar = %q", got)
	}
	if got := bar(0, 1, 0); got != "" {
		t.Errorf("zero total = %q", got)
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\n\tb\x1b[31m  c", 100); got != "a b [31m c" {
		t.Errorf("got %q", got)
	}
	if got := oneLine("abcdef", 3); got != "abc…" {
		t.Errorf("got %q", got)
	}
}

// TestRenderSharedServerRuns: a run queued behind another client's prompt and one given up
// on say so in the summary, with where the prompt was left on the server.
func TestRenderSharedServerRuns(t *testing.T) {
	r := urlReport()
	runs := r.Warm.Runs
	runs[0].Contention = "queued behind 1 foreign prompt(s) for 23.2 s"
	runs[0].Valid, runs[0].Invalid = false, runs[0].Contention+": it measured other clients' work too"
	runs[1].Status, runs[1].FinalState, runs[1].Valid = "timeout", "running", false
	r.Warm = SummarizeWarm(runs, nil)
	var b bytes.Buffer
	if err := RenderSummary(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"contended", "run 1 invalid: queued behind 1 foreign prompt(s) for 23.2 s", "run 2: timeout on the server: still running when qwenlab exited"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// A run that failed only in its teardown measured everything: no renderer calls it partial
// (issue 10, item 19); a failure before the end still is.
func TestTeardownFailureIsNotPartial(t *testing.T) {
	for _, tc := range []struct {
		phase   string
		partial bool
	}{{ErrorPhaseTeardown, false}, {"warm runs", true}} {
		r := fullReport()
		r.Error = &ErrorInfo{Phase: tc.phase, Message: "lost the Docker Engine"}
		var text, md, html bytes.Buffer
		if err := RenderSummary(&text, r); err != nil {
			t.Fatal(err)
		}
		if err := RenderMarkdown(&md, r); err != nil {
			t.Fatal(err)
		}
		if err := RenderHTML(&html, r); err != nil {
			t.Fatal(err)
		}
		page := html.String()
		if i, j := strings.Index(page, "<style"), strings.Index(page, "</style>"); i >= 0 && j > i {
			page = page[:i] + page[j:] // the stylesheet names every status
		}
		for name, out := range map[string]string{"text": text.String(), "markdown": md.String(), "html": page} {
			if got := strings.Contains(strings.ToLower(out), "partial"); got != tc.partial {
				t.Errorf("%s, failed in %s: says partial = %v, want %v", name, tc.phase, got, tc.partial)
			}
		}
		if !tc.partial && !strings.Contains(text.String(), "Every measurement was taken; only the teardown failed.") {
			t.Errorf("text summary of a teardown failure:\n%s", text.String())
		}
	}
}
