package cli_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// haveTool is the script condition [tool:NAME]: NAME is installed, or CI requires it
// (QWENLAB_REQUIRE_DOCKER=1: .ci/run installs it, and the command then fails if it is not).
func haveTool(name string) bool {
	if os.Getenv("QWENLAB_REQUIRE_DOCKER") == "1" {
		return true
	}
	if name == "sshd" {
		_, err := os.Stat("/usr/sbin/sshd")
		return err == nil && os.Geteuid() == 0
	}
	_, err := exec.LookPath(name)
	return err == nil
}

// needTool finds bin or fails the script, naming the Debian package.
func needTool(ts *testscript.TestScript, bin, pkg string) string {
	p, err := exec.LookPath(bin)
	if err != nil {
		ts.Fatalf("%s is not installed (Debian package %s; .ci/run installs it)", bin, pkg)
	}
	return p
}

func freeLoopbackPort(ts *testscript.TestScript) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ts.Check(ln.Close())
	return port
}

// waitListening waits until something accepts on 127.0.0.1:port.
func waitListening(ts *testscript.TestScript, port int, what string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("%s does not listen on 127.0.0.1:%d", what, port)
}

// startDaemon starts a background process that the script's end stops.
func startDaemon(ts *testscript.TestScript, name string, args ...string) {
	cmd := exec.Command(name, args...)
	log, err := os.Create(ts.MkAbs(filepath.Base(name) + ".log"))
	ts.Check(err)
	cmd.Stdout, cmd.Stderr = log, log
	ts.Check(cmd.Start())
	ts.Defer(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
}

// cmdTCPEngine: tcpengine VAR exposes the Docker Engine's socket on a free 127.0.0.1 port
// (socat) until the script ends and sets $VAR to tcp://127.0.0.1:PORT (and $VAR_PORT).
func cmdTCPEngine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: tcpengine VAR")
	}
	socat := needTool(ts, "socat", "socat")
	port := freeLoopbackPort(ts)
	startDaemon(ts, socat, fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork", port), "UNIX-CONNECT:/var/run/docker.sock")
	waitListening(ts, port, "socat")
	ts.Setenv(args[0], fmt.Sprintf("tcp://127.0.0.1:%d", port))
	ts.Setenv(args[0]+"_PORT", strconv.Itoa(port))
}

// cmdSSHEngine: sshengine VAR starts an sshd of the script's own on a free 127.0.0.1 port
// (its own host key and config, key authentication only) and sets $VAR to
// ssh://root@127.0.0.1:PORT ($VAR_PORT the port) and QWENLAB_SSH_ARGS to an ssh config that uses the script's key.
// The remote's docker CLI is this host's, talking to the same engine.
func cmdSSHEngine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sshengine VAR")
	}
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		sshd = needTool(ts, "sshd", "openssh-server")
	}
	keygen := needTool(ts, "ssh-keygen", "openssh-client")
	needTool(ts, "ssh", "openssh-client")
	needTool(ts, "docker", "docker.io")
	if os.Geteuid() != 0 {
		ts.Fatalf("the ssh transport test logs in as root on its own sshd: run it as root")
	}
	dir := ts.MkAbs("ssh")
	ts.Check(os.MkdirAll(dir, 0o700))
	for _, k := range []string{"host_key", "id"} {
		out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput()
		if err != nil {
			ts.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "id.pub"))
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600))
	port := freeLoopbackPort(ts)
	conf := strings.Join([]string{
		"ListenAddress 127.0.0.1",
		"Port " + strconv.Itoa(port),
		"HostKey " + filepath.Join(dir, "host_key"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no", "UseDNS no",
		"PrintMotd no", "PrintLastLog no", "X11Forwarding no", "PermitUserRC no",
		"MaxStartups 100", "MaxSessions 100",
	}, "\n") + "\n"
	ts.Check(os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o600))
	ts.Check(os.MkdirAll("/run/sshd", 0o755)) // sshd's privilege-separation directory
	startDaemon(ts, sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	waitListening(ts, port, "sshd")
	client := strings.Join([]string{
		"Host *",
		"  IdentityFile " + filepath.Join(dir, "id"),
		"  IdentitiesOnly yes",
		"  UserKnownHostsFile " + filepath.Join(dir, "known_hosts"),
		"  StrictHostKeyChecking accept-new",
		"  LogLevel ERROR",
	}, "\n") + "\n"
	ts.Check(os.WriteFile(filepath.Join(dir, "ssh_config"), []byte(client), 0o600))
	ts.Setenv("QWENLAB_SSH_ARGS", "-F "+filepath.Join(dir, "ssh_config"))
	ts.Setenv(args[0], fmt.Sprintf("ssh://root@127.0.0.1:%d", port))
	ts.Setenv(args[0]+"_PORT", strconv.Itoa(port))
}
