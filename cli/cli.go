package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/qwenlab/qwenlab/cli/live"
	"github.com/qwenlab/qwenlab/internal/shortid"
	"github.com/qwenlab/qwenlab/lab"
	"github.com/qwenlab/qwenlab/report"
)

// Exit codes.
const (
	ExitOK           = 0
	ExitError        = 1
	ExitUsage        = 2
	ExitThreshold    = 3
	ExitNothingValid = 4 // the run went through, but no measurement is valid
	ExitInterrupted  = 130
)

// usageError is bad input on the command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// errInterrupted is the cancel cause of the first Ctrl-C / SIGTERM.
var errInterrupted = errors.New("interrupted")

// env is what one invocation talks to; tests replace none of it (testscript runs Main).
type env struct {
	stdout, stderr io.Writer
	display        atomic.Pointer[live.Display] // the progress display while a run shows one
	flags          *pflag.FlagSet               // the last flag set newFlagSet made (for help)
	secrets        []string
	raw            *env // the writers before redaction
}

// startDisplay starts the progress display of a run on stderr.
func (e *env) startDisplay(f *runFlags) *live.Display {
	raw := e.stderr // what the terminal is; the display writes through the redacting writer
	if e.raw != nil {
		raw = e.raw.stderr
	}
	o := live.Detect(raw, os.Environ())
	if f.quiet {
		o.Mode = live.Quiet
	}
	o.Verbose = f.verbose
	d := live.New(e.stderr, o)
	e.display.Store(d)
	return d
}

// stopDisplay ends the progress display, if one runs.
func (e *env) stopDisplay() {
	if d := e.display.Swap(nil); d != nil {
		d.Close()
	}
}

// note writes a line for the person at the terminal: through the progress display while
// one runs (so it stays above the live area), else on stderr.
func (e *env) note(s string) {
	if d := e.display.Load(); d != nil {
		d.Println(s)
		return
	}
	fmt.Fprintln(e.stderr, s)
}

// redact adds secrets that must never be printed: from now on stdout and stderr (progress,
// summary, errors, log tails) show them as <redacted>, and NAME=value with a secret's NAME
// too (a container that prints its environment). Main calls it once with none.
func (e *env) redact(secrets ...string) {
	for _, s := range secrets {
		if s != "" {
			e.secrets = append(e.secrets, s)
		}
	}
	if e.raw == nil {
		e.raw = &env{stdout: e.stdout, stderr: e.stderr}
	}
	e.stdout = report.NewRedactWriter(e.raw.stdout, e.secrets)
	e.stderr = report.NewRedactWriter(e.raw.stderr, e.secrets)
}

type command struct {
	name, args, short string
	run               func(ctx context.Context, e *env, args []string) error
	examples          []example // the simulator's first
}

// example is one example of a command's help: what it does and the command line.
type example struct{ what, cmd string }

func commands() []command {
	return []command{
		{"up-and-bench", "[flags]", "start ComfyUI in a container, wait until ready, benchmark, tear down, write the report", upAndBench, []example{
			{"the built-in simulator: Docker only, no GPU or models needed", "qwenlab up-and-bench --runs 10"},
			{"a real image on GPUs 0 and 1, models from the host, the report as JSON", "qwenlab up-and-bench --image IMAGE --models /srv/models --gpus device=0,1 --json | jq .warm.summary"},
			{"three cold starts, failing (exit 3) when the model load takes over 30 s", "qwenlab up-and-bench --image IMAGE --models /srv/models --cold-starts 3 --budget model_load=30s --fail-on-slow"},
		}},
		{"bench", "--url URL [flags]", "benchmark a ComfyUI server that is already running (no Docker)", bench, []example{
			{"against the simulator, started in another shell with 'qwenlab sim --port 8188'", "qwenlab bench --url http://127.0.0.1:8188 --runs 10"},
			{"a bigger image with fewer steps, seed 7 onwards", "qwenlab bench --url http://127.0.0.1:8188 --set width=1664 --set height=928 --set steps=20 --seed 7"},
		}},
		{"compare", compareArgs, "compare reports (or a folder's latest two): what differs, medians, significance; --threshold gates", compareCmd, []example{
			{"the last two reports of a folder, e.g. two simulator runs", "qwenlab compare reports/"},
			{"gate CI: exit 3 when warm e2e got significantly slower by over 5%", "qwenlab compare base.json new.json --threshold 'warm.e2e.median<+5%'"},
		}},
		{"cleanup", "[--dry-run] [--run ID] [--older-than DUR] [--force]", "remove what abandoned qwenlab runs left behind (containers, networks, volumes, placeholder model folders); live runs are left alone", cleanup, []example{
			{"see what earlier runs left behind, remove nothing", "qwenlab cleanup --dry-run"},
			{"remove what one run left", "qwenlab cleanup --run 3f2a9c01d4e5"},
		}},
		{"sim", "[flags]", "run the built-in ComfyUI simulator in the foreground (no GPU, no models needed)", sim, nil},
		{"gpu", "[--duration DUR] [--interval DUR] [--json]", "GPU inventory and a few seconds of NVML samples", gpuCmd, []example{
			{"what NVML sees, sampled for 3 s", "qwenlab gpu"},
			{"10 s at 100 ms as JSON", "qwenlab gpu --duration 10s --interval 100ms --json"},
		}},
		{"report", "REPORT.json|DIR/ [--format text|md|html]", "render a report, or the trend of a folder of reports, as text, Markdown or one HTML page", reportCmd, []example{
			{"a simulator run's report as one HTML page", "qwenlab report qwenlab-report.json --format html -o report.html"},
			{"the trend of a folder of nightly reports, as Markdown", "qwenlab report reports/ --format md"},
		}},
		{"scenarios", "", "list the scenarios, with the model files each needs", listScenarios, []example{
			{"which scenarios there are", "qwenlab scenarios"},
		}},
		{"completion", "bash|zsh|fish", "print a shell completion script", completion, []example{
			{"bash, for this shell", "source <(qwenlab completion bash)"},
			{"fish, for good", "qwenlab completion fish > ~/.config/fish/completions/qwenlab.fish"},
		}},
		{"help", "[COMMAND]", "show help for qwenlab or a command", helpCmd, []example{
			{"up-and-bench's flags and examples", "qwenlab help up-and-bench"},
		}},
		{"version", "", "print qwenlab's version (also --version)", version, nil},
	}
}

