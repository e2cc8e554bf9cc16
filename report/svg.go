package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file holds the small geometry the HTML charts share: linear scales, "nice" axis
// ticks and point lists. The charts are drawn by templates/*.tmpl from the numbers computed
// here; nothing from a report reaches the markup except through html/template's escaping.

// scale maps [lo, hi] onto [a, b] (pixels).
type scale struct{ lo, hi, a, b float64 }

func (s scale) at(v float64) float64 {
	if !(s.hi > s.lo) {
		return s.a
	}
	return s.a + (v-s.lo)/(s.hi-s.lo)*(s.b-s.a)
}

// tick is one labelled axis position.
type tick struct {
	Pos   float64
	Label string
}

// niceStep returns a step of 1, 2 or 5 times a power of ten that cuts span into about n parts.
func niceStep(span float64, n int) float64 {
	if !(span > 0) || math.IsInf(span, 0) {
		return 1
	}
	raw := span / float64(max(n, 1))
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// chartRange is the y range of a chart of values from ymin to ymax, with about n ticks: from
// zero unless the values sit far from it, else the values' range padded by 15 % each side.
func chartRange(ymin, ymax float64, n int) (float64, float64, []float64) {
	if ymin < 0.5*ymax || ymin < 0 {
		ymin = math.Min(0, ymin)
	} else {
		pad := (ymax - ymin) * 0.15
		ymin, ymax = ymin-pad, ymax+pad
	}
	return niceRange(ymin, ymax, n)
}

// niceRange widens [lo, hi] to multiples of a nice step and returns the ticks in between.
func niceRange(lo, hi float64, n int) (float64, float64, []float64) {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return 0, 1, []float64{0, 1}
	}
	if hi <= lo {
		if lo == 0 {
			hi = 1
		} else {
			lo, hi = lo-math.Abs(lo)*0.1, hi+math.Abs(hi)*0.1
		}
	}
	step := niceStep(hi-lo, n)
	lo = math.Floor(lo/step) * step
	hi = math.Ceil(hi/step) * step
	var ts []float64
	for v := lo; v <= hi+step/2 && len(ts) < 50; v += step {
		ts = append(ts, math.Round(v/step)*step)
	}
	return lo, hi, ts
}

// secondsTicks labels ticks as durations.
func secondsTicks(sc scale, vs []float64) []tick {
	out := make([]tick, 0, len(vs))
	for _, v := range vs {
		out = append(out, tick{Pos: sc.at(v), Label: axisSeconds(v)})
	}
	return out
}

// axisSeconds is a compact duration label for an axis: "0", "250 ms", "1.5 s", "2m".
func axisSeconds(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) < 1:
		return trimFloat(v*1e3) + " ms"
	case math.Abs(v) < 120:
		return trimFloat(v) + " s"
	case math.Abs(v) < 7200:
		return trimFloat(v/60) + " min"
	default:
		return trimFloat(v/3600) + " h"
	}
}

// trimFloat prints v with at most three significant decimals and no trailing zeros.
func trimFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// px formats a coordinate for SVG.
func px(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// polyline formats points for an SVG points attribute.
func polyline(xs, ys []float64) string {
	var b strings.Builder
	b.Grow(len(xs) * 12)
	for i := range xs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s,%s", px(xs[i]), px(ys[i]))
	}
	return b.String()
}
