package report

import (
	"bytes"
	"strings"
	"testing"
)

func TestRenderMarkdownGolden(t *testing.T) {
	for name, r := range map[string]*Report{"full": fullReport(), "failed": failedReport(), "url": urlReport()} {
		var b bytes.Buffer
		if err := RenderMarkdown(&b, r); err != nil {
			t.Fatal(err)
		}
		golden(t, "report_"+name+".golden.md", b.Bytes())
	}
}

// TestRenderMarkdownEscapes: markup in a report cannot become markup in a pull request.
func TestRenderMarkdownEscapes(t *testing.T) {
	r := fullReport()
	r.Scenario.Params["prompt"] = "<script>alert(1)</script> | *bold* [x](https://evil.example)"
	r.Warnings = append(r.Warnings, "# heading\nsecond line")
	r.ColdStart.Timeline[0].Name = "pull ``` </details>"
	var b bytes.Buffer
	if err := RenderMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"<script>", "| *bold*", "[x](https", "\n- # heading", "\nsecond line"} {
		if strings.Contains(out, bad) {
			t.Errorf("markdown holds %q unescaped", bad)
		}
	}
	for _, want := range []string{`\<script\>alert(1)\</script\> \| \*bold\* \[x\](https://evil.example)`, `- \# heading second line`} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks the escaped %q", want)
		}
	}
	// The fence is longer than any run of backticks in the chart.
	if !strings.Contains(out, "````text\n") {
		t.Error("the timeline's fence does not outgrow the backticks inside it")
	}
}

func TestRenderMarkdownMatrix(t *testing.T) {
	var b bytes.Buffer
	if err := RenderMarkdown(&b, matrixReport()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "# qwenlab: qwen-image-t2i on fast:1 vs slow\\<img src=x\\>:1\n") {
		t.Errorf("matrix heading: %.80q", out)
	}
	if n := strings.Count(out, "### Cold start"); n != 2 {
		t.Errorf("%d image sections, want 2", n)
	}
	if !strings.Contains(out, "+50.0%") {
		t.Error("the comparison's change is missing")
	}
}
