package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/qwenlab/qwenlab/cli/live"
	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/comfysim"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/gpu"
	"github.com/qwenlab/qwenlab/internal/loopback"
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
		fs.StringVar(&c.Vary, "vary", "", "input NODE.INPUT of a workflow without a seed that gets a new value per prompt (INT base+i, FLOAT +i·1e-6, STRING \" #i\") so ComfyUI's cache serves no warm run")
		fs.StringVar((*string)(&c.OnError), "on-error", string(c.OnError), "when a prompt fails: stop | continue")
		fs.BoolVar(&c.CheckDeterminism, "check-determinism", false, "run one seed twice (ComfyUI's cache cleared between) and say whether the output images are byte-identical")
		fs.BoolVar(&c.AllowContention, "allow-contention", false, "count runs that waited behind other clients' prompts (measure under load on a shared server)")
	})
	values(fs, "set", "width=", "height=", "steps=", "seed=", "cfg=", "prompt=", "negative=")
	values(fs, "on-error", "stop", "continue")
	files(fs, "workflow")
	group(fs, groupOutput, func() {
		fs.StringVarP(&f.out, "out", "o", "qwenlab-report.json", "write the JSON report to FILE (a regular file is replaced atomically, a symlink's target too; a device or FIFO is streamed into; - is stdout)")
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
		return usagef("--scenario: %v", err) // an unknown name, or a file that is not a scenario
	}
	c.Scenario = s
	c.Params = map[string]string{}
	for _, kv := range f.sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("--set %q: want NAME=VALUE, e.g. --set steps=20", kv)
		}
		nv, err := setValue(k, v)
		if err != nil {
			return err
		}
		if k == "seed" { // the base seed: every prompt gets its own from it
			seed, _ := strconv.ParseUint(nv, 10, 64)
			if fs.Changed("seed") && seed != c.Seed {
				return usagef("--set seed=%s and --seed %d disagree: give the base seed once", v, c.Seed)
			}
			c.Seed = seed
			continue
		}
		c.Params[k] = nv
	}
	if err := lab.CheckPlan(*c); err != nil {
		return usagef("%v", err)
	}
	for i, b := range append(append([]string(nil), s.Budgets...), f.budgets...) {
		bud, err := lab.ParseBudget(b)
		if err != nil {
			if i < len(s.Budgets) { // the scenario file's, not the command line's
				return usagef("--scenario: scenario file %s: budgets: %v", s.Source, err)
			}
			return usagef("--budget: %v", err)
		}
		c.Budgets = append(c.Budgets, bud)
	}
	prompts := uint64(c.Runs) + uint64(c.Warmup) + 1000 // 1000: at most one first prompt per cold start
	if c.Seed > math.MaxUint64-prompts {
		return usagef("--seed %d: every prompt gets the next seed and they would pass 18446744073709551615; give a smaller base seed", c.Seed)
	}
	for _, o := range []struct{ flag, path string }{{"--out", f.out}, {"--html", f.html}} {
		if o.path != "" && o.path != "-" {
			if err := checkOutFile(o.flag, o.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkOutFile checks, before anything runs, that a file flag names a place a file can be
// written: not a folder, in a folder that exists.
func checkOutFile(flag, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("%s %s: is a directory; give a file name", flag, path)
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		return usagef("%s %s: folder %s does not exist", flag, path, dir)
	} else if !st.IsDir() {
		return usagef("%s %s: %s is not a folder", flag, path, dir)
	}
	return nil
}

// samePath reports whether a and b name the same file (through links too), or would.
func samePath(a, b string) bool {
	if ra, err := report.ResolveLink(a); err == nil {
		a = ra
	}
	if rb, err := report.ResolveLink(b); err == nil {
		b = rb
	}
	sa, erra := os.Stat(a)
	sb, errb := os.Stat(b)
	if erra == nil && errb == nil {
		return os.SameFile(sa, sb)
	}
	aa, _ := filepath.Abs(a)
	ab, _ := filepath.Abs(b)
	return aa == ab
}

func upAndBench(ctx context.Context, e *env, args []string) error {
	if file, rest, ok, err := rerunFlag(args); err != nil {
		return err
	} else if ok && !slices.Contains(rest, "--help") && !slices.Contains(rest, "-h") {
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
		fs.DurationVar(&c.TeardownTimeout, "teardown-timeout", c.TeardownTimeout, "time allowed for the whole teardown: every stop, log drain and remove, and the check for leftovers")
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
	var ef engineFlags
	group(fs, groupTarget, func() { ef.register(fs) })
	gf := &compareFlags{}
	gf.register(fs)
	var nf nightlyFlags
	nf.register(fs)
	var dry bool
	group(fs, groupSafety, func() {
		fs.BoolVar(&dry, "dry-run", false, "check everything and print the plan (engines, images present or to pull, GPUs, port, mounts, cold-start order, seeds, gates, report path) without creating, pulling, building or starting anything; no report")
	})
	fs.String("rerun", "", "repeat the run of REPORT.json: its flags, workflow and seeds, each image pinned to its digest (later flags override, e.g. -o)")
	if err := parse(fs, args); err != nil {
		return err
	}
	e.redact(report.SecretValues(c.Env)...)
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
	e.redact(report.SecretValues(c.Env)...) // the compose file's environment too
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
	if err := checkOutFile("--save-logs", c.SaveLogs); err != nil {
		return err
	}
	if c.SaveLogs != "" && f.out != "" && f.out != "-" && samePath(c.SaveLogs, f.out) {
		return usagef("--save-logs %s and --out %s are the same file: the report would overwrite the logs; give two names", c.SaveLogs, f.out)
	}
	nf.dryRun = dry
	if err := nf.validate(fs, f, len(entries) > 1, len(c.Compare.Thresholds)); err != nil {
		return err
	}
	// A gate whose test cannot judge a change says so now, not after a night of GPU time.
	for _, t := range c.Compare.Thresholds {
		nBase := -1 // a matrix compares images measured alike
		if nf.base != nil {
			nBase = report.Samples(nf.base, t.Metric)
		}
		if why := t.Untestable(t.Metric.SamplesPerRun(c.Runs, max(c.ColdStarts, 1)), nBase, c.Compare.Alpha); why != "" {
			fmt.Fprintf(e.stderr, "qwenlab: warning: --threshold %s: %s; a change past the limit will fail as untested\n", t.Text, why)
		}
	}
	if err := checkDropCaches(c, os.Geteuid()); err != nil {
		return err
	}
	if c.PublishAll {
		fmt.Fprintln(e.stderr, "qwenlab: warning: --publish-all-interfaces: ComfyUI has no authentication; anyone who can reach this host can use it while the benchmark runs")
	}
	c.RunID = newRunID()
	c.ToolVersion = toolVersion()

	eps, err := ef.endpoints()
	if err != nil {
		rep := lab.Refused(*c, lab.Deps{GPUReason: "the run did not start"}, "preflight", err)
		return finish(e, f, rep, err)
	}
	if dry {
		fmt.Fprintln(e.stderr, "qwenlab: run "+c.RunID)
		return dryRun(ctx, e.stdout, f, &nf, entries, eps)
	}
	if len(eps) > 1 {
		return runFleet(ctx, e, f, entries, eps)
	}
	d := e.startDisplay(f)
	defer e.stopDisplay()
	d.Println("qwenlab: run " + c.RunID)
	rep, runErr := runOn(ctx, *c, entries, eps[0], d, "")
	if rep == nil && runErr != nil {
		return runErr
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
		fs.BoolVar(&c.SameHost, "same-host", false, "the server runs on this machine: watch its GPUs even if --url is not a loopback address")
	})
	group(fs, groupTiming, func() {
		fs.DurationVar(&c.WaitReady, "wait-ready", 0, "wait up to DUR for the server to answer (default: probe once)")
	})
	// --cold-start-only is the measuring container's on a remote engine, in a matrix's rounds
	// before the last: only the first prompt against the fresh server, its cold start (warm
	// runs follow the last round's). Hidden: a person asks for warm runs with --runs.
	var coldOnly bool
	fs.BoolVar(&coldOnly, "cold-start-only", false, "send only the first prompt (no warm-ups, no measured runs)")
	_ = fs.MarkHidden("cold-start-only")
	// --private-network is the measuring container's too: the server shares a network with
	// it alone, so no one else can reach it and the "no authentication" warning is noise.
	var private bool
	fs.BoolVar(&private, "private-network", false, "the server is on a network of its own with this client: no exposure warning")
	_ = fs.MarkHidden("private-network")
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if coldOnly && (fs.Changed("runs") || fs.Changed("warmup")) {
		return usagef("--cold-start-only sends the first prompt only: leave out --runs and --warmup")
	}
	if c.URL == "" {
		return usagef("bench: --url is required, e.g. --url http://127.0.0.1:8188")
	}
	u, err := url.Parse(c.URL)
	if err == nil && u.User != nil { // never shown, never stored: sent as basic auth only
		pw, _ := u.User.Password()
		e.redact(pw)
	}
	e.redact(report.SecretValues(c.Env)...)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--url %s: want http://HOST:PORT (or https://, with user:password@ for a proxy that asks for it)", redactedURL(c.URL, u))
	}
	auth := u.User
	u.User = nil
	c.URL = u.String()
	if w := exposureWarning(u, auth != nil); w != "" && !private {
		fmt.Fprintln(e.stderr, "qwenlab: warning: "+w)
	}
	if err := f.validate(fs); err != nil {
		return err
	}
	if coldOnly { // the first prompt is the one warm-up; the remote run reports it as the cold start's
		c.Runs, c.Warmup = 0, 1
	}
	c.RunID = newRunID()
	c.ToolVersion = toolVersion()
	d := e.startDisplay(f)
	defer e.stopDisplay()
	dial := dialer(c, d)
	deps := lab.Deps{Dial: func(base string) (lab.Comfy, error) { return dial(withAuth(base, auth)) }, Progress: d.Event}
	closeGPU := attachGPU(&deps)
	defer closeGPU()
	rep, runErr := lab.Bench(ctx, *c, deps)
	return finish(e, f, rep, runErr)
}

// redactedURL shows a URL the user gave without its password.
func redactedURL(raw string, u *url.URL) string {
	if u != nil {
		return u.Redacted()
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		return "…" + raw[i:]
	}
	return raw
}

// withAuth puts the user information of --url back into the base URL qwenlab dials; the
// client sends it as basic auth and keeps it out of everything it shows.
func withAuth(base string, auth *url.Userinfo) string {
	u, err := url.Parse(base)
	if err != nil || auth == nil || u.User != nil {
		return base
	}
	u.User = auth
	return u.String()
}

// exposureWarning says what a --url off this host exposes: ComfyUI has no authentication of
// its own, and basic auth over plain http crosses the network in clear.
func exposureWarning(u *url.URL, auth bool) string {
	if loopback.Host(u.Hostname()) {
		return ""
	}
	switch {
	case auth && u.Scheme == "http":
		return fmt.Sprintf("--url %s is not on this host and uses plain http: the password and every prompt cross the network unencrypted; use https", u.Redacted())
	case auth:
		return ""
	}
	return fmt.Sprintf("--url %s is not on this host: ComfyUI has no authentication, so anyone who can reach it can use it (and disturb the benchmark)", u.Redacted())
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
	summary := e.stdout
	if f.out == "-" { // the report is the result on stdout; the summary moves to stderr
		summary = e.stderr
	}
	if rep != nil {
		switch f.out {
		case "":
		case "-":
			b, err := report.Marshal(rep)
			if err == nil {
				_, err = e.stdout.Write(b)
			}
			werr = err
		default:
			where, err := report.WriteTo(f.out, rep)
			if werr = err; werr == nil {
				written = where
				e.note("qwenlab: report written to " + where)
			}
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
		if f.json && f.out != "-" {
			if b, err := report.Marshal(rep); err == nil {
				e.stdout.Write(b)
			}
		} else {
			report.RenderRun(summary, rep, report.SummaryOptions{Verbose: f.verbose, ReportPath: written})
		}
	}
	if errors.Is(runErr, lab.ErrSlow) {
		return errors.Join(fmt.Errorf("%w: %w", errThreshold, runErr), werr)
	}
	if runErr == nil && werr == nil && nothingValid(rep) {
		if rep.Warm != nil {
			return fmt.Errorf("%w: 0 of %d warm runs are valid (see the warnings above and the report's warm.runs[].invalid)", errNothingValid, len(rep.Warm.Runs))
		}
		return fmt.Errorf("%w: no image has a valid warm run (see the warnings above and each section's warm.runs[].invalid)", errNothingValid)
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

// setValue checks and normalises one --set value: the sizes and counts are whole numbers, the
// seed a 64-bit unsigned one, other numbers finite and written as JSON writes them (".5" is
// 0.5, "+20" is 20), so every value can be sent to ComfyUI and recorded in the report. Texts
// (prompt, negative and values that are not numbers) pass unchanged.
func setValue(name, v string) (string, error) {
	switch name {
	case "prompt", "negative":
		return v, nil
	case "width", "height", "steps":
		n, err := strconv.ParseUint(strings.TrimPrefix(v, "+"), 10, 31)
		if err != nil || n == 0 {
			return "", usagef("--set %s=%s: want a whole number of at least 1, e.g. --set %s=512", name, v, name)
		}
		return strconv.FormatUint(n, 10), nil
	case "seed":
		n, err := strconv.ParseUint(strings.TrimPrefix(v, "+"), 10, 64)
		if err != nil {
			return "", usagef("--set seed=%s: want a whole number from 0 to 18446744073709551615", v)
		}
		return strconv.FormatUint(n, 10), nil
	}
	f, err := strconv.ParseFloat(v, 64)
	looksNumeric := err == nil || errors.Is(err, strconv.ErrRange)
	if !looksNumeric {
		if name == "cfg" {
			return "", usagef("--set cfg=%s: want a number, e.g. --set cfg=2.5", v)
		}
		return v, nil // a text input of a scenario file's own parameter
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(v, "_xXpP") {
		return "", usagef("--set %s=%s: want a finite decimal number, e.g. --set %s=2.5", name, v, name)
	}
	return strconv.FormatFloat(f, 'g', -1, 64), nil
}

// nothingValid reports whether a run that went through measured nothing valid: its warm
// runs (every matrix entry's) were all invalid.
func nothingValid(rep *report.Report) bool {
	if rep == nil {
		return false
	}
	if len(rep.Sections) > 0 {
		for _, s := range rep.Sections {
			if !nothingValid(s.Report) {
				return false
			}
		}
		return true
	}
	// No measured run at all (bench --cold-start-only) is not "none valid".
	return rep.Warm != nil && len(rep.Warm.Runs) > 0 && rep.Warm.Summary.N == 0
}

// matrixEntries reads the --image flags: an image reference, "sim" (the built-in simulator
// with --sim-profile) or "sim:PROFILE". No flag is the simulator. Each entry gets gpus, or
// by default all GPUs for an image and none for the simulator.
func matrixEntries(images []string, simProfile, gpus string) ([]lab.MatrixEntry, error) {
	checkProfile := func(flag, p string) error {
		if _, err := (comfysim.Config{}).ApplyProfile(p); err != nil {
			return usagef("%s: %s", flag, strings.TrimPrefix(err.Error(), comfysim.ErrUsage.Error()+": "))
		}
		return nil
	}
	if len(images) == 0 {
		if err := checkProfile("--sim-profile "+simProfile, simProfile); err != nil {
			return nil, err
		}
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
			flag := "--sim-profile " + simProfile
			if p, ok := strings.CutPrefix(im, "sim:"); ok {
				e.SimProfile, flag = p, "--image "+im
			}
			if err := checkProfile(flag, e.SimProfile); err != nil {
				return nil, err
			}
		} else if err := docker.CheckImageRef(im); err != nil {
			return nil, usagef("--image %v", err)
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

// parseBytes reads a size as Docker's --memory takes it (go-units' RAMInBytes: 512m, 48g,
// 48gb, 48GiB, powers of 1024).
func parseBytes(s string) (int64, error) {
	n, err := units.RAMInBytes(strings.TrimSpace(s))
	if err != nil || n <= 0 || n > 1<<50 {
		return 0, fmt.Errorf("size %q", s)
	}
	return n, nil
}
