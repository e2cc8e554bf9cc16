package docker

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
)

func TestCreateOptions(t *testing.T) {
	dir := t.TempDir()
	s := Spec{
		Name:          "qwenlab-abc",
		Image:         "comfy:latest",
		Cmd:           []string{"--listen"},
		Env:           []string{"A=1"},
		Labels:        map[string]string{LabelRun: "abc", "x": "y"},
		ContainerPort: 8188,
		Mounts:        []Mount{{Source: dir, Target: "/models", ReadOnly: true}},
		GPUs:          GPURequest{Kind: "all"},
		Init:          true,
	}
	o, err := createOptions(s)
	if err != nil {
		t.Fatal(err)
	}
	p := network.MustParsePort("8188/tcp")
	if _, ok := o.Config.ExposedPorts[p]; !ok {
		t.Errorf("ExposedPorts = %v, want 8188/tcp", o.Config.ExposedPorts)
	}
	wantBind := []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: ""}}
	if diff := cmp.Diff(wantBind, o.HostConfig.PortBindings[p], cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("port binding (-want +got):\n%s", diff)
	}
	wantMounts := []mount.Mount{{Type: mount.TypeBind, Source: dir, Target: "/models", ReadOnly: true}}
	if diff := cmp.Diff(wantMounts, o.HostConfig.Mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"A=1", "NVIDIA_DRIVER_CAPABILITIES=compute,utility"}, o.Config.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if len(o.HostConfig.DeviceRequests) != 1 || o.HostConfig.DeviceRequests[0].Count != -1 {
		t.Errorf("DeviceRequests = %+v", o.HostConfig.DeviceRequests)
	}
	if o.HostConfig.Init == nil || !*o.HostConfig.Init {
		t.Errorf("Init not set")
	}
	hc := o.HostConfig
	if hc.Privileged || hc.NetworkMode.IsHost() || len(hc.CapAdd) > 0 || o.Config.Tty {
		t.Errorf("unsafe or TTY host config: privileged %v, network %q, cap-add %v, tty %v", hc.Privileged, hc.NetworkMode, hc.CapAdd, o.Config.Tty)
	}
	if o.Name != "qwenlab-abc" || o.Config.Image != "comfy:latest" || o.Config.Labels["x"] != "y" || o.Config.Labels[LabelRun] != "abc" {
		t.Errorf("name/image/labels wrong: %q %q %v", o.Name, o.Config.Image, o.Config.Labels)
	}
	// The caller's slices and maps are not aliased.
	o.Config.Env[0] = "B=2"
	o.Config.Labels["x"] = "z"
	if s.Env[0] != "A=1" || s.Labels["x"] != "y" {
		t.Errorf("createOptions aliases the Spec")
	}

	// A user-set NVIDIA_DRIVER_CAPABILITIES wins; CDI and no GPUs add none.
	s.Env = []string{"NVIDIA_DRIVER_CAPABILITIES=all"}
	o, _ = createOptions(s)
	if !slices.Equal(o.Config.Env, []string{"NVIDIA_DRIVER_CAPABILITIES=all"}) {
		t.Errorf("env = %v", o.Config.Env)
	}
	for _, g := range []GPURequest{{Kind: "none"}, {Kind: "cdi", DeviceIDs: []string{"nvidia.com/gpu=all"}}} {
		s.Env, s.GPUs = nil, g
		o, _ = createOptions(s)
		if len(o.Config.Env) != 0 {
			t.Errorf("GPUs %v: env = %v, want none", g, o.Config.Env)
		}
	}
	// Explicit host address and port.
	s.HostIP, s.HostPort = "0.0.0.0", 18188
	o, _ = createOptions(s)
	if b := o.HostConfig.PortBindings[p][0]; b.HostIP.String() != "0.0.0.0" || b.HostPort != "18188" {
		t.Errorf("binding = %+v", b)
	}
}

func TestCreateOptionsRefuses(t *testing.T) {
	dir := t.TempDir()
	ok := func() Spec {
		return Spec{Image: "img", Labels: map[string]string{LabelRun: "r"}, ContainerPort: 8188}
	}
	test := func(name string, mod func(*Spec), wantErr string) {
		t.Helper()
		s := ok()
		mod(&s)
		_, err := createOptions(s)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, wantErr)
		}
	}
	if _, err := createOptions(ok()); err != nil {
		t.Fatalf("valid spec refused: %v", err)
	}
	test("no label", func(s *Spec) { s.Labels = nil }, "label qwenlab.run missing")
	test("empty label", func(s *Spec) { s.Labels[LabelRun] = "" }, "label qwenlab.run missing")
	test("no image", func(s *Spec) { s.Image = "" }, "no image")
	test("relative mount", func(s *Spec) { s.Mounts = []Mount{{Source: "models", Target: "/models"}} }, `"models": not an absolute path`)
	missing := filepath.Join(dir, "nope")
	test("missing mount", func(s *Spec) { s.Mounts = []Mount{{Source: missing, Target: "/models"}} }, missing)
	test("relative target", func(s *Spec) { s.Mounts = []Mount{{Source: dir, Target: "models"}} }, "mount target")
	test("bad port", func(s *Spec) { s.ContainerPort = 70000 }, "out of range")
	test("bad host port", func(s *Spec) { s.HostPort = -1 }, "out of range")
	test("bad host ip", func(s *Spec) { s.HostIP = "localhost" }, `host ip "localhost"`)
	test("host port alone", func(s *Spec) { s.ContainerPort, s.HostPort = 0, 80 }, "without a container port")
	test("bad gpus", func(s *Spec) { s.GPUs = GPURequest{Kind: "count"} }, "must be positive")
}

func TestGPUErrorMessage(t *testing.T) {
	for _, driver := range []string{"nvidia", "cdi"} {
		e := &GPUError{Driver: driver, Err: errString(`could not select device driver "` + driver + `" with capabilities: [[gpu]]`)}
		msg := e.Error()
		for _, want := range []string{"NVIDIA Container Toolkit", "--gpus none", "could not select device driver"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: %q lacks %q", driver, msg, want)
			}
		}
		if driver == "cdi" && !strings.Contains(msg, "nvidia-ctk cdi generate") {
			t.Errorf("cdi: %q lacks the CDI hint", msg)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestParseEngineTime(t *testing.T) {
	if !parseEngineTime("0001-01-01T00:00:00Z").IsZero() || !parseEngineTime("").IsZero() || !parseEngineTime("junk").IsZero() {
		t.Error("never/garbage should give the zero time")
	}
	if got := parseEngineTime("2026-11-26T23:07:24.771131417Z"); got.Nanosecond() != 771131417 {
		t.Errorf("got %v", got)
	}
}

func TestNVIDIAHint(t *testing.T) {
	test := func(in Info, want string) {
		t.Helper()
		if got := nvidiaHint(in); got != want {
			t.Errorf("nvidiaHint(%+v) = %q, want %q", in, got, want)
		}
	}
	test(Info{Runtimes: []string{"runc"}}, "no nvidia runtime or CDI devices advertised")
	test(Info{Runtimes: []string{"nvidia", "runc"}}, "nvidia runtime registered")
	test(Info{CDIDevices: []string{"nvidia.com/gpu=0", "nvidia.com/gpu=all", "other.com/x=1"}}, "2 nvidia CDI device(s) advertised")
}
