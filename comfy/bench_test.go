package comfy_test

import (
	"slices"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/comfy/comfytest"
)

// BenchmarkRunOverhead measures the harness cost of one prompt against a fake server that
// does no work: POST /prompt, the 14 WebSocket messages of a two-node run, the final
// executing null and GET /history. ns/op is the whole Run; e2e-median-ms and e2e-p99-ms are
// Submit → End as a Result reports it (target: median ≤ 2 ms).
func BenchmarkRunOverhead(b *testing.B) {
	s := comfytest.NewServer(b, comfytest.Script{})
	c := newClient(b, s.URL, comfy.Options{})
	w := workflow(b, twoNode)
	ctx := ctxT(b)
	if _, err := c.Run(ctx, w); err != nil { // open the socket outside the timing
		b.Fatal(err)
	}
	e2e := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := c.Run(ctx, w)
		if err != nil {
			b.Fatal(err)
		}
		e2e = append(e2e, res.E2E())
	}
	b.StopTimer()
	slices.Sort(e2e)
	b.ReportMetric(float64(e2e[len(e2e)/2])/1e6, "e2e-median-ms")
	b.ReportMetric(float64(e2e[len(e2e)*99/100])/1e6, "e2e-p99-ms")
}
