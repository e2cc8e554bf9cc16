package report

import (
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecode feeds arbitrary bytes to Decode. Whatever it accepts must encode again, decode
// to the same report, and render without error.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/report.*.json")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/3])
	}
	for _, s := range []string{
		``, `null`, `[]`, `"x"`, `{}`, `{"schema_version":1}`, `{"schema_version":2}`, `{"schema_version":"1"}`,
		`{"schema_version":1,"warm":{"runs":[{"seed":"1","nodes":{"3":{"class_type":"KSampler","cached":true}}}]}}`,
		`{"schema_version":1,"cold_start":{"total_s":-1,"timeline":[{"name":"x","start_s":5,"end_s":1}]}}`,
		`{"schema_version":1,"gpu":{"available":true,"vram_peak_bytes":18446744073709551615}}`,
		`{"schema_version":1,"started_at":"2026-01-01T00:00:00+23:59","finished_at":"0000-01-01T00:00:00Z"}`,
		`{"schema_version":1} trailing`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			if r != nil {
				t.Fatalf("Decode returned a report and an error: %v", err)
			}
			return
		}
		out, err := Marshal(r)
		if err != nil {
			t.Fatalf("decoded report does not marshal: %v", err)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("marshalled report does not decode: %v\n%s", err, out)
		}
		if d := cmp.Diff(r, again); d != "" {
			t.Fatalf("decode(marshal(r)) != r (-first +second):\n%s", d)
		}
		if err := RenderSummary(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		if err := RenderHTML(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		if err := RenderMarkdown(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		// The trend's partial decode accepts what Decode accepts and reads the same figures.
		var tr trendReport
		if err := decodeInto(data, &tr, &tr.SchemaVersion); err != nil {
			t.Fatalf("Decode accepts it, the trend's decode does not: %v", err)
		}
		slim := tr.report()
		if d := cmp.Diff(r.ColdStart, slim.ColdStart); d != "" {
			t.Fatalf("the trend's decode reads another cold start:\n%s", d)
		}
		if err := RenderTrendHTML(io.Discard, BuildTrend([]NamedReport{{Name: "a.json", Report: slim}, {Name: "b.json", Report: r}}, nil)); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzSummarize checks the order relations every Stat must keep.
func FuzzSummarize(f *testing.F) {
	enc := func(vs ...float64) []byte {
		b := make([]byte, 0, 8*len(vs))
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	f.Add(enc())
	f.Add(enc(1))
	f.Add(enc(1, 2, 3, 4, 5, 6, 7))
	f.Add(enc(0.5, 0.5, 0.5, 0.5, 0.5, 0.5))
	f.Add(enc(math.NaN(), math.Inf(-1), 3, -2, 1e300, -1e300))
	f.Fuzz(func(t *testing.T, data []byte) {
		var vs []float64
		for len(data) >= 8 {
			vs = append(vs, math.Float64frombits(binary.LittleEndian.Uint64(data)))
			data = data[8:]
		}
		st := Summarize(vs)
		if st.N == 0 {
			return
		}
		for _, v := range []float64{st.MeanS, st.MedianS, st.StddevS, st.MinS, st.MaxS, st.P90S, st.P95S} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("non-finite value in %+v from %v (JSON cannot hold it)", st, vs)
			}
		}
		if st.StddevS < 0 || !(st.MinS <= st.MeanS && st.MeanS <= st.MaxS) {
			t.Fatalf("mean %v outside [%v, %v] or stddev %v < 0", st.MeanS, st.MinS, st.MaxS, st.StddevS)
		}
		if !(st.MinS <= st.MedianS && st.MedianS <= st.MaxS) {
			t.Fatalf("median %v outside [%v, %v]", st.MedianS, st.MinS, st.MaxS)
		}
		if !(st.MedianS <= st.P90S && st.P90S <= st.P95S && st.P95S <= st.MaxS) {
			// R8 quantiles are monotone in q; allow nothing else.
			t.Fatalf("quantiles out of order: median %v p90 %v p95 %v max %v", st.MedianS, st.P90S, st.P95S, st.MaxS)
		}
		if (st.CI95LowS == nil) != (st.CI95HighS == nil) {
			t.Fatalf("half a confidence interval: %+v", st)
		}
		if st.CI95LowS != nil && !(*st.CI95LowS <= st.MedianS && st.MedianS <= *st.CI95HighS) {
			t.Fatalf("CI [%v, %v] excludes median %v", *st.CI95LowS, *st.CI95HighS, st.MedianS)
		}
		if (st.CI95LowS == nil) != (st.N < 6) {
			t.Fatalf("n=%d but CI present=%v", st.N, st.CI95LowS != nil)
		}
	})
}
