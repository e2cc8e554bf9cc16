package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/qwenlab/qwenlab/internal/shortid"
)

// Mount is a bind mount of a host path.
type Mount struct {
	Source   string // absolute host path; must exist
	Target   string // absolute path in the container
	ReadOnly bool
}

// Spec describes a container to create.
type Spec struct {
	Name  string // optional container name
	Image string
	Cmd   []string // overrides the image's CMD when non-empty
	Env   []string // KEY=VALUE
	// Labels must contain LabelRun; Create refuses a Spec without it.
	Labels        map[string]string
	ContainerPort int    // TCP port to publish, e.g. 8188; 0 publishes nothing
	HostIP        string // default "127.0.0.1"
	HostPort      int    // 0: an ephemeral port, read back by Inspect
	Mounts        []Mount
	GPUs          GPURequest
	Init          bool  // run the engine's init process as PID 1 (fast, clean stop)
	MemoryBytes   int64 // memory limit (RAM, no extra swap); 0: none

	Entrypoint  []string // overrides the image's ENTRYPOINT when non-nil
	ShmSize     int64    // /dev/shm size in bytes; 0: the engine's default
	Ulimits     []Ulimit
	Healthcheck *Healthcheck // nil: the image's
	// Network, when set, attaches the container to that network (made by [Client.CreateNetwork])
	// under Aliases instead of the default bridge.
	Network string
	Aliases []string

	remoteHost bool // set by Create on a remote engine: mount sources are that host's paths
}

// Ulimit is one resource limit of a container.
type Ulimit struct {
	Name       string // nofile, memlock, stack, …
	Soft, Hard int64
}

// Healthcheck is a container's health check, as the engine runs it.
type Healthcheck struct {
	Test                                          []string // ["CMD", …], ["CMD-SHELL", "…"] or ["NONE"]
	Interval, Timeout, StartPeriod, StartInterval time.Duration
	Retries                                       int
}

// driverCapsEnv tells the NVIDIA container runtime which driver libraries
// to mount; requesting capabilities alone does not set it.
const driverCapsEnv = "NVIDIA_DRIVER_CAPABILITIES"

// createOptions validates s and turns it into the Engine's create request.
func createOptions(s Spec) (client.ContainerCreateOptions, error) {
	var zero client.ContainerCreateOptions
	if s.Image == "" {
		return zero, errors.New("no image")
	}
	if s.Labels[LabelRun] == "" {
		return zero, fmt.Errorf("label %s missing: every qwenlab container must carry its run id", LabelRun)
	}
	cfg := &container.Config{
		Image:  s.Image,
		Cmd:    slices.Clone(s.Cmd),
		Env:    slices.Clone(s.Env),
		Labels: make(map[string]string, len(s.Labels)),
	}
	for k, v := range s.Labels {
		cfg.Labels[k] = v
	}
	hc := &container.HostConfig{}
	if s.Init {
		hc.Init = &s.Init
	}
	if s.ContainerPort != 0 {
		if s.ContainerPort < 1 || s.ContainerPort > 65535 {
			return zero, fmt.Errorf("container port %d out of range", s.ContainerPort)
		}
		if s.HostPort < 0 || s.HostPort > 65535 {
			return zero, fmt.Errorf("host port %d out of range", s.HostPort)
		}
		ipText := s.HostIP
		if ipText == "" {
			ipText = "127.0.0.1"
		}
		ip, err := netip.ParseAddr(ipText)
		if err != nil {
			return zero, fmt.Errorf("host ip %q: %w", ipText, err)
		}
		p, err := network.ParsePort(strconv.Itoa(s.ContainerPort) + "/tcp")
		if err != nil {
			return zero, fmt.Errorf("container port %d: %w", s.ContainerPort, err)
		}
		hostPort := ""
		if s.HostPort != 0 {
			hostPort = strconv.Itoa(s.HostPort)
		}
		cfg.ExposedPorts = network.PortSet{p: {}}
		hc.PortBindings = network.PortMap{p: {{HostIP: ip, HostPort: hostPort}}}
	} else if s.HostPort != 0 {
		return zero, errors.New("host port given without a container port")
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) {
			return zero, fmt.Errorf("mount source %q: not an absolute path", m.Source)
		}
		if _, err := os.Stat(m.Source); err != nil && !s.remoteHost {
			return zero, fmt.Errorf("mount source %q: %w", m.Source, err)
		}
		if !strings.HasPrefix(m.Target, "/") {
			return zero, fmt.Errorf("mount target %q: not an absolute path", m.Target)
		}
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	reqs, err := deviceRequests(s.GPUs)
	if err != nil {
		return zero, err
	}
	hc.DeviceRequests = reqs
	if s.MemoryBytes < 0 {
		return zero, fmt.Errorf("memory limit %d: must not be negative", s.MemoryBytes)
	}
	if s.MemoryBytes > 0 {
		hc.Memory = s.MemoryBytes
		hc.MemorySwap = s.MemoryBytes // no swap on top: a limit the model must fit in RAM
	}
	if len(reqs) > 0 && reqs[0].Driver == "nvidia" && !slices.ContainsFunc(cfg.Env, func(e string) bool {
		return strings.HasPrefix(e, driverCapsEnv+"=")
	}) {
		cfg.Env = append(cfg.Env, driverCapsEnv+"=compute,utility")
	}
	if err := applyExtras(s, cfg, hc); err != nil {
		return zero, err
	}
	opts := client.ContainerCreateOptions{Name: s.Name, Config: cfg, HostConfig: hc}
	if s.Network != "" {
		hc.NetworkMode = container.NetworkMode(s.Network)
		opts.NetworkingConfig = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			s.Network: {Aliases: slices.Clone(s.Aliases)},
		}}
	}
	// Note: Privileged, NetworkMode "host" and CapAdd are never set.
	return opts, nil
}

