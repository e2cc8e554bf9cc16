package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/qwenlab/qwenlab/cli/live"
	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/comfysim"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/gpu"
	"github.com/qwenlab/qwenlab/lab"
	"github.com/qwenlab/qwenlab/report"
	"github.com/qwenlab/qwenlab/scenarios"
)

// runFlags are the flags up-and-bench and bench share.
type runFlags struct {
	cfg      lab.Config
	scenario string
	sets     []string
	budgets  []string
	out      string
	html     string
	json     bool
	quiet    bool
	verbose  bool
}

func (f *runFlags) register(fs *pflag.FlagSet) {
	c := &f.cfg
	group(fs, groupWorkload, func() {
		fs.StringVar(&f.scenario, "scenario", "qwen-image-t2i", "scenario NAME (see 'qwenlab scenarios') or scenario FILE (.json)")
		fs.StringVar(&c.WorkflowPath, "workflow", "", "API-format workflow FILE to run instead of the scenario's graph ({\"prompt\": …} wrapper accepted)")
		fs.StringArrayVar(&f.sets, "set", nil, "scenario parameter NAME=VALUE (width, height, steps, seed, cfg, prompt, negative); repeatable")
		fs.IntVar(&c.Runs, "runs", c.Runs, "measured warm runs")
		fs.IntVar(&c.Warmup, "warmup", c.Warmup, "warm-up runs before the measured ones (not counted)")
		fs.Uint64Var(&c.Seed, "seed", c.Seed, "base seed; every prompt gets its own (base, base+1, …) so ComfyUI's cache never serves a result")
		fs.StringVar((*string)(&c.OnError), "on-error", string(c.OnError), "when a prompt fails: stop | continue")
		fs.BoolVar(&c.CheckDeterminism, "check-determinism", false, "run one seed twice (ComfyUI's cache cleared between) and say whether the output images are byte-identical")
		fs.BoolVar(&c.AllowContention, "allow-contention", false, "count runs that waited behind other clients' prompts (measure under load on a shared server)")
	})
	values(fs, "set", "width=", "height=", "steps=", "seed=", "cfg=", "prompt=", "negative=")
	values(fs, "on-error", "stop", "continue")
	files(fs, "workflow")
	group(fs, groupOutput, func() {
		fs.StringVarP(&f.out, "out", "o", "qwenlab-report.json", "write the JSON report to FILE (atomically)")
		fs.BoolVar(&f.json, "json", false, "print the JSON report on stdout instead of the summary")
		fs.StringVar(&f.html, "html", "", "also write the report as one self-contained HTML page to FILE (see 'qwenlab report')")
		fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr: only the summary (or --json) and errors")
		fs.BoolVarP(&f.verbose, "verbose", "v", false, "also stream the container's log lines (redacted) and every run's result; the summary lists every run")
		fs.StringVar((*string)(&c.Metric), "metric", string(c.Metric), "latency the summary leads with: e2e | server")
	})
	values(fs, "metric", "e2e", "server")
	files(fs, "out", "html")
	group(fs, groupTiming, func() {
		fs.DurationVar(&c.PromptTimeout, "prompt-timeout", c.PromptTimeout, "a prompt with no message from the server for this long is interrupted and counted as timed out")
		fs.DurationVar(&c.QueueTimeout, "queue-timeout", c.QueueTimeout, "a prompt waiting this long in ComfyUI's queue without starting is taken off the queue and counted as timed out")
		fs.DurationVar(&c.IdleWait, "idle-wait", c.IdleWait, "before each run, wait at most this long for other clients' prompts on the server to finish; a run that still waits behind them is flagged and left out of the statistics")
		fs.DurationVar(&c.InterruptWait, "interrupt-wait", c.InterruptWait, "how long to wait for ComfyUI to stop a prompt qwenlab gave up on (it stops only between nodes and at sampler steps)")
		fs.DurationVar(&c.GPUInterval, "gpu-interval", c.GPUInterval, "NVML sampling interval")
	})
}

