package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/report"
)

// teardown stops and removes the containers a run made, on a context of its own: it runs
// after Ctrl-C and after failures too. One deadline (--teardown-timeout) covers a whole
// teardown — every container's stop, log drain and remove, and the listing of what is left —
// so a frozen engine costs the timeout once, not once per call; while a call waits on the
// engine a progress line says so. It owns the report's teardown section.
type teardown struct {
	engine      Engine
	runID       string
	timeout     time.Duration // --teardown-timeout
	stopTimeout time.Duration // the container's grace period before it is killed
	keep        bool
	hooks       teardownHooks
	// noteAfter is how long a call waits before a progress line says so; noteEvery how
	// often the line repeats while it goes on waiting.
	noteAfter, noteEvery time.Duration

	pending []*coldRun // created and not yet torn down, in creation order
	created int        // containers created so far
	// unconfirmed are the containers whose removal the engine did not confirm, in order, with
	// why; lost is why the engine is taken for gone ("" while it answers).
	unconfirmed []unconfirmed
	lost        string
	lostErr     error
	sec         report.Teardown
	// stopErr and removeErr are why the last container's stop_s / remove_s are null.
	stopErr, removeErr error
}

// teardownHooks are what a teardown tells the run it belongs to.
type teardownHooks struct {
	stage    func(s Stage, text string) func(how string) // the live display's stage
	note     func(format string, a ...any)               // a progress line
	warn     func(format string, a ...any)               // a warning, kept in the report too
	stopping func()                                      // a container is being stopped on purpose
}

type unconfirmed struct {
	id, why string
}

func newTeardown(e Engine, cfg Config, hooks teardownHooks) *teardown {
	return &teardown{
		engine: e, runID: cfg.RunID, timeout: cfg.TeardownTimeout, stopTimeout: cfg.StopTimeout, keep: cfg.Keep,
		hooks: hooks, noteAfter: 2 * time.Second, noteEvery: 10 * time.Second,
	}
}

// add takes on a container the run created: it is torn down with the others.
func (td *teardown) add(cr *coldRun) {
	td.pending = append(td.pending, cr)
	td.created++
}

// section is the report's teardown section.
func (td *teardown) section() report.Teardown { return td.sec }

// nothingCreated records a run that never reached the engine: nothing to remove.
func (td *teardown) nothingCreated() {
	td.sec.Removed, td.sec.Leftovers = true, []string{}
}

// missing says why stop_s and remove_s are null, into m.
func (td *teardown) missing(m map[string]string, secrets []string) {
	why := func(call string, err error) string {
		if errors.Is(err, errNotTried) {
			return "the " + call + " call was " + err.Error()
		}
		return "the " + call + " call failed: " + report.RedactString(err.Error(), secrets)
	}
	if td.sec.StopS == nil && td.stopErr != nil {
		m["teardown.stop_s"] = why("stop", td.stopErr)
	}
	if td.sec.RemoveS == nil && td.removeErr != nil {
		m["teardown.remove_s"] = why("remove", td.removeErr)
	}
}

// deadline is the one deadline of a teardown, on a context that outlives the run's.
func (td *teardown) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), td.timeout)
}

// one tears down cr alone, under a deadline of its own (between cold starts).
func (td *teardown) one(ctx context.Context, cr *coldRun) error {
	tctx, cancel := td.deadline(ctx)
	defer cancel()
	err := td.container(tctx, cr)
	if td.lost != "" {
		return td.lostError()
	}
	return err
}

// final tears down every container still standing and checks that nothing labelled with the
// run id is left, all within one deadline.
func (td *teardown) final(ctx context.Context) error {
	if td.keep {
		for _, cr := range td.pending {
			if cr.cancel != nil {
				cr.stopping.Store(true)
				cr.cancel()
			}
			td.hooks.warn("kept container %s (--keep); remove it with `qwenlab cleanup --run %s`", short(cr.ID), td.runID)
		}
		return nil
	}
	tctx, cancel := td.deadline(ctx)
	defer cancel()
	var errs []error
	for _, cr := range slices.Clone(td.pending) {
		if err := td.container(tctx, cr); err != nil {
			errs = append(errs, err)
		}
	}
	left, lerr := td.listLeft(tctx)
	td.sec.Leftovers = []string{}
	why := map[string]string{}
	for _, u := range td.unconfirmed {
		why[u.id] = u.why
	}
	switch {
	case lerr == nil:
		for _, x := range left {
			entry := x.Kind + " " + short(x.ID)
			if w, ok := why[x.ID]; ok {
				entry += " (not removed: " + w + ")"
			}
			td.sec.Leftovers = append(td.sec.Leftovers, entry)
		}
	default:
		for _, u := range td.unconfirmed {
			td.sec.Leftovers = append(td.sec.Leftovers, "container "+short(u.id)+" (not confirmed removed: "+u.why+")")
		}
		if len(td.unconfirmed) == 0 && td.lost == "" {
			// Every container this run made was confirmed removed: the listing was a double
			// check, and its failure is no leftover.
			td.hooks.warn("every container this run made was removed, but the check for other leftovers failed: %v", lerr)
		}
	}
	td.sec.Removed = len(td.sec.Leftovers) == 0
	if td.lost != "" {
		return td.lostError()
	}
	if lerr == nil && len(left) > 0 {
		errs = append(errs, fmt.Errorf("teardown left %d resource(s) labelled %s=%s: run `qwenlab cleanup --run %s`", len(left), docker.LabelRun, td.runID, td.runID))
	}
	return errors.Join(errs...)
}