// Create creates (but does not start) a container and returns its id.
func (c *Client) Create(ctx context.Context, s Spec) (string, error) {
	s.remoteHost = c.remote
	opts, err := createOptions(s)
	if err != nil {
		return "", fmt.Errorf("create container: %w", err)
	}
	res, err := c.cli.ContainerCreate(ctx, opts)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("create container: %w: %w", ErrImageNotFound, err)
		}
		return "", fmt.Errorf("create container: %w", c.engineErr(err))
	}
	return res.ID, nil
}

// Start starts a created container. A GPU request the daemon cannot
// satisfy gives a *[GPUError]; a taken host port an error wrapping
// [ErrPortInUse] that names the port. The container still exists after a
// failed start: remove it.
func (c *Client) Start(ctx context.Context, id string) error {
	_, err := c.cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "could not select device driver"):
		driver := ""
		if i := strings.Index(msg, `device driver "`); i >= 0 {
			rest := msg[i+len(`device driver "`):]
			if j := strings.IndexByte(rest, '"'); j >= 0 {
				driver = rest[:j]
			}
		}
		return fmt.Errorf("start container %s: %w", shortid.Of(id), &GPUError{Driver: driver, Err: err})
	case strings.Contains(msg, "port is already allocated"), strings.Contains(msg, "address already in use"):
		port := c.boundPort(ctx, id)
		return fmt.Errorf("start container %s: %w: %s (pick another --port or stop what listens there): %w", shortid.Of(id), ErrPortInUse, port, err)
	}
	return fmt.Errorf("start container %s: %w", shortid.Of(id), c.engineErr(err))
}

// boundPort names the host address a container asked for, for messages.
func (c *Client) boundPort(ctx context.Context, id string) string {
	res, err := c.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil || res.Container.HostConfig == nil {
		return "(unknown port)"
	}
	for _, bs := range res.Container.HostConfig.PortBindings {
		for _, b := range bs {
			return b.HostIP.String() + ":" + b.HostPort
		}
	}
	return "(unknown port)"
}

// State is a container's state.
type State struct {
	Status     string // created, running, paused, restarting, removing, exited, dead
	Running    bool
	OOMKilled  bool
	ExitCode   int
	Error      string
	StartedAt  time.Time // zero if never started
	FinishedAt time.Time // zero if not finished
	HostPort   int       // the published host port, 0 if none
	Pid        int
}

// Inspect reads a container's state.
func (c *Client) Inspect(ctx context.Context, id string) (State, error) {
	res, err := c.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return State{}, fmt.Errorf("inspect container %s: %w", shortid.Of(id), c.engineErr(err))
	}
	return stateOf(res.Container), nil
}

func stateOf(ir container.InspectResponse) State {
	var st State
	if s := ir.State; s != nil {
		st = State{
			Status:     string(s.Status),
			Running:    s.Running,
			OOMKilled:  s.OOMKilled,
			ExitCode:   s.ExitCode,
			Error:      s.Error,
			StartedAt:  parseEngineTime(s.StartedAt),
			FinishedAt: parseEngineTime(s.FinishedAt),
			Pid:        s.Pid,
		}
	}
	if ir.NetworkSettings != nil {
		for _, bs := range ir.NetworkSettings.Ports {
			for _, b := range bs {
				if n, err := strconv.Atoi(b.HostPort); err == nil && n > 0 {
					st.HostPort = n
					break
				}
			}
			if st.HostPort != 0 {
				break
			}
		}
	}
	return st
}

// parseEngineTime parses the engine's RFC 3339 times; its "never" value
// (0001-01-01T00:00:00Z) and garbage give the zero time.
func parseEngineTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// WaitExit returns a channel that receives the container's final State
// once it stops running, then is closed. Call it after Start: a container
// that was never started counts as not running. If ctx ends first the
// channel is closed without a value. If waiting fails (the container was
// removed, say) the State's Error says why.
func (c *Client) WaitExit(ctx context.Context, id string) <-chan State {
	out := make(chan State, 1)
	go func() {
		defer close(out)
		w := c.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		var waitErr error
		select {
		case <-w.Result:
		case waitErr = <-w.Error:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			return
		}
		st, err := c.Inspect(ctx, id)
		if err != nil {
			if waitErr == nil {
				waitErr = err
			}
			st = State{Status: "removed"}
		}
		if waitErr != nil && st.Error == "" {
			st.Error = fmt.Sprintf("wait: %v", c.engineErr(waitErr))
		}
		out <- st
	}()
	return out
}

// Stop stops a container, killing it after timeout. A container that is
// already stopped or gone is not an error.
func (c *Client) Stop(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(math.Ceil(timeout.Seconds()))
	if secs < 0 {
		secs = 0
	}
	_, err := c.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsNotModified(err) {
		return fmt.Errorf("stop container %s: %w", shortid.Of(id), c.engineErr(err))
	}
	return nil
}

// Remove removes a container, running or not, with its anonymous volumes.
// A container that is already gone is not an error.
func (c *Client) Remove(ctx context.Context, id string) error {
	_, err := c.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !strings.Contains(err.Error(), "already in progress") {
		return fmt.Errorf("remove container %s: %w", shortid.Of(id), c.engineErr(err))
	}
	return nil
}
