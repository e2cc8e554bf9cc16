package comfysim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// ErrUsage marks errors caused by bad flags or values (the CLI exits 2 on them).
var ErrUsage = errors.New("usage")

// Config is everything `qwenlab sim` flags set. New uses the timing fields as they are
// (zero means no simulated work); ApplyProfile fills them from a named profile.
type Config struct {
	Listen    string // --listen (default 127.0.0.1)
	Port      int    // --port (default 8188; 0 picks a free port in Command)
	ModelsDir string // --models: DIR/diffusion_models+unet, text_encoders+clip, vae, checkpoints
	// DemoModels are model files (folder/name) the loaders list as present without a file
	// behind them: `qwenlab sim` without --models offers the Qwen-Image reference files so the
	// embedded scenario runs against it out of the box.
	DemoModels   []string
	OutputDir    string // --output-directory (default: a temp dir the simulator creates)
	Profile      string // --profile: instant, default or conformance
	ComfyVersion string // --comfy-version: 0.3.64 or 0.21.0 (default)
	LogFormat    string // --log-format: 0.3.64, 0.3.68, 0.8.1 or dynamic (default per version)

	StartupTime time.Duration // --startup-time: from start to listening
	LoadTime    time.Duration // --load-time: a first-use model load (scaled by model size)
	StepTime    time.Duration // --step-time: one sampler step
	DecodeTime  time.Duration // --decode-time: VAEDecode
	SaveTime    time.Duration // --save-time: SaveImage
	PixelTime   time.Duration // --pixel-time: image operations, per megapixel
	Jitter      float64       // --jitter: each delay is scaled by 1±Jitter (uniform)

	IgnoreSIGTERM   bool          // --ignore-sigterm: behave like PID-1 python
	PostPromptStall time.Duration // --post-prompt-stall: hold the WS tail after a prompt
	StallEvery      time.Duration // --stall-every: at most one stall per this interval
	StartupStall    time.Duration // --startup-stall / --fault slow-startup=DUR: a quiet gap at startup

	Faults                   []string // --fault: crash-at-step=K oom-at-node=ID hang-at-step=K drop-ws-at-step=K slow-node=ID:DUR thrash-at-startup fail-startup slow-startup=DUR
	CustomNodeImportFailures []string // --custom-node-import-failure NAME
	// ExtraNodes adds that many filler node classes (listed, never runnable), so that
	// /object_info has the size of a real install (ComfyUI 0.21.0: 704 classes).
	ExtraNodes int

	Log io.Writer // where the log lines go (stderr in Command); nil discards them
}

// Profiles names the timing profiles ApplyProfile knows.
var profiles = map[string]func(*Config){
	"instant": func(c *Config) {},
	"default": func(c *Config) {
		c.StartupTime, c.LoadTime, c.StepTime = 1500*time.Millisecond, time.Second, 40*time.Millisecond
		c.DecodeTime, c.SaveTime, c.PixelTime, c.Jitter = 150*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond, 0.05
	},
	// conformance: instant, except that image operations cost time in proportion to their
	// pixels, so the probe's /interrupt lands while its 1024² blur (node 2) still runs.
	"conformance": func(c *Config) { c.PixelTime = 400 * time.Millisecond },
}

