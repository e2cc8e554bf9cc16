package report

import (
	"fmt"
	"math"
)

// MetricID names a metric that [CompareReports] compares and a threshold refers to, such as
// "warm.e2e" or "cold_start.total".
type MetricID string

// The compared metrics that are not cold-start phases; the phases are
// "cold_start."+their name without "_s" ("cold_start.create", "cold_start.first_prompt", …).
const (
	MetricWarmE2E        MetricID = "warm.e2e"
	MetricWarmServer     MetricID = "warm.server"
	MetricWarmImage      MetricID = "warm.image"
	MetricWarmStepsPerS  MetricID = "warm.steps_per_s"
	MetricColdTotal      MetricID = "cold_start.total"
	MetricVRAMPeak       MetricID = "gpu.vram_peak"
	MetricEnergyPerImage MetricID = "gpu.energy_per_image"
)

// Unit is what a metric's values measure.
type Unit string

// Units of compared metrics.
const (
	UnitSeconds   Unit = "s"
	UnitBytes     Unit = "bytes"
	UnitJoules    Unit = "J"
	UnitPerSecond Unit = "1/s"
)

// Format shows v, a value in unit u, for people: in comparisons, trends and their charts.
func (u Unit) Format(v float64) string {
	switch u {
	case UnitSeconds:
		return HumanSeconds(v)
	case UnitBytes:
		return HumanBytes(uint64(math.Max(v, 0)))
	case UnitJoules:
		if v >= 1000 {
			return fmt.Sprintf("%.2f kJ", v/1000)
		}
		return fmt.Sprintf("%.1f J", v)
	case UnitPerSecond:
		if v >= 100 {
			return fmt.Sprintf("%.0f/s", v)
		}
		return fmt.Sprintf("%.3g/s", v)
	}
	return fmt.Sprintf("%.4g", v)
}

// metricDef is one row of the metric table: how to read a metric's samples from a report.
type metricDef struct {
	ID     MetricID
	Label  string // for people, at most 17 runes (the text table's column)
	Unit   Unit
	Higher bool // a higher value is better (steps per second)
	// samples returns the metric's values in r; none when r did not measure it.
	samples func(r *Report) []float64
}

// metricTable is every compared metric, in the order they are shown.
func metricTable() []metricDef {
	defs := []metricDef{
		{MetricWarmE2E, "warm e2e", UnitSeconds, false, warmSamples(func(r Run) *float64 { return r.E2ES })},
		{MetricWarmServer, "warm server", UnitSeconds, false, warmSamples(func(r Run) *float64 { return r.ServerS })},
		{MetricWarmImage, "warm image", UnitSeconds, false, warmSamples(func(r Run) *float64 { return r.ImageS })},
		{MetricWarmStepsPerS, "warm steps/s", UnitPerSecond, true, warmSamples(func(r Run) *float64 { return r.StepsPerS })},
	}
	for _, p := range AllPhases() {
		defs = append(defs, metricDef{
			ID:    PhaseMetric(p),
			Label: "cold " + p.Label(),
			Unit:  UnitSeconds,
			samples: coldSamples(func(ph Phases, _ *float64) *float64 {
				return ph.Get(p)
			}),
		})
	}
	defs = append(defs,
		metricDef{MetricColdTotal, "cold total", UnitSeconds, false, coldSamples(func(_ Phases, total *float64) *float64 { return total })},
		metricDef{MetricVRAMPeak, "VRAM peak", UnitBytes, false, func(r *Report) []float64 {
			if r.GPU.VRAMPeakBytes == nil {
				return nil
			}
			return []float64{float64(*r.GPU.VRAMPeakBytes)}
		}},
		metricDef{MetricEnergyPerImage, "energy/image", UnitJoules, false, func(r *Report) []float64 {
			if p, ok := r.GPU.Phases["warm"]; ok && p.EnergyPerImageJ != nil {
				return []float64{*p.EnergyPerImageJ}
			}
			return nil
		}},
	)
	return defs
}

// PhaseMetric is the metric of a cold-start phase: "cold_start." and its name
// ("cold_start.first_prompt").
func PhaseMetric(p PhaseID) MetricID { return MetricID("cold_start." + p.Name()) }

// MetricIDs returns the IDs of every metric [CompareReports] knows, in display order.
func MetricIDs() []MetricID {
	var ids []MetricID
	for _, d := range metricTable() {
		ids = append(ids, d.ID)
	}
	return ids
}

func lookupMetric(id MetricID) (metricDef, bool) {
	for _, d := range metricTable() {
		if d.ID == id {
			return d, true
		}
	}
	return metricDef{}, false
}

// warmSamples reads one value of every valid measured warm run.
func warmSamples(get func(Run) *float64) func(*Report) []float64 {
	return func(r *Report) []float64 {
		if r.Warm == nil {
			return nil
		}
		var out []float64
		for _, run := range r.Warm.Runs {
			if !run.Valid {
				continue
			}
			if v := get(run); v != nil {
				out = append(out, *v)
			}
		}
		return out
	}
}

// coldSamples reads one value per successful cold start: from ColdStart.Runs when several
// were made, else from the single cold start's phases and total.
func coldSamples(get func(Phases, *float64) *float64) func(*Report) []float64 {
	return func(r *Report) []float64 {
		c := r.ColdStart
		if c == nil {
			return nil
		}
		if len(c.Runs) == 0 {
			if v := get(c.Phases, c.TotalS); v != nil && c.TotalS != nil {
				return []float64{*v}
			}
			return nil
		}
		var out []float64
		for _, cr := range c.Runs {
			if cr.Error != "" {
				continue
			}
			if v := get(cr.Phases, cr.TotalS); v != nil {
				out = append(out, *v)
			}
		}
		return out
	}
}

// Measured reports whether r holds a sample of any compared metric: a report of a run that
// failed before it measured anything does not, and is no baseline.
func Measured(r *Report) bool {
	for _, d := range metricTable() {
		if len(d.samples(r)) > 0 {
			return true
		}
	}
	return false
}
