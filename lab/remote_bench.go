package lab

import (
	"context"
	"errors"
	"fmt"

	"github.com/qwenlab/qwenlab/comfy"
)

// benchReady checks that the server answers: once, or, with WaitReady, until it does.
func (r *run) benchReady(ctx context.Context, c Comfy) error {
	if r.cfg.WaitReady <= 0 {
		if err := c.Ready(ctx); err != nil {
			var se *comfy.StatusError
			if errors.As(err, &se) { // something answers, but not as ComfyUI does
				return inPhase("connect", fmt.Errorf("%s answers, but not like ComfyUI: %w (is it ComfyUI, and is the URL its base, without a path like /api?)", r.cfg.URL, err))
			}
			return inPhase("connect", fmt.Errorf("ComfyUI at %s does not answer: %w", r.cfg.URL, err))
		}
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.WaitReady)
	err := waitReady(wctx, c, nil)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return inPhase("connect", ctx.Err())
		}
		return inPhase("connect", fmt.Errorf("ComfyUI at %s did not answer within %s (--wait-ready): %w", r.cfg.URL, r.cfg.WaitReady, err))
	}
	t := r.deps.Now().UTC()
	r.readyAt = &t
	return nil
}
