package report

import (
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/qwenlab/qwenlab/internal/shortid"
)

// HumanSeconds formats a duration in seconds for people: "850 µs", "12.3 ms", "1.23 s",
// "48.2 s", "2m03s", "1h02m". It is for text output only; reports keep seconds as numbers.
func HumanSeconds(s float64) string {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return fmt.Sprint(s)
	}
	sign := ""
	if s < 0 {
		sign, s = "-", -s
	}
	var out string
	switch {
	case s == 0:
		out = "0 s"
	case s < 1e-3:
		out = fmt.Sprintf("%.0f µs", s*1e6)
	case s < 9.995e-3:
		out = fmt.Sprintf("%.2f ms", s*1e3)
	case s < 99.95e-3:
		out = fmt.Sprintf("%.1f ms", s*1e3)
	case s < 0.9995:
		out = fmt.Sprintf("%.0f ms", s*1e3)
	case s < 9.995:
		out = fmt.Sprintf("%.2f s", s)
	case s < 59.95:
		out = fmt.Sprintf("%.1f s", s)
	case s < 3599.5:
		t := int64(math.Round(s))
		out = fmt.Sprintf("%dm%02ds", t/60, t%60)
	default:
		t := int64(math.Round(s / 60))
		out = fmt.Sprintf("%dh%02dm", t/60, t%60)
	}
	return sign + out
}

// humanPtr formats an optional duration; nil is "—".
func humanPtr(s *float64) string {
	if s == nil {
		return "—"
	}
	return HumanSeconds(*s)
}

// HumanBytes formats a byte count with binary units: "512 B", "1.5 KiB", "61.2 GiB".
func HumanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	v := float64(b)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= unit
		if v < 1023.95 || u == "TiB" {
			return fmt.Sprintf("%.1f %s", v, u)
		}
	}
	return fmt.Sprintf("%d B", b) // not reached
}

// oneLine makes s safe for one line of a text table: control characters become spaces,
// runs of space shrink to one, and the result is cut to max runes with "…".
func oneLine(s string, max int) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		if n >= max {
			return strings.TrimRight(b.String(), " ") + "…"
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// short cuts an identifier (a digest, a hash) for one line of display.
func short(id string) string { return oneLine(shortid.Of(id), 80) }

// deref is an optional duration's value, 0 when absent: for chart extents, never for display.
func deref(s *float64) float64 {
	if s == nil {
		return 0
	}
	return *s
}
