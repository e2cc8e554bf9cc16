package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/spf13/pflag"
)

// flagGroup is the heading a flag is listed under in --help. A flag's group is recorded where
// the flag is defined (see [group]); a flag defined outside any group is listed under
// "Other flags", so a new flag always shows.
type flagGroup string

const (
	groupTarget   flagGroup = "Target"   // what is benchmarked: image, URL, GPUs, ports
	groupWorkload flagGroup = "Workload" // what is sent: scenario, parameters, runs
	groupTiming   flagGroup = "Timing"   // timeouts, intervals, budgets
	groupOutput   flagGroup = "Output"   // the report, the summary, progress
	groupSafety   flagGroup = "Safety"   // what is exposed, kept or evicted
	groupOther    flagGroup = "Other"
)

// groupOrder is the order groups are listed in.
var groupOrder = []flagGroup{groupTarget, groupWorkload, groupTiming, groupOutput, groupSafety, groupOther}

// Annotation keys on pflag flags.
const (
	annGroup  = "qwenlab/group"
	annValues = "qwenlab/values" // values completion offers
	annFile   = "qwenlab/file"   // the value is a file or folder name
)

// group runs define, which defines flags on fs, and files every flag it defined under g.
func group(fs *pflag.FlagSet, g flagGroup, define func()) {
	before := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { before[f.Name] = true })
	define()
	fs.VisitAll(func(f *pflag.Flag) {
		if !before[f.Name] {
			_ = fs.SetAnnotation(f.Name, annGroup, []string{string(g)})
		}
	})
}

// values records the values shell completion offers for a flag.
func values(fs *pflag.FlagSet, name string, vals ...string) {
	_ = fs.SetAnnotation(name, annValues, vals)
}

// files marks flags whose value is a path, for shell completion.
func files(fs *pflag.FlagSet, names ...string) {
	for _, n := range names {
		_ = fs.SetAnnotation(n, annFile, []string{"1"})
	}
}

func flagGroupOf(f *pflag.Flag) flagGroup {
	if g := f.Annotations[annGroup]; len(g) > 0 {
		return flagGroup(g[0])
	}
	return groupOther
}

// helpWidth is the width help texts are wrapped to.
const helpWidth = 80

// commandHelp writes cmd's help: purpose, usage, examples, flags by group.
func commandHelp(w io.Writer, cmd command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  qwenlab %s %s\n", wrapWords("qwenlab "+cmd.name+": "+cmd.short, helpWidth, "  ", 0), cmd.name, cmd.args)
	if len(cmd.examples) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, ex := range cmd.examples {
			fmt.Fprintf(w, "  # %s\n  %s\n", wrapWords(ex.what, helpWidth, "  # ", 4), wrapCommand(ex.cmd))
		}
	}
	if fs == nil || !fs.HasFlags() {
		return
	}
	byGroup := map[flagGroup][]*pflag.Flag{}
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			byGroup[flagGroupOf(f)] = append(byGroup[flagGroupOf(f)], f)
		}
	})
	for _, g := range groupOrder {
		flags := byGroup[g]
		if len(flags) == 0 {
			continue
		}
		title := string(g) + " flags"
		if len(byGroup) == 1 {
			title = "Flags"
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, f := range flags {
			left, usage := flagLine(f)
			if len(left) > helpColumn-2 {
				fmt.Fprintf(w, "%s\n%s", left, strings.Repeat(" ", helpColumn))
			} else {
				fmt.Fprintf(w, "%-*s", helpColumn, left)
			}
			fmt.Fprintf(w, "%s\n", wrapWords(usage, helpWidth, strings.Repeat(" ", helpColumn), helpColumn))
		}
	}
}

// helpColumn is where flag descriptions start.
const helpColumn = 28

// flagLine is a flag's "  -o, --out FILE" and its description with the default.
func flagLine(f *pflag.Flag) (left, usage string) {
	left = "      --" + f.Name
	if f.Shorthand != "" {
		left = "  -" + f.Shorthand + ", --" + f.Name
	}
	usage = f.Usage
	if f.Value.Type() != "bool" {
		left += " " + valueName(f)
	}
	switch def := f.DefValue; {
	case def == "" || def == "[]" || def == "0" || def == "false" || def == "0s":
	case f.Value.Type() == "string":
		usage += fmt.Sprintf(" (default %q)", def)
	default:
		usage += " (default " + def + ")"
	}
	return left, usage
}

