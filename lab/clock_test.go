package lab

import (
	"context"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/comfysim"
	"github.com/qwenlab/qwenlab/report"
)

// prompt builds a result as a client sees it: the server (its wall clock skew ahead of the
// client's) starts at start and succeeds at end (client wall times, true moments); the
// client receives execution_start recvStart later and the last message recvEnd later.
func clockPrompt(t0 time.Time, skew time.Duration, submit, start, end, recvStart, recvEnd time.Duration) *comfy.Result {
	stamp := func(d time.Duration) int64 { return t0.Add(d).Add(skew).UnixMilli() } // truncates, as ComfyUI does
	return &comfy.Result{
		Submit: t0.Add(submit), Started: t0.Add(start + recvStart), End: t0.Add(end + recvEnd),
		ServerStartMS: stamp(start), ServerEndMS: stamp(end),
	}
}

// TestServerClockSameHost is the case behind the negative lags: execution_start's message
// arrives late (the event loop was busy), which used to inflate queue_s and drive lag_s
// below zero. On the server's clock queue and lag are where they happened.
func TestServerClockSameHost(t *testing.T) {
	t0 := time.Now()
	c := newServerClock(true)
	res := clockPrompt(t0, 0, 0, 2*time.Millisecond, 502*time.Millisecond, 18*time.Millisecond, 300*time.Microsecond)
	c.observe(res)
	q, lag, qok, lok := c.promptTimes(res)
	if !qok || !lok {
		t.Fatalf("queue known %v, lag known %v", qok, lok)
	}
	if q < 1500*time.Microsecond || q > 3*time.Millisecond {
		t.Errorf("queue %v, want the server's 2ms (±1ms), not the 20ms of the late message", q)
	}
	if lag < -serverResolution/2 || lag > 1500*time.Microsecond {
		t.Errorf("lag %v, want 0.3ms (±1ms), never below -0.5ms", lag)
	}
	srv, _ := res.Server()
	if sum := q + srv + lag; (sum - res.E2E()).Abs() > 10*time.Microsecond {
		t.Errorf("queue %v + server %v + lag %v = %v, want e2e %v", q, srv, lag, sum, res.E2E())
	}
	if sc := c.report(); sc == nil || sc.Method != report.ClockSameHost || sc.OffsetS != 0 || sc.ResolutionS != 0.001 {
		t.Errorf("clock in the report: %+v", sc)
	}
}

// TestServerClockRemote estimates a remote server's offset from the prompts' round trips:
// the truth lies within the stated uncertainty, and no queue or lag is below
// −(resolution/2 + uncertainty).
func TestServerClockRemote(t *testing.T) {
	t0 := time.Now()
	const skew = 3217*time.Millisecond + 400*time.Microsecond // server ahead of the client
	c := newServerClock(false)
	if _, _, ok := c.offset(); ok {
		t.Fatal("an offset before any prompt")
	}
	var results []*comfy.Result
	for i := range 20 {
		base := time.Duration(i) * time.Second
		// network delay 4..9 ms each way, varying
		d := time.Duration(4+i%6) * time.Millisecond
		res := clockPrompt(t0, skew, base, base+d, base+d+700*time.Millisecond, d, d)
		c.observe(res)
		results = append(results, res)
	}
	off, unc, ok := c.offset()
	if !ok {
		t.Fatal("no offset")
	}
	if (off - skew).Abs() > unc+serverResolution {
		t.Errorf("offset %v ± %v, the truth is %v", off, unc, skew)
	}
	if unc > 5*time.Millisecond {
		t.Errorf("uncertainty %v from 20 prompts with 4ms minimum delay: bounds not tightened", unc)
	}
	floor := -(serverResolution/2 + unc)
	for i, res := range results {
		q, lag, qok, lok := c.promptTimes(res)
		if !qok || !lok || q < floor || lag < floor {
			t.Errorf("prompt %d: queue %v lag %v (known %v %v), floor %v", i, q, lag, qok, lok, floor)
		}
	}
	sc := c.report()
	if sc == nil || sc.Method != report.ClockEstimated || sc.Prompts != 20 || sc.UncertaintyS != unc.Seconds() {
		t.Errorf("clock in the report: %+v", sc)
	}
}

// TestBenchLagNeverBelowResolution runs the real simulator on this host: every run's lag and
// queue is at or above −1 ms (the done-criterion), and the report states the clock.
func TestBenchLagNeverBelowResolution(t *testing.T) {
	url := startSim(t, comfysim.Config{StepTime: time.Millisecond})
	cfg := testConfig()
	cfg.URL = url
	cfg.Runs = 20
	cfg.Params = map[string]string{"width": "64", "height": "64"}
	rep, err := Bench(context.Background(), cfg, Deps{Dial: realDial(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ServerClock == nil || rep.ServerClock.Method != report.ClockSameHost {
		t.Fatalf("server clock %+v", rep.ServerClock)
	}
	for _, r := range append(rep.Warm.Warmups, rep.Warm.Runs...) {
		if r.LagS == nil || r.QueueS == nil || r.ServerS == nil {
			t.Fatalf("run %d lacks queue/lag/server: %+v", r.Index, r)
		}
		if *r.LagS < -0.001 || *r.QueueS < -0.001 {
			t.Errorf("%s run %d: lag %.4fs queue %.4fs, below -1ms", r.Kind, r.Index, *r.LagS, *r.QueueS)
		}
		if d := *r.QueueS + *r.ServerS + *r.LagS - *r.E2ES; d > 1e-4 || d < -1e-4 {
			t.Errorf("run %d: queue+server+lag = e2e %+.6fs", r.Index, d)
		}
	}
}
