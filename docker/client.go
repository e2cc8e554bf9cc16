package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// LabelRun is the label every container, network and volume that qwenlab
// creates carries, with the run id as its value.
const LabelRun = "qwenlab.run"

// LabelOwner names the qwenlab process that made a resource (see package liveness), so
// `qwenlab cleanup` can tell a live run from an abandoned one.
const LabelOwner = "qwenlab.owner"

// LabelSim marks the simulator image built by [Client.SimImage].
const LabelSim = "qwenlab.sim"

// Client talks to one Docker daemon. It is safe for concurrent use.
type Client struct {
	cli        *client.Client
	apiVersion string // the daemon's API version, from the ping
	simRepo    string // SimRepo unless a test isolates its images
	name       string // what reports call the engine (NewAt)
	remote     bool   // tcp:// or ssh://: host paths and published ports are not this machine's
	// simGrace is how long a simulator image stays after it was built or last reused, even
	// when nothing uses it: another qwenlab may be between building it and creating its
	// container (0: the default, an hour).
	simGrace time.Duration
}

// New connects to the daemon named by the environment (DOCKER_HOST and
// friends, else /var/run/docker.sock) and pings it. If no daemon answers
// the error wraps [ErrUnreachable] and says what to check.
func New(ctx context.Context) (*Client, error) {
	if h := os.Getenv(client.EnvOverrideHost); strings.HasPrefix(h, "ssh://") {
		ep, err := ParseEndpoint(h, SSHArgsFromEnv())
		if err != nil {
			return nil, fmt.Errorf("DOCKER_HOST: %w", err)
		}
		return NewAt(ctx, ep)
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ping, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		host := cli.DaemonHost()
		cli.Close()
		return nil, unreachable(host, err)
	}
	return &Client{cli: cli, apiVersion: ping.APIVersion, remote: Endpoint{}.Remote()}, nil
}

func unreachable(host string, err error) error {
	env := os.Getenv("DOCKER_HOST")
	if env == "" {
		env = "(unset)"
	}
	hint := fmt.Sprintf("is the Docker daemon running? DOCKER_HOST=%s, daemon %s", env, host)
	if sock, ok := strings.CutPrefix(host, "unix://"); ok {
		// Say what is wrong with the socket itself: missing, or not ours to open.
		switch _, serr := os.Stat(sock); {
		case errors.Is(serr, os.ErrNotExist):
			hint += fmt.Sprintf(" (%s does not exist: no daemon is listening there)", sock)
		case errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "permission denied"):
			hint += fmt.Sprintf(", permission on %s? (is your user in the docker group?)", sock)
		}
	}
	return fmt.Errorf("%w: %s: %v", ErrUnreachable, hint, err)
}

// Close releases the client's connections.
func (c *Client) Close() error { return c.cli.Close() }

// Info describes the daemon.
type Info struct {
	ServerVersion  string
	APIVersion     string
	OS             string
	Kernel         string
	DefaultRuntime string
	Runtimes       []string // sorted runtime names
	CDISpecDirs    []string // empty before API 1.44 or with CDI disabled
	CDIDevices     []string // CDI device names the daemon discovered (API >= 1.50)
	// NVIDIAHint is a human hint about GPU support, never a promise: only
	// starting a container proves it.
	NVIDIAHint string
	NCPU       int
	MemTotal   int64  // bytes
	Name       string // the engine host's name
	Arch       string // the engine host's architecture (x86_64, aarch64)
}

// Info asks the daemon about itself.
func (c *Client) Info(ctx context.Context) (Info, error) {
	res, err := c.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return Info{}, fmt.Errorf("docker info: %w", c.engineErr(err))
	}
	si := res.Info
	in := Info{
		ServerVersion:  si.ServerVersion,
		APIVersion:     c.apiVersion,
		OS:             si.OperatingSystem,
		Kernel:         si.KernelVersion,
		DefaultRuntime: si.DefaultRuntime,
		CDISpecDirs:    si.CDISpecDirs,
		NCPU:           si.NCPU,
		MemTotal:       si.MemTotal,
		Name:           si.Name,
		Arch:           si.Architecture,
	}
	for name := range si.Runtimes {
		in.Runtimes = append(in.Runtimes, name)
	}
	slices.Sort(in.Runtimes)
	for _, d := range si.DiscoveredDevices {
		if d.Source == "cdi" {
			in.CDIDevices = append(in.CDIDevices, d.ID)
		}
	}
	in.NVIDIAHint = nvidiaHint(in)
	return in, nil
}

func nvidiaHint(in Info) string {
	var parts []string
	if slices.Contains(in.Runtimes, "nvidia") {
		parts = append(parts, "nvidia runtime registered")
	}
	n := 0
	for _, d := range in.CDIDevices {
		if strings.HasPrefix(d, "nvidia.com/") {
			n++
		}
	}
	if n > 0 {
		parts = append(parts, fmt.Sprintf("%d nvidia CDI device(s) advertised", n))
	}
	if len(parts) == 0 {
		return "no nvidia runtime or CDI devices advertised"
	}
	return strings.Join(parts, "; ")
}

// Image describes a local image.
type Image struct {
	Ref         string
	ID          string   // "sha256:…"
	RepoDigests []string // empty for locally built or imported images
	Size        int64    // bytes
	Entrypoint  []string
	Cmd         []string
	Created     string // RFC 3339, as the daemon reports it
}

// ImageInspect looks up a local image. A missing image gives an error
// wrapping [ErrImageNotFound].
func (c *Client) ImageInspect(ctx context.Context, ref string) (Image, error) {
	res, err := c.cli.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return Image{}, fmt.Errorf("inspect image %s: %w: pull it with `docker pull %s` or run with --pull always", ref, ErrImageNotFound, ref)
		}
		return Image{}, fmt.Errorf("inspect image %s: %w", ref, c.engineErr(err))
	}
	im := Image{
		Ref:         ref,
		ID:          res.ID,
		RepoDigests: res.RepoDigests,
		Size:        res.Size,
		Created:     res.Created,
	}
	if res.Config != nil {
		im.Entrypoint = res.Config.Entrypoint
		im.Cmd = res.Config.Cmd
	}
	return im, nil
}

// Pull pulls an image, reporting progress to progress (may be nil). An
// error the daemon reports inside its HTTP 200 progress stream fails the
// pull, as does one at the HTTP level.
func (c *Client) Pull(ctx context.Context, ref string, progress func(PullProgress)) error {
	resp, err := c.cli.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, c.engineErr(err))
	}
	defer resp.Close()
	var t pullTracker
	err = follow(ctx, resp.JSONMessages(ctx), func(m jsonstream.Message) {
		p := t.update(m)
		if progress != nil {
			progress(p)
		}
	})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}
