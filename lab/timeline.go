package lab

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/qwenlab/qwenlab/report"
)

// span is one interval on a cold start's timeline, on the client's monotonic clock.
type span struct {
	Name       string
	Phase      report.PhaseID // the top-level phase this span is; 0 for a gap or an inner span
	Start, End time.Time
	Source     report.Source
	Parent     string // the span this one lies inside ("first_prompt"); "" for top-level
}

// minGap is the shortest stretch between two phases that the timeline names as a "gap";
// a shorter one is charged to the phase that follows it.
const minGap = time.Millisecond

// Names of the spans inside the first prompt that read model files: the workflow's loader
// nodes (API) and the engine's model loads (logs), each followed by what it loaded.
const (
	spanLoaderPrefix    = "loader:"
	spanModelLoadPrefix = "model_load:"
)

// timeline records one cold start. Its top-level entries (phases and gaps) are back to
// back: each begins where the previous one ended, so together they tile [start, end]
// exactly and the phases add up to the total. Inner spans (model loads, sampling, …) lie
// inside a phase and are not part of the sum. It is safe for concurrent use.
type timeline struct {
	mu    sync.Mutex
	start time.Time // t0 of the cold start
	last  time.Time // where the next top-level entry begins
	spans []span
}

// begin starts the timeline at t0; it drops anything recorded before.
func (t *timeline) begin(t0 time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.start, t.last, t.spans = t0, t0, nil
}

// phase closes phase p at end: it spans from where the previous entry ended to end. An end
// before that (the event was seen while the previous phase was still being closed) makes
// the phase zero long rather than overlap its neighbour.
func (t *timeline) phase(p report.PhaseID, src report.Source, end time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if end.IsZero() || t.start.IsZero() {
		return
	}
	if end.Before(t.last) {
		end = t.last
	}
	t.spans = append(t.spans, span{Name: p.Span(), Phase: p, Start: t.last, End: end, Source: src})
	t.last = end
}

// idle records qwenlab's own work up to end (between two phases) as a "gap" entry; a
// stretch shorter than minGap is left to the next phase.
func (t *timeline) idle(end time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.start.IsZero() || end.Sub(t.last) < minGap {
		return
	}
	t.spans = append(t.spans, span{Name: report.SpanGap, Start: t.last, End: end, Source: report.SourceClient})
	t.last = end
}

// inner adds a span that lies inside the phase parent; it does not move the timeline on.
func (t *timeline) inner(name string, src report.Source, parent report.PhaseID, start, end time.Time) {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spans = append(t.spans, span{Name: name, Start: start, End: end, Source: src, Parent: parent.Span()})
}

// end is where the last top-level entry ended; zero before the first one.
func (t *timeline) end() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last.Equal(t.start) {
		return time.Time{}
	}
	return t.last
}

// snapshot returns the spans in time order (a top-level entry before the spans inside it).
func (t *timeline) snapshot() []span {
	t.mu.Lock()
	out := append([]span(nil), t.spans...)
	t.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].Parent == "" && out[j].Parent != ""
	})
	return out
}

// phases returns each phase's duration: the top-level ones as recorded, and model load as
// the sum of the model loads inside the first prompt.
func (t *timeline) phases() map[report.PhaseID]time.Duration {
	out := map[report.PhaseID]time.Duration{}
	for _, s := range t.snapshot() {
		switch {
		case s.Phase != 0:
			out[s.Phase] += s.End.Sub(s.Start)
		case strings.HasPrefix(s.Name, spanModelLoadPrefix):
			out[report.PhaseModelLoad] += s.End.Sub(s.Start)
		}
	}
	return out
}

// phaseAt names the top-level phase that contains at ("" when none does).
func (t *timeline) phaseAt(at time.Time) (report.PhaseID, bool) {
	for _, s := range t.snapshot() {
		if s.Phase != 0 && !at.Before(s.Start) && at.Before(s.End) {
			return s.Phase, true
		}
	}
	return 0, false
}

// entries converts the spans to the report's timeline, in seconds since t0.
func (t *timeline) entries() []report.TimelineEntry {
	t.mu.Lock()
	t0 := t.start
	t.mu.Unlock()
	var out []report.TimelineEntry
	for _, s := range t.snapshot() {
		out = append(out, report.TimelineEntry{Name: s.Name, StartS: s.Start.Sub(t0).Seconds(), EndS: s.End.Sub(t0).Seconds(), Source: s.Source, Parent: s.Parent})
	}
	return out
}

// charged splits the top-level entries by whose time they were: each phase's charge, and the
// gaps (qwenlab's work between phases) the harness's.
func (t *timeline) charged() map[report.Charge]float64 {
	out := map[report.Charge]float64{}
	for _, s := range t.snapshot() {
		switch {
		case s.Phase != 0:
			out[s.Phase.Charge()] += s.End.Sub(s.Start).Seconds()
		case s.Parent == "" && s.Name == report.SpanGap:
			out[report.ChargeHarness] += s.End.Sub(s.Start).Seconds()
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