// validate checks the flags: the run's settings (lab.Config.Validate) and what only the
// command line has (scenario, --set, --budget, --out).
func (f *runFlags) validate(fs *pflag.FlagSet) error {
	c := &f.cfg
	if f.quiet && f.verbose {
		return usagef("--quiet and --verbose: pick one")
	}
	if err := c.Validate(); err != nil {
		return usagef("%v", err)
	}
	s, err := scenarios.Lookup(f.scenario)
	if err != nil {
		var fe *scenarios.FileError
		if errors.As(err, &fe) {
			return err // a file's content: exit 1
		}
		return usagef("--scenario: %v", err)
	}
	c.Scenario = s
	c.Params = map[string]string{}
	for _, kv := range f.sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("--set %q: want NAME=VALUE, e.g. --set steps=20", kv)
		}
		c.Params[k] = v
	}
	for _, b := range append(append([]string(nil), s.Budgets...), f.budgets...) {
		bud, err := lab.ParseBudget(b)
		if err != nil {
			return usagef("--budget: %v", err)
		}
		c.Budgets = append(c.Budgets, bud)
	}
	for _, o := range []struct{ flag, path string }{{"out", f.out}, {"html", f.html}} {
		if o.path == "" {
			continue
		}
		if st, err := os.Stat(o.path); err == nil && st.IsDir() {
			return usagef("--%s %s: is a directory; give a file name", o.flag, o.path)
		}
		if _, err := os.Stat(filepath.Dir(o.path)); err != nil {
			return usagef("--%s %s: folder %s does not exist", o.flag, o.path, filepath.Dir(o.path))
		}
	}
	return nil
}

