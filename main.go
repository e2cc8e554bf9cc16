// Command qwenlab benchmarks ComfyUI + Qwen-Image in containers: cold start, warm runs, GPU,
// logs, one JSON report. See README.md.
package main

import (
	"os"

	"github.com/qwenlab/qwenlab/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