// valueName is what a flag's value is called in help: the first capitalised word of its
// usage (IMAGE, FILE, NAME=VALUE), else a name for its type.
func valueName(f *pflag.Flag) string {
	for _, w := range strings.Fields(f.Usage) {
		w = strings.Trim(w, ".,;:()")
		if len(w) >= 2 && strings.ToUpper(w) == w && strings.ToLower(w) != w && !strings.HasPrefix(w, "*") && !strings.ContainsAny(w, "|_") {
			return w
		}
	}
	switch f.Value.Type() {
	case "duration":
		return "DUR"
	case "int", "uint", "uint64", "int64":
		return "N"
	case "float64":
		return "X"
	}
	return "VALUE"
}

// topHelp is `qwenlab --help`.
func topHelp(w io.Writer) {
	fmt.Fprint(w, `qwenlab: how fast ComfyUI + Qwen-Image starts cold and runs warm on a GPU box

Usage:
  qwenlab COMMAND [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, wrapWords(c.short, helpWidth, strings.Repeat(" ", 16), 16))
	}
	fmt.Fprint(w, `
Examples:
  # try it now: the built-in ComfyUI simulator in Docker, no GPU or models
  qwenlab up-and-bench
  # a real ComfyUI image on this box's GPUs, 10 measured runs
  qwenlab up-and-bench --image IMAGE --models /srv/models --runs 10
  # a ComfyUI that already runs (no Docker)
  qwenlab bench --url http://127.0.0.1:8188

Run 'qwenlab help COMMAND' for a command's flags and examples.
Progress goes to stderr and the result to stdout, so
'qwenlab up-and-bench --json | jq .' works as it is.
Exit codes: 0 ok, 1 error, 2 usage, 3 slow step or threshold failed,
4 ran but measured nothing valid, 130 interrupted.
`)
}

// commandFlags returns cmd's flag set as its run defines it, without running it: given a
// flag no command has, the run stops at parse, before it does anything; newFlagSet has
// kept the set in env.flags by then.
func commandFlags(cmd command) *pflag.FlagSet {
	e := &env{stdout: io.Discard, stderr: io.Discard}
	_ = cmd.run(context.Background(), e, []string{"--qwenlab-introspect-no-such-flag"})
	return e.flags
}

// helpCmd is `qwenlab help [COMMAND]`.
func helpCmd(_ context.Context, e *env, args []string) error {
	if len(args) == 0 {
		topHelp(e.stdout)
		return nil
	}
	if len(args) > 1 {
		return usagef("help: one command at a time, e.g. 'qwenlab help up-and-bench'")
	}
	cmd, ok := lookup(args[0])
	if !ok {
		return usagef("help: unknown command %q; 'qwenlab help' lists them", args[0])
	}
	if cmd.name == "sim" { // the simulator's flags are its own
		return cmd.run(context.Background(), e, []string{"--help"})
	}
	commandHelp(e.stdout, cmd, commandFlags(cmd))
	return nil
}

// lookup finds a command by name.
func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// wrapCommand breaks a long example command line with backslashes, as a shell takes it.
func wrapCommand(s string) string {
	return wrapWith(s, helpWidth-2, " \\", "      ", 2)
}

// wrapWords wraps s, which starts at column col, to width columns, continuing lines with
// indent.
func wrapWords(s string, width int, indent string, col int) string {
	return wrapWith(s, width, "", indent, col)
}

// wrapWith wraps s, which starts at column col, to width columns: a line that breaks ends
// with brk and the next begins with indent.
func wrapWith(s string, width int, brk, indent string, col int) string {
	var b strings.Builder
	for i, word := range strings.Fields(s) {
		if i > 0 {
			if col+1+utf8.RuneCountInString(word) > width {
				b.WriteString(brk + "\n" + indent)
				col = len(indent)
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(word)
		col += utf8.RuneCountInString(word)
	}
	return b.String()
}
