package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/qwenlab/qwenlab/comfysim"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/gpu"
	"github.com/qwenlab/qwenlab/scenarios"
)

func cleanup(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "cleanup", "[--dry-run] [--run ID] [--older-than DUR]")
	dry := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
	runID := fs.String("run", "", "only resources of this run ID")
	older := fs.Duration("older-than", 0, "only resources created more than DUR ago (e.g. 24h)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *older < 0 {
		return usagef("--older-than %s: must not be negative", *older)
	}
	dc, err := docker.New(ctx)
	if err != nil {
		return err
	}
	defer dc.Close()
	res, err := dc.ListLabelled(ctx, *runID)
	if err != nil {
		return fmt.Errorf("list qwenlab resources: %w", err)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	n := 0
	var errs []error
	for _, r := range res {
		if *older > 0 && !r.Created.IsZero() && time.Since(r.Created) < *older {
			continue
		}
		n++
		action := "would remove"
		if !*dry {
			action = "removed"
			if err := dc.RemoveResource(ctx, r); err != nil {
				action = "FAILED"
				errs = append(errs, fmt.Errorf("remove %s %s: %w", r.Kind, r.ID, err))
			}
		}
		name := r.Name
		if name == "" {
			name = r.ID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\trun %s\t%s\n", action, r.Kind, name, r.RunID, r.State)
	}
	tw.Flush()
	if n == 0 {
		fmt.Fprintln(e.stdout, "nothing to clean up: no containers, networks or volumes labelled "+docker.LabelRun)
	}
	return errors.Join(errs...)
}

func sim(ctx context.Context, e *env, args []string) error {
	err := comfysim.Command(ctx, args, e.stdout, e.stderr)
	if errors.Is(err, comfysim.ErrUsage) {
		return &usageError{err.Error()}
	}
	return err
}

func gpuCmd(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "gpu", "[--duration DUR] [--interval DUR]")
	dur := fs.Duration("duration", 3*time.Second, "how long to sample")
	interval := fs.Duration("interval", 500*time.Millisecond, "sampling interval")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *interval < 10*time.Millisecond || *dur < 0 {
		return usagef("--interval must be at least 10ms and --duration not negative")
	}
	m, err := gpu.Open()
	if err != nil {
		fmt.Fprintf(e.stdout, "GPU: unavailable: %v\n", err)
		return fmt.Errorf("no GPU metrics: %w", err)
	}
	defer m.Close()
	devs, err := m.Inventory()
	if err != nil {
		return fmt.Errorf("gpu inventory: %w", err)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GPU\tNAME\tUUID\tDRIVER\tCUDA\tVRAM\tPOWER LIMIT\tPCIe")
	for _, d := range devs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%.1f GiB\t%.0f W\tgen%d x%d\n", d.Index, d.Name, d.UUID, d.Driver, d.CUDA, float64(d.VRAMTotal)/(1<<30), d.PowerLimitW, d.PCIeGen, d.PCIeWidth)
	}
	tw.Flush()
	fmt.Fprintln(e.stdout)
	tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "T\tGPU\tVRAM USED\tUTIL\tMEM UTIL\tPOWER\tSM CLOCK\tTEMP\tPROCESSES")
	start := time.Now()
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for {
		samples, err := m.Sample(nil)
		if err != nil {
			return fmt.Errorf("gpu sample: %w", err)
		}
		for _, s := range samples {
			fmt.Fprintf(tw, "%.1fs\t%d\t%.2f GiB\t%.0f%%\t%.0f%%\t%.0f W\t%d MHz\t%d C\t%d\n", time.Since(start).Seconds(), s.Index, float64(s.VRAMUsed)/(1<<30), s.UtilGPU, s.UtilMem, s.PowerW, s.SMClockMHz, s.TempC, len(s.ProcVRAM))
		}
		tw.Flush()
		if time.Since(start) >= *dur {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func listScenarios(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "scenarios", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, s := range scenarios.List() {
		fmt.Fprintf(tw, "%s\t%s\n", s.Name, s.Description)
	}
	return tw.Flush()
}