func upAndBench(ctx context.Context, e *env, args []string) error {
	if file, rest, ok, err := rerunFlag(args); err != nil {
		return err
	} else if ok {
		return rerun(ctx, e, file, rest)
	}
	f := &runFlags{cfg: lab.Defaults()}
	c := &f.cfg
	fs := newFlagSet(e, "up-and-bench", "[flags]")
	var memory *string
	var images *[]string
	group(fs, groupTarget, func() {
		images = fs.StringArray("image", nil, "ComfyUI container IMAGE (default: the built-in simulator, built locally); 'sim' or 'sim:PROFILE' names the simulator; repeat for a matrix: each image in turn, compared with the first")
		fs.StringVar(&c.ModelsDir, "models", "", "host models DIR (ComfyUI layout), mounted read-only")
		fs.StringVar(&c.ModelsTarget, "models-target", c.ModelsTarget, "where the models DIR is mounted inside a real image")
		fs.StringVar(&c.GPUs, "gpus", "", "GPUs for the container, Docker's syntax: all | none | N | device=ID[,ID] | cdi:NAME (default all; none for the simulator)")
		fs.IntVar(&c.Port, "port", 0, "host port on 127.0.0.1 (default: a free one)")
		fs.IntVar(&c.ContainerPort, "container-port", c.ContainerPort, "port ComfyUI listens on inside the container")
		fs.StringArrayVar(&c.Env, "env", nil, "container environment K=V; repeatable (values of *TOKEN*, *KEY*, *SECRET*, *PASSWORD* are redacted in reports)")
		fs.StringArrayVar(&c.ComfyArgs, "comfy-arg", nil, "argument appended to the container's command (e.g. --comfy-arg=--highvram); repeatable")
		fs.StringVar(&c.SimProfile, "sim-profile", c.SimProfile, "timing profile of the built-in simulator (instant, default, …)")
		fs.StringVar((*string)(&c.Pull), "pull", string(c.Pull), "pull the image: missing | always | never")
		fs.BoolVar(&c.Init, "init", c.Init, "run the engine's init process as PID 1 (fast stop)")
		memory = fs.String("memory", "", "the container's RAM limit, e.g. 48g (no extra swap): find out whether the weights load in that much host RAM")
	})
	values(fs, "sim-profile", "instant", "default", "conformance")
	values(fs, "pull", "missing", "always", "never")
	files(fs, "models")
	f.register(fs)
	group(fs, groupWorkload, func() {
		fs.IntVar(&c.ColdStarts, "cold-starts", c.ColdStarts, "cold starts, each in a fresh container")
	})
	group(fs, groupTiming, func() {
		fs.DurationVar(&c.StartTimeout, "start-timeout", c.StartTimeout, "create → ComfyUI answering")
		fs.DurationVar(&c.TeardownTimeout, "teardown-timeout", c.TeardownTimeout, "time allowed for stop + remove")
		fs.DurationVar(&c.StopTimeout, "stop-timeout", c.StopTimeout, "grace period before the container is killed")
		fs.StringArrayVar(&f.budgets, "budget", nil, "phase budget PHASE=DUR (e.g. model_load=30s, ready=60s); repeatable")
		fs.DurationVar(&c.SlowGap, "slow-gap", c.SlowGap, "report a quiet log period longer than this as a slow step")
		fs.BoolVar(&c.FailOnSlow, "fail-on-slow", false, "exit 3 when a slow step or budget overrun is found")
	})
	values(fs, "budget", "model_load=", "ready=", "first_prompt=", "pull=")
	group(fs, groupOutput, func() {
		fs.StringVar(&c.SaveLogs, "save-logs", "", "write every container log line (timestamped) to FILE")
	})
	files(fs, "save-logs")
	group(fs, groupSafety, func() {
		fs.BoolVar(&c.PublishAll, "publish-all-interfaces", false, "publish the port on every interface (ComfyUI has no authentication!)")
		fs.BoolVar(&c.Keep, "keep", false, "leave the container running afterwards")
		fs.BoolVar(&c.DropCaches, "drop-caches", false, "before each cold start, evict the --models files from the host's page cache (posix_fadvise DONTNEED) so model loads read from disk; root only: the cache is shared by everyone on the host")
	})
	var cf composeFlags
	group(fs, groupTarget, func() { cf.register(fs) })
	files(fs, "compose")
	gf := &compareFlags{}
	gf.register(fs)
	var nf nightlyFlags
	nf.register(fs)
	fs.String("rerun", "", "repeat the run of REPORT.json: its flags, workflow and seeds, each image pinned to its digest (later flags override, e.g. -o)")
	if err := parse(fs, args); err != nil {
		return err
	}
	entries, err := matrixEntries(*images, c.SimProfile, c.GPUs)
	if err != nil {
		return err
	}
	if len(entries) == 1 {
		c.Image, c.SimProfile = entries[0].Image, entries[0].SimProfile
	}
	if c.Compare, err = gf.options(); err != nil {
		return err
	}
	if err := cf.apply(ctx, fs, c, e.stderr); err != nil {
		return err
	}
	if len(entries) > 1 && c.Compose != nil {
		return usagef("--compose with several --image: give one image (the compose file's or --image)")
	}
	if c.GPUs == "" {
		c.GPUs = "all"
		if c.Image == "" {
			c.GPUs = "none"
		}
		if len(entries) > 1 {
			c.GPUs = entries[0].GPUs // the other images have their own default
		}
	}
	if *memory != "" {
		n, err := parseBytes(*memory)
		if err != nil || n < 6<<20 {
			return usagef("--memory %q: want a size of at least 6m, like 512m or 48g", *memory)
		}
		c.MemoryBytes = n
	}
	if err := f.validate(fs); err != nil {
		return err
	}
	if err := nf.validate(fs, f, len(entries) > 1, len(c.Compare.Thresholds)); err != nil {
		return err
	}
	if err := checkDropCaches(c, os.Geteuid()); err != nil {
		return err
	}
	if c.PublishAll {
		fmt.Fprintln(e.stderr, "qwenlab: warning: --publish-all-interfaces: ComfyUI has no authentication; anyone who can reach this host can use it while the benchmark runs")
	}
	c.RunID = newRunID()
	c.ToolVersion = toolVersion()

	dc, err := docker.New(ctx)
	if err != nil {
		return err
	}
	defer dc.Close()
	d := e.startDisplay(f)
	defer e.stopDisplay()
	deps := lab.Deps{
		Engine:   dc,
		Dial:     dialer(c, d),
		Progress: d.Event,
		SimImage: func(ctx context.Context) (string, error) {
			exe, err := os.Executable()
			if err != nil {
				return "", fmt.Errorf("find qwenlab's own executable: %w", err)
			}
			// QWENLAB_SIM_REPO names the repository of the simulator images (default
			// qwenlab-sim): tests keep theirs apart from a user's cached image.
			return dc.SimImageIn(ctx, cmp.Or(os.Getenv("QWENLAB_SIM_REPO"), docker.SimRepo), exe, d.Writer())
		},
	}
	closeGPU := attachGPU(&deps)
	defer closeGPU()
	d.Println("qwenlab: run " + c.RunID)
	var rep *report.Report
	var runErr error
	if len(entries) > 1 {
		rep, runErr = lab.Matrix(ctx, *c, entries, deps)
	} else {
		rep, runErr = lab.UpAndBench(ctx, *c, deps)
	}
	setInvocation(rep, invocation("up-and-bench", fs))
	if runErr == nil || errors.Is(runErr, lab.ErrSlow) {
		runErr = errors.Join(runErr, nf.apply(f, rep, c.Compare))
	} else if nf.outDir != "" && rep != nil {
		f.out = filepath.Join(nf.outDir, nightlyName(rep))
	}
	return finish(e, f, rep, runErr)
}

