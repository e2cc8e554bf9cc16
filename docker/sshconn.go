package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// SSHArgsFromEnv are the extra ssh arguments in QWENLAB_SSH_ARGS (split at spaces), e.g.
// "-F /path/ssh_config" or "-i KEY -o StrictHostKeyChecking=accept-new".
func SSHArgsFromEnv() []string { return strings.Fields(os.Getenv("QWENLAB_SSH_ARGS")) }

// sshArgs is the ssh command line for one connection to the engine behind u, as the docker
// CLI's ssh connection helper builds it: the remote's own docker CLI bridges its stdio to
// the engine's socket.
func sshArgs(u *url.URL, extra []string) []string {
	args := []string{"-o", "ConnectTimeout=30", "-o", "BatchMode=yes"}
	args = append(args, extra...)
	if user := u.User.Username(); user != "" {
		args = append(args, "-l", user)
	}
	if p := u.Port(); p != "" {
		args = append(args, "-p", p)
	}
	return append(args, "--", u.Hostname(), "docker", "system", "dial-stdio")
}

// sshDialer returns a dialer whose every connection is an ssh process running
// `docker system dial-stdio` on the remote host.
func sshDialer(u *url.URL, extra []string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	args := sshArgs(u, extra)
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Not CommandContext: the dial's context ends after the dial, the connection lives on.
		cmd := exec.Command("ssh", args...)
		detach(cmd) // Ctrl-C goes to qwenlab, which still needs the connection to tear down
		return newCommandConn(cmd, u.Host)
	}
}

// commandConn is a net.Conn over a process's stdin and stdout.
type commandConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *lockedBuffer
	remote string

	closeOnce sync.Once
	waitErr   chan error
}

func newCommandConn(cmd *exec.Cmd, remote string) (*commandConn, error) {
	c := &commandConn{cmd: cmd, stderr: &lockedBuffer{}, remote: remote, waitErr: make(chan error, 1)}
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	if c.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ssh: %w (is the OpenSSH client installed?)", err)
	}
	go func() { c.waitErr <- cmd.Wait() }()
	return c, nil
}

func (c *commandConn) Read(p []byte) (int, error) {
	n, err := c.stdout.Read(p)
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
		if msg := strings.TrimSpace(c.stderr.String()); msg != "" && n == 0 {
			return 0, fmt.Errorf("ssh %s: %s: %w", c.remote, lastLine(msg), io.EOF)
		}
	}
	return n, err
}

func (c *commandConn) Write(p []byte) (int, error) { return c.stdin.Write(p) }

// CloseWrite ends the stream towards the engine (the client's hijacked connections use it).
func (c *commandConn) CloseWrite() error { return c.stdin.Close() }

func (c *commandConn) Close() error {
	c.closeOnce.Do(func() {
		c.stdin.Close()
		select {
		case <-c.waitErr:
		case <-time.After(2 * time.Second):
			c.cmd.Process.Kill()
			<-c.waitErr
		}
	})
	return nil
}

func (c *commandConn) LocalAddr() net.Addr              { return sshAddr("qwenlab") }
func (c *commandConn) RemoteAddr() net.Addr             { return sshAddr(c.remote) }
func (c *commandConn) SetDeadline(time.Time) error      { return nil }
func (c *commandConn) SetReadDeadline(time.Time) error  { return nil }
func (c *commandConn) SetWriteDeadline(time.Time) error { return nil }

type sshAddr string

func (a sshAddr) Network() string { return "ssh" }
func (a sshAddr) String() string  { return string(a) }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
