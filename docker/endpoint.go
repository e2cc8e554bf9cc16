package docker

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// Endpoint says how to reach one Docker Engine.
type Endpoint struct {
	// Name is what reports and progress lines call the engine: the context's name, or the
	// host URL.
	Name string
	// Host is unix:///path, tcp://host:port or ssh://[user@]host[:port]; "" means the
	// environment's (DOCKER_HOST and friends, else the local socket).
	Host string
	// TLSDir holds ca.pem, cert.pem and key.pem for a tcp:// host (a context's TLS material);
	// "" uses DOCKER_CERT_PATH and DOCKER_TLS_VERIFY, as the docker CLI does.
	TLSDir string
	// SSHArgs are extra arguments for ssh (QWENLAB_SSH_ARGS), e.g. -F FILE or -i KEY.
	SSHArgs []string
}

// Remote says whether the engine runs on another machine (tcp:// or ssh://): its published
// ports and host paths are not this machine's.
func (e Endpoint) Remote() bool {
	h := e.Host
	if h == "" {
		h = os.Getenv(client.EnvOverrideHost)
	}
	return strings.HasPrefix(h, "tcp://") || strings.HasPrefix(h, "ssh://") || strings.HasPrefix(h, "http://") || strings.HasPrefix(h, "https://")
}

// ParseEndpoint checks a --host value: unix://, tcp:// or ssh://.
func ParseEndpoint(host string, sshArgs []string) (Endpoint, error) {
	u, err := url.Parse(host)
	if err != nil || u.Scheme == "" {
		return Endpoint{}, fmt.Errorf("docker host %q: want unix:///path, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]", host)
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return Endpoint{}, fmt.Errorf("docker host %q: no socket path", host)
		}
	case "tcp":
		if u.Hostname() == "" || u.Port() == "" {
			return Endpoint{}, fmt.Errorf("docker host %q: want tcp://HOST:PORT", host)
		}
	case "ssh":
		if u.Hostname() == "" || strings.HasPrefix(u.Hostname(), "-") || strings.HasPrefix(u.User.Username(), "-") {
			return Endpoint{}, fmt.Errorf("docker host %q: want ssh://[USER@]HOST[:PORT]", host)
		}
		if u.Path != "" && u.Path != "/" {
			return Endpoint{}, fmt.Errorf("docker host %q: an ssh host takes no path (the remote's docker CLI finds its engine)", host)
		}
		if _, ok := u.User.Password(); ok {
			return Endpoint{}, fmt.Errorf("docker host %q: no passwords in the URL; use an ssh key or agent", host)
		}
	default:
		return Endpoint{}, fmt.Errorf("docker host %q: scheme %s not supported; want unix://, tcp:// or ssh://", host, u.Scheme)
	}
	return Endpoint{Name: host, Host: host, SSHArgs: sshArgs}, nil
}

// contextMeta is the part of a Docker CLI context's meta.json that names its engine.
type contextMeta struct {
	Name      string `json:"Name"`
	Endpoints map[string]struct {
		Host          string `json:"Host"`
		SkipTLSVerify bool   `json:"SkipTLSVerify"`
	} `json:"Endpoints"`
}

// ContextEndpoint reads the Docker CLI context name from the context store in configDir
// (DOCKER_CONFIG, else ~/.docker): contexts/meta/<sha256 of name>/meta.json and its TLS
// material under contexts/tls/. The context "default" is the environment's engine.
func ContextEndpoint(configDir, name string, sshArgs []string) (Endpoint, error) {
	if name == "default" {
		return Endpoint{Name: "default", SSHArgs: sshArgs}, nil
	}
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	p := filepath.Join(configDir, "contexts", "meta", id, "meta.json")
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return Endpoint{}, fmt.Errorf("docker context %q: not found in %s (see `docker context ls`)", name, filepath.Join(configDir, "contexts"))
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	var m contextMeta
	if err := json.Unmarshal(data, &m); err != nil {
		return Endpoint{}, fmt.Errorf("docker context %q: %s: %w", name, p, err)
	}
	d, ok := m.Endpoints["docker"]
	if !ok || d.Host == "" {
		return Endpoint{}, fmt.Errorf("docker context %q: %s names no docker endpoint", name, p)
	}
	ep, err := ParseEndpoint(d.Host, sshArgs)
	if err != nil {
		return Endpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	ep.Name = name
	tls := filepath.Join(configDir, "contexts", "tls", id, "docker")
	if _, err := os.Stat(filepath.Join(tls, "ca.pem")); err == nil && !d.SkipTLSVerify {
		ep.TLSDir = tls
	}
	return ep, nil
}

// CurrentContext is the context the docker CLI would use: DOCKER_CONTEXT, else config.json's
// currentContext, else "default".
func CurrentContext(configDir string) string {
	if c := os.Getenv("DOCKER_CONTEXT"); c != "" {
		return c
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if data, err := os.ReadFile(filepath.Join(configDir, "config.json")); err == nil {
		_ = json.Unmarshal(data, &cfg)
	}
	return cmp.Or(cfg.CurrentContext, "default")
}

// ConfigDir is the docker CLI's configuration folder: DOCKER_CONFIG, else ~/.docker.
func ConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".docker"
	}
	return filepath.Join(home, ".docker")
}

// NewAt connects to the engine ep names and pings it.
func NewAt(ctx context.Context, ep Endpoint) (*Client, error) {
	if ep.Host == "" {
		c, err := New(ctx)
		if err != nil {
			return nil, err
		}
		c.name, c.remote = cmp.Or(ep.Name, "local"), ep.Remote()
		return c, nil
	}
	opts := []client.Opt{client.WithAPIVersionFromEnv()}
	switch {
	case strings.HasPrefix(ep.Host, "ssh://"):
		u, err := url.Parse(ep.Host)
		if err != nil {
			return nil, fmt.Errorf("docker host %s: %w", ep.Host, err)
		}
		// As the docker CLI's connection helper: every connection is a `docker system
		// dial-stdio` on the remote, over ssh; the URL's host is a placeholder.
		opts = append(opts, client.WithHost("http://docker.example.com"), client.WithDialContext(sshDialer(u, ep.SSHArgs)))
	default:
		opts = append(opts, client.WithHost(ep.Host))
		if ep.TLSDir != "" {
			opts = append(opts, client.WithTLSClientConfig(filepath.Join(ep.TLSDir, "ca.pem"), filepath.Join(ep.TLSDir, "cert.pem"), filepath.Join(ep.TLSDir, "key.pem")))
		} else if strings.HasPrefix(ep.Host, "tcp://") {
			opts = append(opts, client.WithTLSClientConfigFromEnv())
		}
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", ep.Host, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ping, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, ep.Host, err)
	}
	return &Client{cli: cli, apiVersion: ping.APIVersion, name: cmp.Or(ep.Name, ep.Host), remote: ep.Remote()}, nil
}

// Name is what reports call this engine.
func (c *Client) Name() string { return cmp.Or(c.name, "local") }

// Remote says whether the engine runs on another machine.
func (c *Client) Remote() bool { return c.remote }