// Main runs qwenlab with args (without the program name) and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	// net/http writes its own complaints ("Unsolicited response received on idle HTTP
	// channel") through the standard logger: raw library lines are not for the user, and
	// what matters reaches them as an error. (The process-wide logger: Main owns the process.)
	log.SetOutput(io.Discard)
	e := &env{stdout: stdout, stderr: stderr}
	e.redact()
	switch {
	case len(args) == 0: // not asked for: stderr, and a usage error
		topHelp(stderr)
		return ExitUsage
	case args[0] == "-h" || args[0] == "--help":
		topHelp(stdout)
		return ExitOK
	case args[0] == "--version":
		args[0] = "version"
	}
	c, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "qwenlab: unknown command %q\nRun 'qwenlab help' for the list of commands.\n", args[0])
		return ExitUsage
	}
	cmd := &c

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigC := make(chan os.Signal, 2)
	signal.Notify(sigC, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigC)
	go func() {
		if _, ok := <-sigC; !ok {
			return
		}
		if cmd.name != "sim" { // the simulator just stops, like a server
			e.note("qwenlab: interrupted: stopping the measurement and tearing down (again to exit at once)")
		}
		cancel(errInterrupted)
		if _, ok := <-sigC; ok {
			e.stopDisplay()
			fmt.Fprintln(stderr, "qwenlab: exiting at once; find what was left with 'qwenlab cleanup --dry-run'")
			os.Exit(ExitInterrupted)
		}
	}()

	err := cmd.run(ctx, e, args[1:])
	return exitCode(ctx, e.stderr, err)
}

func exitCode(ctx context.Context, stderr io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, pflag.ErrHelp) {
		return ExitOK
	}
	fmt.Fprintf(stderr, "qwenlab: %v\n", err)
	var ue *usageError
	switch {
	case errors.As(err, &ue), errors.Is(err, lab.ErrUsage):
		return ExitUsage
	case errors.Is(context.Cause(ctx), errInterrupted):
		return ExitInterrupted
	case errors.Is(err, errThreshold):
		return ExitThreshold
	case errors.Is(err, errNothingValid):
		return ExitNothingValid
	}
	return ExitError
}

var (
	errThreshold    = errors.New("threshold")
	errNothingValid = errors.New("ran, but measured nothing valid")
)

// newFlagSet makes a GNU-style flag set whose errors become usage errors.
func newFlagSet(e *env, name, args string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.SortFlags = false
	fs.Usage = func() { // pflag calls it for --help only (ContinueOnError): asked for, so stdout
		cmd, ok := lookup(name)
		if !ok {
			cmd = command{name: name, args: args}
		}
		commandHelp(e.stdout, cmd, fs)
	}
	e.flags = fs
	return fs
}

var tooLarge = regexp.MustCompile(`^invalid argument "(-?\+?[0-9]{10,})" for "(--[a-z-]+)" flag: must be an? (?:non-negative )?integer`)

func parse(fs *pflag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		return err
	}
	if err != nil {
		// pflag says "must be an integer" also for a number too large for the flag.
		if m := tooLarge.FindStringSubmatch(err.Error()); m != nil {
			return usagef("%s %s: too large a number for this flag (see 'qwenlab %s --help')", m[2], m[1], fs.Name())
		}
		return usagef("%s: %v (see 'qwenlab %s --help')", fs.Name(), err, fs.Name())
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q (see 'qwenlab %s --help')", fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}

func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func toolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 && (v == "" || v == "(devel)") {
				v = "devel-" + shortid.Of(s.Value)
			}
		}
		if v != "" {
			return v
		}
	}
	return "devel"
}

func version(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "qwenlab %s\n", toolVersion())
	return nil
}

func oneOf(flag, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return usagef("--%s %q: must be one of %s", flag, v, strings.Join(allowed, ", "))
}
