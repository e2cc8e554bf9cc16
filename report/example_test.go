package report_test

import (
	"fmt"

	"github.com/qwenlab/qwenlab/report"
)

func ExampleSummarize() {
	st := report.Summarize([]float64{2.51, 2.49, 2.50, 2.52, 2.48, 2.50, 3.10})
	fmt.Printf("n=%d median=%.2f s p95=%.2f s CI [%.2f, %.2f]\n", st.N, st.MedianS, st.P95S, *st.CI95LowS, *st.CI95HighS)
	short := report.Summarize([]float64{1.2, 1.3})
	fmt.Println(short.CI95LowS == nil, short.Warnings)
	// Output:
	// n=7 median=2.50 s p95=3.10 s CI [2.48, 3.10]
	// true [need >= 6 samples for confidence interval at level 0.95]
}

func ExampleRedact() {
	env := []string{"HF_TOKEN=hf_abc123", "PYTHONUNBUFFERED=1"}
	fmt.Println(report.Redact(env))
	fmt.Println(report.RedactString("login with hf_abc123 failed", report.SecretValues(env)))
	// Output:
	// [HF_TOKEN=<redacted> PYTHONUNBUFFERED=1]
	// login with <redacted> failed
}