func bench(ctx context.Context, e *env, args []string) error {
	f := &runFlags{cfg: lab.Defaults()}
	c := &f.cfg
	fs := newFlagSet(e, "bench", "--url URL [flags]")
	group(fs, groupTarget, func() {
		fs.StringVar(&c.URL, "url", "", "base URL of a running ComfyUI, e.g. http://127.0.0.1:8188 (required)")
	})
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.URL == "" {
		return usagef("bench: --url is required, e.g. --url http://127.0.0.1:8188")
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return usagef("--url %q: want http://HOST:PORT", c.URL)
	}
	if err := f.validate(fs); err != nil {
		return err
	}
	c.RunID = newRunID()
	c.ToolVersion = toolVersion()
	d := e.startDisplay(f)
	defer e.stopDisplay()
	deps := lab.Deps{Dial: dialer(c, d), Progress: d.Event}
	closeGPU := attachGPU(&deps)
	defer closeGPU()
	rep, runErr := lab.Bench(ctx, *c, deps)
	return finish(e, f, rep, runErr)
}

func dialer(c *lab.Config, d *live.Display) func(string) (lab.Comfy, error) {
	return func(url string) (lab.Comfy, error) {
		cl, err := comfy.NewClient(url, comfy.Options{ClientID: "qwenlab-" + c.RunID, IdleTimeout: c.PromptTimeout,
			QueueTimeout: c.QueueTimeout, InterruptWait: c.PromptInterruptWait(),
			Notify: d.Println,
			Progress: func(p comfy.Progress) {
				d.Event(lab.Event{Kind: lab.EventStep, Node: strings.TrimSpace(p.Node + " " + p.ClassType), Step: p.Step, Steps: p.Max})
			}})
		if err != nil {
			return nil, err
		}
		return cl, nil
	}
}

// attachGPU opens NVML when it is there; without it the report says why.
func attachGPU(deps *lab.Deps) func() {
	m, err := gpu.Open()
	if err != nil {
		deps.GPUReason = gpu.Reason(err)
		return func() {}
	}
	deps.GPU = m
	return func() { m.Close() }
}

// finish writes the report (even a partial one), prints the summary or the JSON, and
// returns the run's error.
func finish(e *env, f *runFlags, rep *report.Report, runErr error) error {
	var werr error
	written := ""
	if f.out != "" && rep != nil {
		if werr = report.Write(f.out, rep); werr == nil {
			written = f.out
			e.note("qwenlab: report written to " + f.out)
		}
	}
	if f.html != "" && rep != nil {
		if err := report.WriteHTML(f.html, rep); err != nil {
			werr = errors.Join(werr, err)
		} else {
			e.note("qwenlab: HTML report written to " + f.html)
		}
	}
	e.stopDisplay() // the live area goes before the result comes
	var we *report.WriteError
	if errors.As(werr, &we) && len(we.Data) > 0 {
		fmt.Fprintf(e.stderr, "qwenlab: %v; here it is, so the numbers are not lost:\n%s\n", werr, we.Data)
	}
	if rep != nil {
		if f.json {
			if b, err := report.Marshal(rep); err == nil {
				e.stdout.Write(b)
			}
		} else {
			renderRun(e, rep, report.SummaryOptions{Verbose: f.verbose, ReportPath: written})
		}
	}
	if errors.Is(runErr, lab.ErrSlow) {
		return errors.Join(fmt.Errorf("%w: %w", errThreshold, runErr), werr)
	}
	if runErr == nil && werr == nil && rep != nil {
		for _, res := range []*report.CompareResult{rep.Comparison, rep.Baseline} {
			if res != nil && res.Failed {
				return thresholdErr(res)
			}
		}
	}
	return errors.Join(runErr, werr)
}

