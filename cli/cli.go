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
	"syscall"

	"github.com/spf13/pflag"

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
	secrets        []string
	raw            *env // the writers before redaction
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
}

func commands() []command {
	return []command{
		{"up-and-bench", "[flags]", "start ComfyUI in a container, wait until ready, benchmark, tear down, write the report", upAndBench},
		{"bench", "--url URL [flags]", "benchmark a ComfyUI server that is already running (no Docker)", bench},
		{"compare", compareArgs, "compare reports (or a folder's latest two): what differs, medians, significance; --threshold gates", compareCmd},
		{"cleanup", "[--dry-run] [--run ID] [--older-than DUR] [--force]", "remove what abandoned qwenlab runs left behind (containers, networks, volumes, placeholder model folders); live runs are left alone", cleanup},
		{"sim", "[--listen ADDR] [--port N] [--models DIR] [--profile NAME]", "run the built-in ComfyUI simulator in the foreground", sim},
		{"gpu", "[--duration DUR] [--interval DUR] [--json]", "GPU inventory and a few seconds of NVML samples", gpuCmd},
		{"report", "REPORT.json|DIR/ [--format text|md|html]", "render a report, or the trend of a folder of reports, as text, Markdown or one HTML page", reportCmd},
		{"scenarios", "", "list the embedded scenarios", listScenarios},
		{"version", "", "print qwenlab's version", version},
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
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "qwenlab: unknown command %q; run 'qwenlab help' for the list\n", args[0])
		return ExitUsage
	}

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
			fmt.Fprintln(stderr, "qwenlab: interrupted: stopping the measurement and tearing down (again to exit at once)")
		}
		cancel(errInterrupted)
		if _, ok := <-sigC; ok {
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

func usage(w io.Writer) {
	fmt.Fprintln(w, "qwenlab: a lab tool for ComfyUI + Qwen-Image on GPU boxes")
	fmt.Fprintln(w, "\nUsage:  qwenlab COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w, "\nRun 'qwenlab COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 error, 2 usage, 3 slow step or threshold failed,\n            4 ran but measured nothing valid, 130 interrupted.")
}

// newFlagSet makes a GNU-style flag set whose errors become usage errors.
func newFlagSet(e *env, name, args string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.SortFlags = false
	fs.Usage = func() { // pflag calls it for --help only (ContinueOnError): asked for, so stdout
		fmt.Fprintf(e.stdout, "Usage: qwenlab %s %s\n\nFlags:\n%s", name, args, fs.FlagUsages())
	}
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
				v = "devel-" + s.Value[:12]
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
