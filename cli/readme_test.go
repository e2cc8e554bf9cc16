package cli_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/qwenlab/qwenlab/cli"
)

// readmeCommands returns the first code block's lines, and the qwenlab command lines in
// README.md's shell blocks (```sh), with continuation lines joined and trailing comments cut.
func readmeCommands(t *testing.T) (setup []string, cmds [][]string) {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inBlock, shell, first := false, false, true
	var cont string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			if inBlock {
				first = false
			}
			inBlock = !inBlock
			shell = inBlock && strings.TrimPrefix(line, "```") == "sh"
			continue
		}
		if !inBlock {
			continue
		}
		if first {
			setup = append(setup, line)
		}
		if !shell {
			continue
		}
		line = cont + strings.TrimSpace(line)
		cont = ""
		if strings.HasSuffix(line, "\\") {
			cont = strings.TrimSuffix(line, "\\") + " "
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) > 1 && (f[0] == "qwenlab" || f[0] == "./qwenlab") {
			cmds = append(cmds, f[1:])
		}
	}
	return setup, cmds
}

// TestReadmeSetupCommands keeps the README's first block true: the main job on the simulator
// and the test command, which .ci/run must call.
func TestReadmeSetupCommands(t *testing.T) {
	setup, _ := readmeCommands(t)
	text := strings.Join(setup, "\n")
	for _, want := range []string{"go run . up-and-bench", "go test ./..."} {
		if !strings.Contains(text, want) {
			t.Errorf("README's first code block lacks %q:\n%s", want, text)
		}
	}
	ci, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "\ngo test ./...\n") {
		t.Error(".ci/run does not call the README's test command `go test ./...`")
	}
}

// TestReadmeExamplesParse runs every qwenlab command line of the README with --help appended:
// each flag it uses must exist and its value must parse.
func TestReadmeExamplesParse(t *testing.T) {
	_, cmds := readmeCommands(t)
	if len(cmds) < 8 {
		t.Fatalf("found only %d qwenlab command lines in README.md", len(cmds))
	}
	for _, args := range cmds {
		var out, errb bytes.Buffer
		if code := cli.Main(append(append([]string(nil), args...), "--help"), &out, &errb); code != 0 {
			t.Errorf("qwenlab %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
	}
}
