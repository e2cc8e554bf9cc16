package lab

import (
	"sync"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/report"
)

// serverResolution is the resolution of ComfyUI's timestamps: whole milliseconds, truncated
// (int(time.time() * 1000)).
const serverResolution = time.Millisecond

// serverClock maps the server's timestamps (execution_start, execution_success: ms since
// the epoch on the server's wall clock) onto the client's clock, so that queue_s and lag_s
// are differences of moments on one clock.
//
// On the same host the two wall clocks are one. For a remote server the offset (server wall
// − client wall) is bounded by every prompt: execution_start happened between the submit
// and the receipt of its message, execution_success before the receipt of the final
// message. The estimate is the middle of the tightest bounds, its uncertainty half their
// width.
type serverClock struct {
	sameHost bool

	mu     sync.Mutex
	lo, hi time.Duration // bounds of the offset seen so far
	n      int           // prompts that bounded it
}

func newServerClock(sameHost bool) *serverClock { return &serverClock{sameHost: sameHost} }

// serverTime is a server timestamp as a time.Time: the middle of its millisecond.
func serverTime(ms int64) time.Time {
	return time.UnixMilli(ms).Add(serverResolution / 2)
}

// wall strips t's monotonic reading: the server's timestamps are wall-clock times.
func wall(t time.Time) time.Time { return t.Round(0) }

// observe tightens the offset's bounds with one prompt's timestamps.
func (c *serverClock) observe(res *comfy.Result) {
	if c == nil || c.sameHost || res == nil || res.ServerStartMS == 0 || res.Submit.IsZero() || res.Started.IsZero() {
		return
	}
	start := time.UnixMilli(res.ServerStartMS)
	// submit ≤ start_true − off ≤ receipt of execution_start, start_true ∈ [start, start+res)
	lo := start.Sub(wall(res.Started))
	hi := start.Add(serverResolution).Sub(wall(res.Submit))
	if res.ServerEndMS != 0 && !res.End.IsZero() {
		// execution_success comes before the final message
		lo = max(lo, time.UnixMilli(res.ServerEndMS).Sub(wall(res.End)))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		c.lo, c.hi = lo, hi
	} else {
		c.lo, c.hi = max(c.lo, lo), min(c.hi, hi)
	}
	c.n++
}

// offset is the server's wall clock minus the client's, and its uncertainty.
func (c *serverClock) offset() (off, uncertainty time.Duration, ok bool) {
	if c == nil {
		return 0, 0, false
	}
	if c.sameHost {
		return 0, 0, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		return 0, 0, false
	}
	lo, hi := c.lo, c.hi
	if lo > hi { // the bounds crossed (a clock stepped during the run): keep both
		lo, hi = hi, lo
	}
	return lo + (hi-lo)/2, (hi - lo) / 2, true
}

// toClient maps a server timestamp onto the client's clock (monotonic, comparable with
// time.Now() values); zero when it cannot.
func (c *serverClock) toClient(ms int64) time.Time {
	off, _, ok := c.offset()
	if !ok || ms == 0 {
		return time.Time{}
	}
	// The server time minus the offset is a client wall time; re-based on a monotonic
	// instant it compares with the client's receipt times.
	ref := time.Now()
	return ref.Add(serverTime(ms).Add(-off).Sub(wall(ref)))
}

// report describes the clock for the report.
func (c *serverClock) report() *report.ServerClock {
	off, unc, ok := c.offset()
	if !ok {
		return nil
	}
	sc := &report.ServerClock{ResolutionS: serverResolution.Seconds(), OffsetS: off.Seconds(), UncertaintyS: unc.Seconds(), Method: report.ClockSameHost}
	if !c.sameHost {
		sc.Method = report.ClockEstimated
		c.mu.Lock()
		sc.Prompts = c.n
		c.mu.Unlock()
	}
	return sc
}

// promptTimes are a prompt's queue and delivery lag on the client's clock: queue is submit
// → the server's execution_start, lag the server's execution_success → the client's last
// message. Neither is below −(resolution/2 + uncertainty).
func (c *serverClock) promptTimes(res *comfy.Result) (queue, lag time.Duration, queueOK, lagOK bool) {
	if res == nil || res.Submit.IsZero() {
		return
	}
	if s := c.toClient(res.ServerStartMS); !s.IsZero() {
		queue, queueOK = s.Sub(res.Submit), true
	}
	if _, ok := res.Server(); ok && !res.End.IsZero() {
		if e := c.toClient(res.ServerEndMS); !e.IsZero() {
			lag, lagOK = res.End.Sub(e), true
		}
	}
	return
}
