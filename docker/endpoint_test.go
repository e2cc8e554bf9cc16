package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseEndpoint(t *testing.T) {
	for _, ok := range []string{"unix:///var/run/docker.sock", "tcp://10.0.0.2:2376", "ssh://gpu1", "ssh://me@gpu1:2222"} {
		ep, err := ParseEndpoint(ok, nil)
		if err != nil || ep.Host != ok || ep.Name != ok {
			t.Errorf("%s: %+v %v", ok, ep, err)
		}
	}
	for bad, want := range map[string]string{
		"gpu1":                      "want unix://",
		"ftp://x":                   "scheme ftp not supported",
		"tcp://host":                "want tcp://HOST:PORT",
		"ssh://-oProxyCommand=evil": "want ssh://",
		"ssh://-l@host":             "want ssh://",
		"ssh://me:pw@host":          "no passwords",
		"ssh://host/var/run/x.sock": "takes no path",
		"unix://":                   "no socket path",
	} {
		if _, err := ParseEndpoint(bad, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", bad, err, want)
		}
	}
	if !(Endpoint{Host: "ssh://x"}).Remote() || !(Endpoint{Host: "tcp://x:1"}).Remote() || (Endpoint{Host: "unix:///s"}).Remote() {
		t.Error("Remote() wrong")
	}
}

func TestSSHArgs(t *testing.T) {
	u, _ := url.Parse("ssh://me@gpu1:2222")
	got := sshArgs(u, []string{"-F", "/cfg"})
	want := []string{"-o", "ConnectTimeout=30", "-o", "BatchMode=yes", "-F", "/cfg", "-l", "me", "-p", "2222", "--", "gpu1", "docker", "system", "dial-stdio"}
	if d := cmp.Diff(want, got); d != "" {
		t.Error(d)
	}
}

// TestContextEndpoint reads a context store laid out as the docker CLI writes it.
func TestContextEndpoint(t *testing.T) {
	dir := t.TempDir()
	write := func(name, host string, tls bool) {
		sum := sha256.Sum256([]byte(name))
		id := hex.EncodeToString(sum[:])
		meta := filepath.Join(dir, "contexts", "meta", id)
		os.MkdirAll(meta, 0o755)
		os.WriteFile(filepath.Join(meta, "meta.json"), []byte(`{"Name":"`+name+`","Metadata":{},"Endpoints":{"docker":{"Host":"`+host+`","SkipTLSVerify":false}}}`), 0o644)
		if tls {
			d := filepath.Join(dir, "contexts", "tls", id, "docker")
			os.MkdirAll(d, 0o755)
			os.WriteFile(filepath.Join(d, "ca.pem"), []byte("x"), 0o644)
		}
	}
	write("gpu-box", "ssh://me@gpu1", false)
	write("tls-box", "tcp://10.0.0.3:2376", true)
	ep, err := ContextEndpoint(dir, "gpu-box", []string{"-i", "k"})
	if err != nil || ep.Name != "gpu-box" || ep.Host != "ssh://me@gpu1" || ep.TLSDir != "" || len(ep.SSHArgs) != 2 {
		t.Errorf("gpu-box: %+v %v", ep, err)
	}
	ep, err = ContextEndpoint(dir, "tls-box", nil)
	if err != nil || !strings.HasSuffix(ep.TLSDir, filepath.Join("docker")) {
		t.Errorf("tls-box: %+v %v", ep, err)
	}
	if _, err := ContextEndpoint(dir, "nope", nil); err == nil || !strings.Contains(err.Error(), "docker context ls") {
		t.Errorf("missing context: %v", err)
	}
	if ep, err := ContextEndpoint(dir, "default", nil); err != nil || ep.Host != "" {
		t.Errorf("default: %+v %v", ep, err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext":"gpu-box"}`), 0o644)
	t.Setenv("DOCKER_CONTEXT", "")
	if c := CurrentContext(dir); c != "gpu-box" {
		t.Errorf("current context %q", c)
	}
	t.Setenv("DOCKER_CONTEXT", "tls-box")
	if c := CurrentContext(dir); c != "tls-box" {
		t.Errorf("DOCKER_CONTEXT: %q", c)
	}
}
