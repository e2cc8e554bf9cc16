package cli

import (
	"context"

	"github.com/qwenlab/qwenlab/docker"
)

func runFleet(ctx context.Context, e *env, f *runFlags, eps []docker.Endpoint) error {
	return usagef("several engines: not yet")
}
