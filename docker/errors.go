package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/moby/moby/client"
)

// ErrUnreachable is returned (wrapped) by [New] when no Docker daemon
// answers.
var ErrUnreachable = errors.New("docker daemon unreachable")

// ErrImageNotFound is returned (wrapped) by [Client.ImageInspect] when the
// image is not present locally.
var ErrImageNotFound = errors.New("image not found")

// ErrPortInUse is returned (wrapped) by [Client.Start] when the requested
// host port is already taken.
var ErrPortInUse = errors.New("host port already in use")

// GPUError is returned by [Client.Start] when the daemon cannot satisfy the
// container's GPU device request ("could not select device driver").
type GPUError struct {
	Driver string // "nvidia" or "cdi", as far as known
	Err    error  // the daemon's error
}

func (e *GPUError) Error() string {
	hint := "install and configure the NVIDIA Container Toolkit " +
		"(nvidia-ctk runtime configure --runtime=docker, then restart dockerd)"
	if e.Driver == "cdi" {
		hint = "generate a CDI spec with `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` " +
			"(NVIDIA Container Toolkit) and make sure CDI is enabled in dockerd"
	}
	return fmt.Sprintf("GPU request not satisfiable by this Docker daemon: %v: %s, or run with --gpus none", e.Err, hint)
}

func (e *GPUError) Unwrap() error { return e.Err }

// unreachableError is a request the engine never answered: the connection was refused,
// dropped or timed out. net/http's own message quotes the request URL with the socket path
// URL-encoded as its host (Post "http://%2Fvar%2Frun%2Fdocker.sock/v1.41/containers/…/stop":
// EOF); this one names the engine's endpoint instead. It wraps [ErrUnreachable] (unless the
// caller cancelled the request) and the cause, so errors.Is still finds
// context.DeadlineExceeded.
type unreachableError struct {
	host string // the engine's endpoint, "unix:///var/run/docker.sock"
	err  error  // why no answer came
	msg  string // the whole message, when the cause says it already
}

func (e *unreachableError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("no answer from the Docker Engine at %s (%v)", e.host, e.err)
}

func (e *unreachableError) Unwrap() []error {
	if errors.Is(e.err, context.Canceled) {
		return []error{e.err} // the caller gave up: the engine is not to blame
	}
	return []error{ErrUnreachable, e.err}
}

// engineErr makes an error of the SDK readable and classifiable: a request that got no answer
// becomes an [unreachableError]; the engine's own answers (not found, conflict, …) pass
// unchanged.
func (c *Client) engineErr(err error) error {
	if err == nil {
		return nil
	}
	var ue *unreachableError
	if errors.As(err, &ue) {
		return err
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return &unreachableError{host: c.cli.DaemonHost(), err: urlErr.Err}
	}
	if client.IsErrConnectionFailed(err) {
		// "Cannot connect to the Docker daemon at unix:///… Is the docker daemon running?"
		return &unreachableError{host: c.cli.DaemonHost(), err: err, msg: err.Error()}
	}
	return err
}

// Alive pings the engine over a fresh connection, as a new client would, within ctx. A
// connection the client already holds can outlive the engine's listener: during a normal
// shutdown (SIGTERM) the engine stops accepting connections first, then stops the containers
// and answers the requests still open, so only a fresh connection tells a shutting-down
// engine from a live one. The error wraps [ErrUnreachable].
func (c *Client) Alive(ctx context.Context) error {
	host := c.cli.DaemonHost()
	fail := func(err error) error {
		return &unreachableError{host: host, err: err, msg: fmt.Sprintf("the Docker Engine at %s does not accept connections (%v)", host, err)}
	}
	conn, err := c.cli.Dialer()(ctx)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+client.DummyHost+"/_ping", nil)
	if err != nil {
		return err
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fail(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("ping: HTTP %d", resp.StatusCode))
	}
	return nil
}