// listLeft lists what still carries the run's label: a double check once every container was
// removed. A run that created nothing has nothing to doubt, and an engine already gone is not
// asked.
func (td *teardown) listLeft(ctx context.Context) ([]docker.Resource, error) {
	if td.lost != "" {
		return nil, errors.New("the engine is gone")
	}
	var left []docker.Resource
	err := td.call(ctx, "list what is left of the run", func(ctx context.Context) error {
		var err error
		left, err = td.engine.ListLabelled(ctx, td.runID)
		return err
	})
	if err != nil && td.created == 0 {
		return nil, nil
	}
	return left, err
}

// container stops and removes one container within ctx's deadline. Its log stream is
// drained before removal so the last lines (the final "Prompt executed in …") are kept.
func (td *teardown) container(ctx context.Context, cr *coldRun) error {
	done := td.hooks.stage(StageTeardown, short(cr.ID))
	defer done("")
	cr.stopping.Store(true)
	td.hooks.stopping()
	td.pending = slices.DeleteFunc(td.pending, func(c *coldRun) bool { return c == cr })
	defer func() {
		if cr.cancel != nil {
			cr.cancel()
		}
	}()
	td.sec.StopS, td.sec.RemoveS = nil, nil
	if td.lost != "" { // not worth a call: each would wait out the deadline or fail at once
		td.stopErr, td.removeErr = td.notTried(), td.notTried()
		td.unconfirmed = append(td.unconfirmed, unconfirmed{cr.ID, td.lost})
		return nil
	}
	id := short(cr.ID)
	t := time.Now()
	serr := td.call(ctx, "stop container "+id, func(ctx context.Context) error { return td.engine.Stop(ctx, cr.ID, td.stopTimeout) })
	stop := time.Since(t).Seconds()
	td.stopErr, td.removeErr = serr, nil
	// A failed call's duration is how long it took to fail, not a measurement: null instead.
	if serr == nil {
		td.sec.StopS = &stop
	}
	if serr != nil && engineGone(serr) {
		td.giveUp(cr, serr)
		td.removeErr = td.notTried()
		return nil
	}
	cr.drainLogs(ctx, 2*time.Second)
	t = time.Now()
	rerr := td.call(ctx, "remove container "+id, func(ctx context.Context) error { return td.engine.Remove(ctx, cr.ID) })
	remove := time.Since(t).Seconds()
	td.removeErr = rerr
	if rerr == nil {
		td.sec.RemoveS = &remove
		if serr != nil {
			return fmt.Errorf("teardown %s: %w", id, serr)
		}
		return nil
	}
	if engineGone(rerr) {
		td.giveUp(cr, rerr)
		return nil
	}
	td.unconfirmed = append(td.unconfirmed, unconfirmed{cr.ID, rerr.Error()})
	return fmt.Errorf("teardown %s: %w", id, errors.Join(serr, rerr))
}

// call runs one engine call; when it waits longer than noteAfter a progress line says what
// for and when the teardown gives up.
func (td *teardown) call(ctx context.Context, what string, fn func(context.Context) error) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		wait := td.noteAfter
		for {
			t := time.NewTimer(wait)
			select {
			case <-done:
				t.Stop()
				return
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			msg := "teardown: waiting for the Docker Engine to " + what
			if dl, ok := ctx.Deadline(); ok {
				msg += fmt.Sprintf(" (gives up in %.0f s)", math.Ceil(time.Until(dl).Seconds()))
			}
			td.hooks.note("%s…", msg)
			wait = td.noteEvery
		}
	}()
	err := fn(ctx)
	close(done)
	wg.Wait()
	return err
}

// engineGone says whether err means the engine did not answer: unreachable, or no answer
// before the teardown's deadline.
func engineGone(err error) bool {
	return errors.Is(err, docker.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded)
}

// giveUp records that the engine is gone ([teardown.lose]) and that cr is not confirmed
// removed. The teardown makes no more calls.
func (td *teardown) giveUp(cr *coldRun, err error) {
	td.lose(err)
	td.unconfirmed = append(td.unconfirmed, unconfirmed{cr.ID, td.lost})
}

// lose records that the engine is gone (err, an [engineGone] error): in a few words for the
// leftovers (td.lost), the whole error for the run's (td.lostErr).
func (td *teardown) lose(err error) {
	td.lostErr = err
	td.lost = "engine unreachable"
	if errors.Is(err, context.DeadlineExceeded) {
		td.lost = fmt.Sprintf("no answer from the engine within --teardown-timeout %s", td.timeout)
	}
}

// errNotTried marks a call the teardown did not make: the engine was already gone.
var errNotTried = errors.New("not made")

func (td *teardown) notTried() error { return fmt.Errorf("%w: %s", errNotTried, td.lost) }

// lostError is the teardown's one error once the engine is gone: which containers may still
// exist and what to run once the engine is back.
func (td *teardown) lostError() error {
	var ids []string
	for _, u := range td.unconfirmed {
		ids = append(ids, short(u.id))
	}
	detail := td.lost
	if td.lostErr != nil && !errors.Is(td.lostErr, context.DeadlineExceeded) {
		detail = td.lostErr.Error()
	}
	return &EngineLostError{Phase: report.ErrorPhaseTeardown, Detail: detail, Containers: ids, RunID: td.runID}
}
