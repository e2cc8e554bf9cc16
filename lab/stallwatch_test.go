package lab

import (
	"strings"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/gpu"
	"github.com/qwenlab/qwenlab/report"
)

// feed plays one stats sample per second from t0 for n seconds and returns the findings
// checked after each.
func feed(w *stallWatch, t0 time.Time, n int, s docker.Stats, logEvery int) []stallFinding {
	var out []stallFinding
	for i := 1; i <= n; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		w.stats(s, now)
		if logEvery > 0 && i%logEvery == 0 {
			w.logLine(now)
		}
		out = append(out, w.check(now)...)
	}
	return out
}

func newTestWatch(said *[]stallFinding) *stallWatch {
	return newStallWatch(StallLimits{Window: 10 * time.Second}, func() string { return "startup" }, func(f stallFinding) { *said = append(*said, f) })
}

func TestStallWatchThrashing(t *testing.T) {
	var said []stallFinding
	w := newTestWatch(&said)
	t0 := time.Unix(1000, 0)
	w.containerStarted(t0)
	got := feed(w, t0, 15, docker.Stats{MemUsed: 149 << 20, MemLimit: 150 << 20, CPUPercent: 70}, 0)
	if len(got) != 1 || got[0].Kind != report.SlowThrashing || got[0].Phase != "startup" || len(said) != 1 {
		t.Fatalf("findings %+v", got)
	}
	if msg := got[0].Msg; !strings.Contains(msg, "at 99 % of its 150 MiB memory limit for 10 s with no log output: it is probably thrashing; raise --memory") {
		t.Errorf("message %q", msg)
	}
	// Said once per container, and again for the next one.
	if again := feed(w, t0.Add(15*time.Second), 15, docker.Stats{MemUsed: 149 << 20, MemLimit: 150 << 20, CPUPercent: 70}, 0); len(again) != 0 {
		t.Errorf("said again: %+v", again)
	}
}

func TestStallWatchNotWhileLoggingOrBelowTheLimit(t *testing.T) {
	var said []stallFinding
	w := newTestWatch(&said)
	t0 := time.Unix(1000, 0)
	w.containerStarted(t0)
	// At the limit but logging every 5 s: busy loading, not thrashing.
	feed(w, t0, 30, docker.Stats{MemUsed: 149 << 20, MemLimit: 150 << 20, CPUPercent: 70}, 5)
	// Quiet, busy, well below the limit: a slow import, nothing to say yet.
	feed(w, t0.Add(30*time.Second), 30, docker.Stats{MemUsed: 50 << 20, MemLimit: 150 << 20, CPUPercent: 90}, 0)
	if len(said) != 0 {
		t.Errorf("findings %+v", said)
	}
	w.containerStopping()
	feed(w, t0.Add(60*time.Second), 30, docker.Stats{MemUsed: 0, MemLimit: 150 << 20, CPUPercent: 0}, 0)
	if len(said) != 0 {
		t.Errorf("a stopping container was judged: %+v", said)
	}
}

func TestStallWatchStuck(t *testing.T) {
	var said []stallFinding
	w := newTestWatch(&said)
	t0 := time.Unix(1000, 0)
	w.containerStarted(t0)
	got := feed(w, t0, 12, docker.Stats{MemUsed: 20 << 20, MemLimit: 8 << 30, CPUPercent: 0.2}, 0)
	if len(got) != 1 || got[0].Kind != report.SlowStuck || !strings.Contains(got[0].Msg, "used no CPU and logged nothing for 10 s: it is probably stuck") {
		t.Fatalf("findings %+v", got)
	}
}

func TestStallWatchGPUIdleDuringPrompt(t *testing.T) {
	var said []stallFinding
	w := newTestWatch(&said)
	t0 := time.Unix(1000, 0)
	idle := []gpu.Sample{{Index: 0, UtilGPU: 0, VRAMUsed: 12 << 30}, {Index: 1, UtilGPU: 0}}
	for i := 0; i < 12; i++ { // between prompts an idle GPU is fine
		w.gpu(idle, t0.Add(time.Duration(i)*time.Second))
		w.check(t0.Add(time.Duration(i) * time.Second))
	}
	if len(said) != 0 {
		t.Fatalf("idle GPU between prompts flagged: %+v", said)
	}
	w.prompt(true)
	// A model load: VRAM grows by 1 GiB a second with the compute idle; not idling.
	tl := t0.Add(12 * time.Second)
	for i := 0; i <= 12; i++ {
		now := tl.Add(time.Duration(i) * time.Second)
		w.gpu([]gpu.Sample{{Index: 0, VRAMUsed: uint64(i) << 30}, {Index: 1}}, now)
		w.check(now)
	}
	if len(said) != 0 {
		t.Fatalf("a model load was called idle: %+v", said)
	}
	t1 := tl.Add(13 * time.Second) // the load is done: VRAM stays, the GPU does nothing
	for i := 0; i <= 11; i++ {
		now := t1.Add(time.Duration(i) * time.Second)
		w.gpu(idle, now)
		w.check(now)
	}
	if len(said) != 1 || said[0].Kind != report.SlowGPUIdle || !strings.Contains(said[0].Msg, "GPU stayed idle for 10 s of a running prompt") {
		t.Fatalf("findings %+v", said)
	}
}
