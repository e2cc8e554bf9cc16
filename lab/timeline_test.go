package lab

import (
	"sync"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/report"
)

// TestTimelineTiles checks the recorder's invariant: top-level entries are back to back from
// t0 to the end, whatever the order and overlap of the moments they are closed at.
func TestTimelineTiles(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var tl timeline
	tl.begin(t0)
	tl.phase(report.PhasePull, report.SourceEngine, at(100))
	tl.idle(at(150))                                             // qwenlab's own work: a gap
	tl.idle(at(150))                                             // nothing more: no entry
	tl.phase(report.PhaseCreate, report.SourceEngine, at(160))   //
	tl.phase(report.PhaseStart, report.SourceEngine, at(200))    //
	tl.phase(report.PhaseFirstLog, report.SourceLogs, at(190))   // seen before start returned: zero long
	tl.phase(report.PhaseReady, report.SourceAPI, at(400))       //
	tl.phase(report.PhasePreflight, report.SourceAPI, at(410))   //
	tl.phase(report.PhaseFirstPrompt, report.SourceAPI, at(900)) //
	tl.phase(report.PhaseFirstPrompt, report.SourceAPI, time.Time{})
	tl.inner("model_load:Qwen", report.SourceLogs, report.PhaseFirstPrompt, at(420), at(600))
	tl.inner("model_load:VAE", report.SourceLogs, report.PhaseFirstPrompt, at(600), at(650))
	tl.inner("backwards", report.SourceLogs, report.PhaseFirstPrompt, at(650), at(600))

	entries := tl.entries()
	prev, sum := 0.0, 0.0
	for _, e := range entries {
		if e.Parent != "" {
			continue
		}
		if e.StartS != prev {
			t.Errorf("%s starts at %.3fs, the previous entry ended at %.3fs", e.Name, e.StartS, prev)
		}
		sum += e.EndS - e.StartS
		prev = e.EndS
	}
	if total := tl.end().Sub(t0).Seconds(); sum != total || total != 0.9 {
		t.Errorf("top-level entries sum to %.6fs, total %.6fs; want both 0.9s", sum, total)
	}
	ph := tl.phases()
	want := map[report.PhaseID]time.Duration{
		report.PhasePull: 100 * time.Millisecond, report.PhaseCreate: 10 * time.Millisecond,
		report.PhaseStart: 40 * time.Millisecond, report.PhaseFirstLog: 0,
		report.PhaseReady: 200 * time.Millisecond, report.PhasePreflight: 10 * time.Millisecond,
		report.PhaseFirstPrompt: 490 * time.Millisecond, report.PhaseModelLoad: 230 * time.Millisecond,
	}
	for p, d := range want {
		if got, ok := ph[p]; !ok || got != d {
			t.Errorf("phase %s = %v (recorded %v), want %v", p, got, ok, d)
		}
	}
	if len(ph) != len(want) {
		t.Errorf("phases %v, want %v", ph, want)
	}
	ch := tl.charged()
	if !near(ch[report.ChargeEngine], 0.15) || !near(ch[report.ChargeComfyUI], 0.69) || !near(ch[report.ChargeHarness], 0.06) {
		t.Errorf("charged %v, want engine 0.15 (pull, create, start), comfyui 0.69, harness 0.06 (gap, preflight)", ch)
	}
	if p, ok := tl.phaseAt(at(300)); !ok || p != report.PhaseReady {
		t.Errorf("phaseAt(300ms) = %v, %v; want ready", p, ok)
	}
	if _, ok := tl.phaseAt(at(120)); ok {
		t.Error("phaseAt inside the gap: want none")
	}
	if entries[1].Name != report.SpanGap || entries[1].Source != report.SourceClient {
		t.Errorf("second entry %+v, want the client's gap", entries[1])
	}
}

// TestTimelineConcurrent records from several goroutines (the log follower adds inner spans
// while the run closes phases); run it with -race.
func TestTimelineConcurrent(t *testing.T) {
	t0 := time.Now()
	var tl timeline
	tl.begin(t0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				s := t0.Add(time.Duration(g*100+i) * time.Microsecond)
				tl.inner("x", report.SourceLogs, report.PhaseFirstPrompt, s, s.Add(time.Microsecond))
				_ = tl.entries()
			}
		}()
	}
	for _, p := range []report.PhaseID{report.PhaseCreate, report.PhaseStart, report.PhaseReady, report.PhasePreflight, report.PhaseFirstPrompt} {
		tl.phase(p, report.SourceEngine, time.Now())
	}
	wg.Wait()
	var sum time.Duration
	for p, d := range tl.phases() {
		if p != report.PhaseModelLoad {
			sum += d
		}
	}
	if total := tl.end().Sub(t0); sum != total {
		t.Errorf("phases sum to %v, total %v", sum, total)
	}
}
