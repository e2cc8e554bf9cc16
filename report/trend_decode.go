package report

import (
	"fmt"
	"os"
)

// A trend needs a report's identity, cold start and warm statistics, not its GPU samples,
// log lines or per-node timings, which are most of a GPU box's report. trendReport decodes
// the rest and skips those: the embedding struct's field of the same JSON name wins over the
// embedded one, and skipJSON takes its value without building anything.

type skipJSON struct{}

func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

type trendReport struct {
	Report
	GPU      trendGPU       `json:"gpu"`
	Logs     skipJSON       `json:"logs"`
	Warm     *trendWarm     `json:"warm"`
	Sections []trendSection `json:"sections"`
}

type trendGPU struct {
	GPUSection
	Series    skipJSON `json:"samples"`
	Processes skipJSON `json:"processes"`
}

type trendWarm struct {
	Warm
	Runs    []trendRun `json:"runs"`
	Warmups skipJSON   `json:"warmups"`
}

type trendRun struct {
	Run
	Nodes skipJSON `json:"nodes"`
}

type trendSection struct {
	Label  string       `json:"label"`
	Kind   string       `json:"kind"`
	Report *trendReport `json:"report"`
}

// report returns the decoded part as a Report (GPU samples, logs, warm-ups and node timings
// left empty).
func (t *trendReport) report() *Report {
	r := t.Report
	r.GPU = t.GPU.GPUSection
	if t.Warm != nil {
		w := t.Warm.Warm
		w.Runs = make([]Run, len(t.Warm.Runs))
		for i, tr := range t.Warm.Runs {
			w.Runs[i] = tr.Run
		}
		r.Warm = &w
	}
	r.Sections = nil
	for _, s := range t.Sections {
		sec := Section{Label: s.Label, Kind: s.Kind}
		if s.Report != nil {
			sec.Report = s.Report.report()
		}
		r.Sections = append(r.Sections, sec)
	}
	return &r
}

// readForTrend reads the report at path as [Read] does, keeping what a trend shows.
func readForTrend(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var t trendReport
	if err := decodeInto(data, &t, &t.SchemaVersion); err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	return t.report(), nil
}