// renderRun prints a run's summary; for a matrix, each image's and then the comparison
// with the first image.
func renderRun(e *env, rep *report.Report, o report.SummaryOptions) {
	path := o.ReportPath
	o.ReportPath = "" // said last, after everything else
	defer func() {
		for _, s := range append([]report.Section{{Label: "", Report: rep}}, rep.Sections...) {
			if d := s.Report.Determinism; d != nil && (s.Label != "" || len(rep.Sections) == 0) {
				fmt.Fprintf(e.stdout, "Determinism%s: %s\n", strings.TrimSuffix(" ("+s.Label+")", " ()"), d.Note)
			}
		}
		if rep.Baseline != nil {
			fmt.Fprintln(e.stdout, "\n=== comparison with the baseline ===")
			report.RenderCompare(e.stdout, rep.Baseline, report.FormatText)
		}
		if path != "" {
			fmt.Fprintf(e.stdout, "\nReport: %s\n", path)
		}
	}()
	if len(rep.Sections) == 0 {
		report.RenderSummaryWith(e.stdout, rep, o)
		return
	}
	for _, s := range rep.Sections {
		fmt.Fprintf(e.stdout, "=== %s ===\n", s.Label)
		report.RenderSummaryWith(e.stdout, s.Report, o)
		fmt.Fprintln(e.stdout)
	}
	if rep.Comparison != nil {
		fmt.Fprintln(e.stdout, "=== comparison with the first image ===")
		report.RenderCompare(e.stdout, rep.Comparison, report.FormatText)
	}
	for _, w := range rep.Warnings {
		if strings.HasPrefix(w, "no comparison") {
			fmt.Fprintf(e.stdout, "warning: %s\n", w)
		}
	}
}

// matrixEntries reads the --image flags: an image reference, "sim" (the built-in simulator
// with --sim-profile) or "sim:PROFILE". No flag is the simulator. Each entry gets gpus, or
// by default all GPUs for an image and none for the simulator.
func matrixEntries(images []string, simProfile, gpus string) ([]lab.MatrixEntry, error) {
	if len(images) == 0 {
		return []lab.MatrixEntry{{Label: "sim", SimProfile: simProfile, GPUs: cmp.Or(gpus, "none")}}, nil
	}
	var out []lab.MatrixEntry
	seen := map[string]bool{}
	for _, im := range images {
		im = strings.TrimSpace(im)
		if im == "" {
			return nil, usagef("--image: empty; give an image reference, sim or sim:PROFILE")
		}
		if seen[im] {
			return nil, usagef("--image %s: given twice", im)
		}
		seen[im] = true
		e := lab.MatrixEntry{Label: im, Image: im, GPUs: cmp.Or(gpus, "all")}
		if im == "sim" || strings.HasPrefix(im, "sim:") {
			e.Image, e.SimProfile, e.GPUs = "", simProfile, cmp.Or(gpus, "none")
			if p, ok := strings.CutPrefix(im, "sim:"); ok {
				if _, err := (comfysim.Config{}).ApplyProfile(p); err != nil {
					return nil, usagef("--image %s: %s", im, strings.TrimPrefix(err.Error(), comfysim.ErrUsage.Error()+": "))
				}
				e.SimProfile = p
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// checkDropCaches validates --drop-caches for a user with effective uid euid.
//
// Note: POSIX_FADV_DONTNEED works for anyone who can read the files, but evicting a shared
// page cache slows every other reader of those files on the host: an administrator's act,
// so qwenlab keeps it to root.
func checkDropCaches(c *lab.Config, euid int) error {
	if !c.DropCaches {
		return nil
	}
	if c.ModelsDir == "" {
		return usagef("--drop-caches needs --models DIR: it evicts the model files of that folder")
	}
	if euid != 0 {
		return usagef("--drop-caches: only root may evict files from the host's shared page cache (euid %d); run as root or leave it off", euid)
	}
	return nil
}

// parseBytes reads a size as Docker's --memory takes it: a number with an optional b, k, m
// or g suffix (powers of 1024).
func parseBytes(s string) (int64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "g"):
		mult, s = 1<<30, strings.TrimSuffix(s, "g")
	case strings.HasSuffix(s, "m"):
		mult, s = 1<<20, strings.TrimSuffix(s, "m")
	case strings.HasSuffix(s, "k"):
		mult, s = 1<<10, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "b"):
		s = strings.TrimSuffix(s, "b")
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 || n*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("size %q", s)
	}
	return int64(n * float64(mult)), nil
}
