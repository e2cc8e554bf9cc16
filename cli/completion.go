package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/qwenlab/qwenlab/comfysim"
	"github.com/qwenlab/qwenlab/scenarios"
)

// gpuForms are the --gpus values completion offers: Docker's forms with examples.
var gpuForms = []string{"all", "none", "1", "2", "count=all", "device=0", "device=0,1", "device=GPU-", "cdi:nvidia.com/gpu=all"}

// completion is `qwenlab completion bash|zsh|fish`: a script generated from the commands'
// own flag sets, the scenario names and the --gpus forms, so it never falls behind them.
func completion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "completion", "bash|zsh|fish")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usagef("completion: %v (see 'qwenlab completion --help')", err)
	}
	if fs.NArg() != 1 {
		return usagef("completion: name the shell: bash, zsh or fish, e.g. 'source <(qwenlab completion bash)'")
	}
	m := completionModel()
	switch fs.Arg(0) {
	case "bash":
		bashCompletion(e.stdout, m)
	case "zsh":
		fmt.Fprint(e.stdout, "#compdef qwenlab\n# qwenlab completion for zsh: the bash completion through zsh's bashcompinit.\nautoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n")
		bashCompletion(e.stdout, m)
	case "fish":
		fishCompletion(e.stdout, m)
	default:
		return usagef("completion %q: bash, zsh or fish", fs.Arg(0))
	}
	return nil
}

// compFlag is one flag as completion knows it.
type compFlag struct {
	name, short, usage string
	bool               bool
	values             []string
	file               bool
}

type compCommand struct {
	name, short string
	flags       []compFlag
}

func completionModel() []compCommand {
	var out []compCommand
	for _, c := range commands() {
		cc := compCommand{name: c.name, short: c.short}
		fs := commandFlags(c)
		if c.name == "sim" {
			fs = simFlags()
		}
		if fs != nil {
			fs.VisitAll(func(f *pflag.Flag) {
				if f.Hidden {
					return
				}
				cf := compFlag{name: f.Name, short: f.Shorthand, usage: firstSentence(f.Usage), bool: f.Value.Type() == "bool", values: f.Annotations[annValues], file: len(f.Annotations[annFile]) > 0}
				switch f.Name {
				case "scenario":
					for _, s := range scenarios.List() {
						cf.values = append(cf.values, s.Name)
					}
				case "gpus":
					cf.values = gpuForms
				}
				cc.flags = append(cc.flags, cf)
			})
		}
		if c.name == "completion" {
			cc.flags = append(cc.flags, compFlag{name: "", values: []string{"bash", "zsh", "fish"}})
		}
		out = append(out, cc)
	}
	return out
}

// simFlags is the simulator's flag set (it parses its own flags).
func simFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("sim", pflag.ContinueOnError)
	var h strings.Builder
	_ = comfysim.Command(context.Background(), []string{"--help"}, &h, io.Discard)
	// Flags are read back from the help text: "  --name TYPE   usage".
	for _, l := range strings.Split(h.String(), "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "--") {
			continue
		}
		name, rest, _ := strings.Cut(strings.TrimPrefix(l, "--"), " ")
		if fs.Lookup(name) == nil {
			if strings.HasPrefix(strings.TrimSpace(rest), "string") || strings.HasPrefix(strings.TrimSpace(rest), "int") || strings.HasPrefix(strings.TrimSpace(rest), "duration") || strings.HasPrefix(strings.TrimSpace(rest), "float") || strings.HasPrefix(strings.TrimSpace(rest), "stringArray") {
				fs.String(name, "", strings.TrimSpace(rest))
			} else {
				fs.Bool(name, false, strings.TrimSpace(rest))
			}
		}
	}
	values(fs, "profile", "instant", "default", "conformance")
	files(fs, "models", "output-directory")
	return fs
}

// firstSentence is a flag's usage up to its first colon, semicolon or period, for fish.
func firstSentence(s string) string {
	if i := strings.IndexAny(s, ";:("); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func bashCompletion(w io.Writer, cmds []compCommand) {
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	fmt.Fprintf(w, `# qwenlab completion for bash: source <(qwenlab completion bash)
_qwenlab() {
    local cur prev cmd
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev=""
    [ "$COMP_CWORD" -gt 0 ] && prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [ "$COMP_CWORD" -le 1 ]; then
        COMPREPLY=($(compgen -W "%s --help --version" -- "$cur"))
        return
    fi
    cmd="${COMP_WORDS[1]}"
    # --flag=value: complete the value
    if [[ "$cur" == --*=* ]]; then
        prev="${cur%%%%=*}"
        cur="${cur#*=}"
    fi
    case "$cmd:$prev" in
`, strings.Join(names, " "))
	for _, c := range cmds {
		for _, f := range c.flags {
			if f.name == "" || f.bool || (len(f.values) == 0 && !f.file) {
				continue
			}
			pat := c.name + ":--" + f.name
			if f.short != "" {
				pat += "|" + c.name + ":-" + f.short
			}
			if f.file {
				fmt.Fprintf(w, "        %s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", pat)
				continue
			}
			fmt.Fprintf(w, "        %s) COMPREPLY=($(compgen -W %s -- \"$cur\")); return ;;\n", pat, shellQuote(strings.Join(f.values, " ")))
		}
	}
	fmt.Fprint(w, "    esac\n    case \"$cmd\" in\n")
	for _, c := range cmds {
		var words []string
		for _, f := range c.flags {
			if f.name == "" {
				words = append(words, f.values...)
				continue
			}
			words = append(words, "--"+f.name)
		}
		if c.name == "help" {
			words = append(words, names...)
		}
		if !slices.Contains(words, "--help") && c.name != "help" {
			words = append(words, "--help")
		}
		fmt.Fprintf(w, "        %s) COMPREPLY=($(compgen -W %s -- \"$cur\")) ;;\n", c.name, shellQuote(strings.Join(words, " ")))
	}
	fmt.Fprint(w, "    esac\n}\ncomplete -F _qwenlab qwenlab\n")
}

func fishCompletion(w io.Writer, cmds []compCommand) {
	fmt.Fprintln(w, "# qwenlab completion for fish: qwenlab completion fish > ~/.config/fish/completions/qwenlab.fish")
	fmt.Fprintln(w, "complete -c qwenlab -f")
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "complete -c qwenlab -n '__fish_use_subcommand' -a %s -d %s\n", c.name, shellQuote(firstSentence(c.short)))
	}
	fmt.Fprintln(w, "complete -c qwenlab -n '__fish_use_subcommand' -l version -d 'print the version'")
	for _, c := range cmds {
		cond := "'__fish_seen_subcommand_from " + c.name + "'"
		if c.name == "help" {
			fmt.Fprintf(w, "complete -c qwenlab -n %s -a %s\n", cond, shellQuote(strings.Join(names, " ")))
		}
		for _, f := range c.flags {
			if f.name == "" {
				fmt.Fprintf(w, "complete -c qwenlab -n %s -a %s\n", cond, shellQuote(strings.Join(f.values, " ")))
				continue
			}
			line := fmt.Sprintf("complete -c qwenlab -n %s -l %s", cond, f.name)
			if f.short != "" {
				line += " -s " + f.short
			}
			switch {
			case len(f.values) > 0:
				line += " -x -a " + shellQuote(strings.Join(f.values, " "))
			case f.file:
				line += " -r -F"
			case !f.bool:
				line += " -x"
			}
			fmt.Fprintf(w, "%s -d %s\n", line, shellQuote(f.usage))
		}
	}
}

// shellQuote quotes s for sh and fish alike (single quotes; ' itself becomes '\”).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
