package cli_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/qwenlab/qwenlab/cli"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/help")

// run runs qwenlab in this process and returns its exit code, stdout and stderr.
func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cli.Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestHelpGolden: each command's help (purpose, usage, examples, grouped flags) as the
// golden files in testdata/help hold it, within 80 columns; -update rewrites them.
func TestHelpGolden(t *testing.T) {
	cases := map[string][]string{
		"qwenlab":      {"--help"},
		"up-and-bench": {"help", "up-and-bench"},
		"bench":        {"help", "bench"},
		"cleanup":      {"help", "cleanup"},
		"gpu":          {"help", "gpu"},
		"scenarios":    {"scenarios"},
		"completion":   {"help", "completion"},
		"compare":      {"help", "compare"},
	}
	for name, args := range cases {
		code, out, errOut := run(args...)
		if code != 0 || errOut != "" {
			t.Errorf("%s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
		}
		for i, l := range strings.Split(out, "\n") {
			if n := utf8.RuneCountInString(l); n > 80 {
				t.Errorf("%s: line %d is %d columns: %q", name, i+1, n, l)
			}
		}
		golden := filepath.Join("testdata", "help", name+".golden")
		if *update {
			if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test -run TestHelpGolden -update writes it)", err)
		}
		if out != string(want) {
			t.Errorf("%s help differs from %s:\n%s", name, golden, out)
		}
	}
}

// TestHelpSameEveryWay: 'qwenlab help X' and 'qwenlab X --help' say the same, on stdout.
func TestHelpSameEveryWay(t *testing.T) {
	for _, name := range []string{"up-and-bench", "bench", "compare", "cleanup", "gpu", "sim", "version", "scenarios", "completion"} {
		c1, a, e1 := run("help", name)
		c2, b, e2 := run(name, "--help")
		if c1 != 0 || c2 != 0 || e1 != "" || e2 != "" {
			t.Errorf("%s: exits %d/%d, stderr %q/%q", name, c1, c2, e1, e2)
		}
		if a != b || !strings.HasPrefix(a, "qwenlab "+name+": ") {
			t.Errorf("%s: 'help %s' says\n%s\n'%s --help' says\n%s", name, name, a, name, b)
		}
	}
}

// TestCommandLineConventions: usage on stderr when not asked for, help on stdout when
// asked for, both version spellings.
func TestCommandLineConventions(t *testing.T) {
	code, out, errOut := run()
	if code != 2 || out != "" || !strings.Contains(errOut, "Usage:") {
		t.Errorf("bare qwenlab: exit %d, stdout %q, stderr %q; want 2, nothing, the usage", code, out, errOut)
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, errOut = run(args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Commands:") {
			t.Errorf("%q: exit %d, stderr %q, stdout %q", args, code, errOut, out)
		}
	}
	_, v1, _ := run("version")
	code, v2, _ := run("--version")
	if code != 0 || v1 != v2 || !strings.HasPrefix(v1, "qwenlab ") {
		t.Errorf("version %q, --version %q (exit %d)", v1, v2, code)
	}
	code, _, errOut = run("help", "no-such-command")
	if code != 2 || !strings.Contains(errOut, "'qwenlab help' lists them") {
		t.Errorf("help of an unknown command: exit %d, %q", code, errOut)
	}
	code, _, errOut = run("frobnicate")
	if code != 2 || !strings.HasSuffix(errOut, "Run 'qwenlab help' for the list of commands.\n") {
		t.Errorf("unknown command: exit %d, %q: the message should end with the next step", code, errOut)
	}
}

// TestBashCompletion drives the generated completion in a real bash.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	_, script, _ := run("completion", "bash")
	f := filepath.Join(t.TempDir(), "qwenlab.bash")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(line string) []string {
		t.Helper()
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := "source " + f + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" +
			string(rune('0'+len(words)-1)) + "\n_qwenlab\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	has := func(line string, want ...string) {
		t.Helper()
		got := complete(line)
		for _, w := range want {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				t.Errorf("completing %q: %q lacks %q", line, got, w)
			}
		}
	}
	has("qwenlab up", "up-and-bench")
	has("qwenlab ", "up-and-bench", "bench", "scenarios", "completion", "--version")
	has("qwenlab up-and-bench --sc", "--scenario")
	has("qwenlab up-and-bench --scenario ", "qwen-image-t2i", "seed-plan")
	has("qwenlab up-and-bench --gpus ", "all", "none", "device=0,1", "cdi:nvidia.com/gpu=all")
	has("qwenlab up-and-bench --gpus dev", "device=0", "device=0,1")
	has("qwenlab up-and-bench --pull ", "missing", "always", "never")
	has("qwenlab bench --metric ", "e2e", "server")
	has("qwenlab completion ", "bash", "zsh", "fish")
	has("qwenlab help ", "up-and-bench", "bench")
	if got := complete("qwenlab bench --gpus "); len(got) > 0 && got[0] == "all" {
		t.Errorf("bench has no --gpus, yet completion offers %q", got)
	}
}

// TestCompletionScripts: zsh and fish get scripts naming the commands and scenarios.
func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"zsh", "fish"} {
		code, out, errOut := run("completion", sh)
		if code != 0 || errOut != "" || !strings.Contains(out, "up-and-bench") || !strings.Contains(out, "qwen-image-t2i") || !strings.Contains(out, "device=0,1") {
			t.Errorf("%s: exit %d, stderr %q, script:\n%s", sh, code, errOut, out)
		}
	}
	if code, _, errOut := run("completion", "tcsh"); code != 2 || !strings.Contains(errOut, "bash, zsh or fish") {
		t.Errorf("completion tcsh: exit %d, %q", code, errOut)
	}
	if code, _, _ := run("completion"); code != 2 {
		t.Errorf("completion without a shell: exit %d", code)
	}
}
