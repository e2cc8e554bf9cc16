package cli

import (
	"cmp"
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/qwenlab/qwenlab/cli/live"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/lab"
	"github.com/qwenlab/qwenlab/report"
)

// engineFlags are up-and-bench's --host and --context: which Docker Engines to run on.
type engineFlags struct {
	hosts    []string
	contexts []string
}

func (f *engineFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.hosts, "host", nil, "Docker Engine to run on: unix:///PATH, tcp://HOST:PORT (TLS from DOCKER_CERT_PATH/DOCKER_TLS_VERIFY) or ssh://[USER@]HOST[:PORT]; repeatable: several run in parallel (default: DOCKER_HOST, else the current docker context)")
	fs.StringArrayVar(&f.contexts, "context", nil, "Docker CLI context to run on (see `docker context ls`); repeatable")
}

// endpoints resolves the flags (else DOCKER_HOST, else the docker CLI's current context)
// into the engines to run on.
func (f *engineFlags) endpoints() ([]docker.Endpoint, error) {
	ssh := docker.SSHArgsFromEnv()
	var eps []docker.Endpoint
	for _, h := range f.hosts {
		ep, err := docker.ParseEndpoint(h, ssh)
		if err != nil {
			return nil, usagef("--host: %v", err)
		}
		eps = append(eps, ep)
	}
	dir := docker.ConfigDir()
	for _, name := range f.contexts {
		ep, err := docker.ContextEndpoint(dir, name, ssh)
		if err != nil {
			return nil, usagef("--context: %v", err)
		}
		eps = append(eps, ep)
	}
	if len(eps) > 0 {
		seen := map[string]bool{}
		for _, ep := range eps {
			key := cmp.Or(ep.Host, ep.Name)
			if seen[key] {
				return nil, usagef("engine %s given twice", key)
			}
			seen[key] = true
		}
		return eps, nil
	}
	if os.Getenv("DOCKER_HOST") != "" {
		return []docker.Endpoint{{Name: os.Getenv("DOCKER_HOST"), SSHArgs: ssh}}, nil
	}
	if name := docker.CurrentContext(dir); name != "default" {
		ep, err := docker.ContextEndpoint(dir, name, ssh)
		if err != nil {
			return nil, err
		}
		return []docker.Endpoint{ep}, nil
	}
	return []docker.Endpoint{{Name: "local", SSHArgs: ssh}}, nil
}

// engineDeps wires one engine into a run's adapters; its progress goes to d, each event
// labelled (with the engine's name in a fleet) when label is set.
func engineDeps(dc *docker.Client, c *lab.Config, d *live.Display, label string) lab.Deps {
	progress := d.Event
	if label != "" {
		progress = func(ev lab.Event) {
			if ev.Image == "" {
				ev.Image = label
			}
			d.Event(ev)
		}
	}
	return lab.Deps{
		Engine:   dc,
		Dial:     dialer(c, d),
		Progress: progress,
		SimImage: func(ctx context.Context) (string, error) {
			exe, err := os.Executable()
			if err != nil {
				return "", fmt.Errorf("find qwenlab's own executable: %w", err)
			}
			// QWENLAB_SIM_REPO names the repository of the simulator images (default
			// qwenlab-sim): tests keep theirs apart from a user's cached image.
			return dc.SimImageIn(ctx, cmp.Or(os.Getenv("QWENLAB_SIM_REPO"), docker.SimRepo), exe, d.Writer())
		},
	}
}

// runOn runs up-and-bench on one engine: on a remote one, ComfyUI and the measuring
// container both run there, and the GPUs watched are never this machine's. Several entries
// make a matrix, there as here.
func runOn(ctx context.Context, c lab.Config, entries []lab.MatrixEntry, ep docker.Endpoint, d *live.Display, label string) (*report.Report, error) {
	dc, err := docker.NewAt(ctx, ep)
	if err != nil { // a report for this failure too: what was asked, the error, nothing measured
		return lab.Refused(c, lab.Deps{GPUReason: "the run did not start"}, "connect", err), err
	}
	defer dc.Close()
	deps := engineDeps(dc, &c, d, label)
	run := lab.UpAndBench
	if dc.Remote() {
		deps.GPUReason = "remote host"
		run = lab.UpAndBenchRemote
	} else {
		closeGPU := attachGPU(&deps)
		defer closeGPU()
	}
	if len(entries) > 1 {
		return lab.Matrix(ctx, c, entries, deps, run)
	}
	return run(ctx, c, deps)
}
