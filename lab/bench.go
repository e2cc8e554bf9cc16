package lab

import (
	"context"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/internal/loopback"
	"github.com/qwenlab/qwenlab/report"
)

// Bench benchmarks a ComfyUI server that is already running at cfg.URL: no Docker, no cold
// start of a container. The first prompt is still reported apart (it may load models).
func Bench(ctx context.Context, cfg Config, deps Deps) (*report.Report, error) {
	r := newRun(cfg, deps)
	err := r.bench(ctx)
	if serr := r.stallSlow(); err == nil {
		err = serr
	}
	r.close()
	return r.assemble(err), err
}

func (r *run) bench(ctx context.Context) (err error) {
	ctx, stopWatch := r.watchStalls(ctx)
	defer stopWatch()
	if r.plan, err = newPlan(r.cfg); err != nil {
		return inPhase("preflight", err)
	}
	if loopback.URL(r.cfg.URL) || r.cfg.SameHost {
		r.inventoryGPUs(docker.GPURequest{Kind: docker.GPUAll})
	} else {
		r.gpuReason = "the server is not on this host: its GPUs cannot be watched from here"
	}
	r.clock = newServerClock(loopback.URL(r.cfg.URL) || r.cfg.SameHost)
	c, err := r.deps.Dial(r.cfg.URL)
	if err != nil {
		return inPhase("connect", err)
	}
	defer c.Close()
	defer r.settleServer(ctx, c)
	if err := r.benchReady(ctx, c); err != nil {
		return err
	}
	if err := r.livePreflight(ctx, c); err != nil {
		return inPhase("preflight", err)
	}
	stopGPU := r.startGPUSampler(ctx)
	defer stopGPU()
	return r.warmPhase(ctx, c)
}