// ApplyProfile sets the timing fields from a named profile (instant, default, conformance).
func (c Config) ApplyProfile(name string) (Config, error) {
	p, ok := profiles[name]
	if !ok {
		return c, fmt.Errorf("%w: unknown profile %q (want instant, default or conformance)", ErrUsage, name)
	}
	c.StartupTime, c.LoadTime, c.StepTime, c.DecodeTime, c.SaveTime, c.PixelTime, c.Jitter = 0, 0, 0, 0, 0, 0, 0
	c.Profile = name
	p(&c)
	return c, nil
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1"
	}
	if c.ComfyVersion == "" {
		c.ComfyVersion = v0210
	}
	if c.LogFormat == "" {
		c.LogFormat = LogFormatDynamic
		if c.ComfyVersion == v0364 {
			c.LogFormat = LogFormat0364
		}
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

func (c Config) validate() error {
	if c.ComfyVersion != v0364 && c.ComfyVersion != v0210 {
		return fmt.Errorf("%w: --comfy-version %q: want 0.3.64 or 0.21.0", ErrUsage, c.ComfyVersion)
	}
	switch c.LogFormat {
	case LogFormat0364, LogFormat0368, LogFormat081, LogFormatDynamic:
	default:
		return fmt.Errorf("%w: --log-format %q: want 0.3.64, 0.3.68, 0.8.1 or dynamic", ErrUsage, c.LogFormat)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("%w: --port %d out of range", ErrUsage, c.Port)
	}
	if c.Jitter < 0 || c.Jitter > 1 {
		return fmt.Errorf("%w: --jitter %v: want 0..1", ErrUsage, c.Jitter)
	}
	for _, d := range []time.Duration{c.StartupTime, c.LoadTime, c.StepTime, c.DecodeTime, c.SaveTime, c.PixelTime, c.PostPromptStall, c.StallEvery, c.StartupStall} {
		if d < 0 {
			return fmt.Errorf("%w: negative duration %v", ErrUsage, d)
		}
	}
	return nil
}

// faults is the parsed --fault list.
type faults struct {
	crashStep, hangStep, dropWSStep int
	memoryStep                      int // allocate host memory without bound from this step on
	oomNode                         string
	printEnv                        bool
	slowNodes                       map[string]time.Duration // node id → time it works without progress before its own work
	failStartup                     bool
	thrashStartup                   bool // fill the memory limit and churn it, silently, before the first log line
	slowStartup                     time.Duration
}

func parseFaults(list []string) (faults, error) {
	var f faults
	for _, spec := range list {
		name, val, hasVal := strings.Cut(spec, "=")
		step := func() (int, error) {
			n, err := strconv.Atoi(val)
			if !hasVal || err != nil || n < 1 {
				return 0, fmt.Errorf("%w: --fault %s: want %s=K with K ≥ 1", ErrUsage, spec, name)
			}
			return n, nil
		}
		var err error
		switch name {
		case "crash-at-step":
			f.crashStep, err = step()
		case "hang-at-step":
			f.hangStep, err = step()
		case "drop-ws-at-step":
			f.dropWSStep, err = step()
		case "exhaust-memory-at-step":
			f.memoryStep, err = step()
		case "oom-at-node":
			if !hasVal || val == "" {
				err = fmt.Errorf("%w: --fault %s: want oom-at-node=ID", ErrUsage, spec)
			}
			f.oomNode = val
		case "slow-node":
			id, dur, ok := strings.Cut(val, ":")
			d, perr := time.ParseDuration(dur)
			if !hasVal || !ok || id == "" || perr != nil || d < 0 {
				err = fmt.Errorf("%w: --fault %s: want slow-node=ID:DURATION", ErrUsage, spec)
				break
			}
			if f.slowNodes == nil {
				f.slowNodes = map[string]time.Duration{}
			}
			f.slowNodes[id] = d
		case "fail-startup":
			f.failStartup = true
		case "print-env":
			f.printEnv = true
		case "thrash-at-startup":
			f.thrashStartup = true
		case "slow-startup":
			d, perr := time.ParseDuration(val)
			if !hasVal || perr != nil || d < 0 {
				err = fmt.Errorf("%w: --fault %s: want slow-startup=DURATION", ErrUsage, spec)
			}
			f.slowStartup = d
		default:
			err = fmt.Errorf("%w: unknown --fault %q", ErrUsage, spec)
		}
		if err != nil {
			return faults{}, err
		}
	}
	return f, nil
}

// QwenImageModels are the model files of the native Qwen-Image text-to-image graph.
var QwenImageModels = []string{
	"diffusion_models/qwen_image_fp8_e4m3fn.safetensors",
	"text_encoders/qwen_2.5_vl_7b_fp8_scaled.safetensors",
	"vae/qwen_image_vae.safetensors",
}

// Command runs `qwenlab sim` with its own flag set (args exclude "sim"). It blocks until ctx
// is done or a fault ends it. Bad flags give an error that wraps ErrUsage.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("sim", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		// Asked for with --help: the answer goes to stdout.
		fmt.Fprintf(stdout, "qwenlab sim: run the built-in ComfyUI simulator in the foreground (no GPU, no models needed)\n\nUsage:\n  qwenlab sim [flags]\n\nExamples:\n  # a simulated ComfyUI on port 8188, then benchmark it from another shell\n  qwenlab sim --port 8188\n  qwenlab bench --url http://127.0.0.1:8188\n\nFlags:\n%s", fs.FlagUsagesWrapped(100))
	}
	var cfg Config
	var profile string
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1", "address to listen on")
	fs.IntVar(&cfg.Port, "port", 8188, "port to listen on (0: a free one)")
	fs.StringVar(&cfg.ModelsDir, "models", "", "models directory (diffusion_models, unet, text_encoders, clip, vae, checkpoints)")
	fs.StringVar(&cfg.OutputDir, "output-directory", "", "where SaveImage writes (default: a new temp dir)")
	fs.StringVar(&profile, "profile", "default", "timing profile: instant, default or conformance")
	fs.StringVar(&cfg.ComfyVersion, "comfy-version", v0210, "ComfyUI version to simulate: 0.3.64 or 0.21.0")
	fs.StringVar(&cfg.LogFormat, "log-format", "", "load-stat log line format: 0.3.64, 0.3.68, 0.8.1 or dynamic (default per version)")
	startup := fs.Duration("startup-time", 0, "override: time from start to listening")
	load := fs.Duration("load-time", 0, "override: first-use model load time")
	step := fs.Duration("step-time", 0, "override: time per sampler step")
	decode := fs.Duration("decode-time", 0, "override: VAEDecode time")
	save := fs.Duration("save-time", 0, "override: SaveImage time")
	pixel := fs.Duration("pixel-time", 0, "override: image operation time per megapixel")
	jitter := fs.Float64("jitter", 0, "override: relative jitter of every delay (0..1)")
	fs.BoolVar(&cfg.IgnoreSIGTERM, "ignore-sigterm", false, "behave like python as PID 1: when this process is PID 1 it ignores SIGTERM (the kernel applies no default action to PID 1), so only SIGKILL ends it; under an init process SIGTERM still ends it")
	fs.DurationVar(&cfg.PostPromptStall, "post-prompt-stall", 0, "after a prompt, hold its remaining WebSocket messages this long (gc.collect)")
	fs.DurationVar(&cfg.StallEvery, "stall-every", 10*time.Second, "at most one post-prompt stall per this interval")
	fs.DurationVar(&cfg.StartupStall, "startup-stall", 0, "a quiet gap in the startup log")
	fs.StringArrayVar(&cfg.Faults, "fault", nil, "fault mode (repeatable): crash-at-step=K, oom-at-node=ID, hang-at-step=K, drop-ws-at-step=K, slow-node=ID:DUR (node ID works DUR without progress messages, so an interrupt takes effect only at the next node, like a big ImageBlur), thrash-at-startup (before the first log line, fill the container's memory limit to 97 % and keep churning it without a word), exhaust-memory-at-step=K (allocate host RAM until the kernel's OOM killer ends the process: run it only under a memory limit), fail-startup, print-env (print the environment at startup, as some entrypoint scripts do), slow-startup=DUR")
	fs.StringArrayVar(&cfg.CustomNodeImportFailures, "custom-node-import-failure", nil, "log an IMPORT FAILED line for this custom node (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	cfg, err := cfg.ApplyProfile(profile)
	if err != nil {
		return err
	}
	set := func(name string, f func()) {
		if fs.Changed(name) {
			f()
		}
	}
	set("startup-time", func() { cfg.StartupTime = *startup })
	set("load-time", func() { cfg.LoadTime = *load })
	set("step-time", func() { cfg.StepTime = *step })
	set("decode-time", func() { cfg.DecodeTime = *decode })
	set("save-time", func() { cfg.SaveTime = *save })
	set("pixel-time", func() { cfg.PixelTime = *pixel })
	set("jitter", func() { cfg.Jitter = *jitter })
	cfg.Log = stderr
	if !fs.Changed("models") {
		cfg.DemoModels = QwenImageModels
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	f, err := parseFaults(cfg.Faults)
	if err != nil {
		return err
	}
	// Note: python has no SIGTERM handler; it survives SIGTERM only as PID 1, where the kernel
	// does not apply default signal actions. Under the engine's init process (docker run
	// --init) it is not PID 1 and dies at once, which is what makes --init stops fast.
	if cfg.IgnoreSIGTERM && os.Getpid() == 1 {
		signal.Ignore(syscall.SIGTERM)
	}
	return run(ctx, cfg, f, stdout)
}

func run(ctx context.Context, cfg Config, f faults, stdout io.Writer) error {
	lg := &logger{w: cfg.Log}
	say := func(format string, args ...any) { lg.write(fmt.Sprintf(format, args...) + "\n") }
	wait := func(d time.Duration) error { return sleepCtx(ctx, d) }
	v21 := cfg.ComfyVersion != v0364
	if f.thrashStartup {
		thrash(ctx)
		return nil
	}
	if err := wait(cfg.StartupTime * 6 / 10); err != nil {
		return nil
	}
	say("Checkpoint files will always be loaded safely.")
	say("Total VRAM 81079 MB, total RAM 2051800 MB")
	say("pytorch version: 2.8.0+cu128")
	say("Set vram state to: NORMAL_VRAM")
	say("Device: cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync")
	if v21 {
		say("Enabled pinned memory 1945210.0")
	}
	say("Using pytorch attention")
	if v21 {
		say("DynamicVRAM support detected and enabled")
		say("Python version: 3.12.11 (main, Jun  4 2025, 08:56:18) [GCC 12.2.0]")
	} else {
		say("Python version: 3.12.3 (main, Aug 14 2025, 17:47:21) [GCC 13.3.0]")
	}
	say("ComfyUI version: %s", cfg.ComfyVersion)
	if v21 {
		say("comfy-aimdo version: 0.2.4")
		say("comfy-kitchen version: 0.2.7")
		say("ComfyUI frontend version: 1.42.11")
	} else {
		say("ComfyUI frontend version: 1.27.10")
	}
	say("[Prompt Server] web root: /usr/local/lib/python3.12/dist-packages/comfyui_frontend_package/static")
	if f.printEnv { // as entrypoint scripts that run `env` do
		for _, kv := range os.Environ() {
			say("%s", kv)
		}
	}
	if f.failStartup {
		say("")
		say("********** ERROR ***********")
		say("")
		say("comfyui-frontend-package is not installed. (simulated by --fault fail-startup)")
		say("")
		say("********** ERROR **********")
		return errors.New("simulated startup failure (--fault fail-startup)")
	}
	if err := wait(cfg.StartupStall + f.slowStartup); err != nil {
		return nil
	}
	if err := wait(cfg.StartupTime * 3 / 10); err != nil {
		return nil
	}
	say("")
	say("Import times for custom nodes:")
	say("   0.0 seconds: /ComfyUI/custom_nodes/websocket_image_save.py")
	for _, name := range cfg.CustomNodeImportFailures {
		say("   0.0 seconds (IMPORT FAILED): /ComfyUI/custom_nodes/%s", name)
	}
	say("")
	s, err := New(cfg)
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer s.Close()
	if err := wait(cfg.StartupTime / 10); err != nil {
		return nil
	}
	say("Starting server")
	say("")
	addr := net.JoinHostPort(cfg.Listen, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		say("Port %d is already in use on address %s. Please close the other application or use a different port with --port.", cfg.Port, cfg.Listen)
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s.cfg.Port = port
	host := cfg.Listen
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	say("To see the GUI go to: http://%s:%d", host, port)
	return s.Serve(ctx, ln)
}
