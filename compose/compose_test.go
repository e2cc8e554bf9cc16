package compose

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestShippedFile loads compose/comfyui-qwen.yaml and checks every part the issue asks for.
func TestShippedFile(t *testing.T) {
	models := t.TempDir()
	s, err := Load(context.Background(), "comfyui-qwen.yaml", Options{Env: []string{"QWENLAB_MODELS=" + models, "COMFYUI_IMAGE=my/comfy:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) > 0 {
		t.Errorf("the shipped file should load without warnings, got %q", s.Warnings)
	}
	abs, _ := filepath.Abs("comfyui-qwen.yaml")
	want := &Service{
		File: abs, SHA256: s.SHA256, Project: "compose", Name: "comfyui",
		Image:   "my/comfy:1",
		Command: []string{"python3", "/root/ComfyUI/main.py", "--listen", "0.0.0.0", "--port", "8188", "--preview-method", "none"},
		Env:     []string{"NVIDIA_DRIVER_CAPABILITIES=compute,utility"},
		Ports:   []Port{{Target: 8188, HostIP: "127.0.0.1", Published: 8188}},
		Mounts:  []Mount{{Source: models, Target: "/root/ComfyUI/models", ReadOnly: true}},
		GPUs:    "all",
		ShmSize: 8 << 30,
		Ulimits: []Ulimit{{Name: "memlock", Soft: -1, Hard: -1}, {Name: "stack", Soft: 67108864, Hard: 67108864}},
		Healthcheck: &Healthcheck{
			Test:     []string{"CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8188/system_stats', timeout=5)"},
			Interval: 10 * time.Second, Timeout: 6 * time.Second, StartPeriod: 10 * time.Minute, Retries: 3,
		},
	}
	if d := cmp.Diff(want, s); d != "" {
		t.Errorf("loaded service (-want +got):\n%s", d)
	}
	if len(s.SHA256) != 64 {
		t.Errorf("sha256 %q", s.SHA256)
	}
	if string(ComfyUIQwen) == "" {
		t.Error("the shipped file is not embedded")
	}
}

// TestShippedFileDockerCompose validates the shipped file with Docker's own tool.
func TestShippedFileDockerCompose(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("QWENLAB_REQUIRE_DOCKER") != "" {
			t.Fatal("docker-compose is not installed (.ci/run installs it)")
		}
		t.Skip("docker-compose is not installed")
	}
	cmd := exec.Command(bin, "-f", "comfyui-qwen.yaml", "config")
	cmd.Env = append(os.Environ(), "COMFYUI_IMAGE=my/comfy:1", "QWENLAB_MODELS="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for _, want := range []string{"driver: nvidia", "- gpu", "read_only: true", "127.0.0.1:8188:8188", "/system_stats", "shm_size"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("docker-compose config output lacks %q:\n%s", want, out)
		}
	}
}

func TestInterpolationDotEnvProfiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, ".env", "TAG=from-dotenv\nPORT=9000\n")
	f := write(t, dir, "compose.yaml", `
services:
  comfy:
    image: "comfy:${TAG}"
    ports: ["127.0.0.1:${PORT}:8188"]
    environment:
      HF_TOKEN: ${HF_TOKEN:-none}
      FROM_ENV:
  extra:
    image: other
    profiles: [debug]
`)
	// The process environment wins over .env, as with docker compose.
	s, err := Load(context.Background(), f, Options{Env: []string{"PORT=9100", "FROM_ENV=x"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Image != "comfy:from-dotenv" || s.Ports[0].Published != 9100 {
		t.Errorf("image %q, port %+v", s.Image, s.Ports)
	}
	if d := cmp.Diff([]string{"FROM_ENV=x", "HF_TOKEN=none"}, s.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	// With the profile enabled there are two services, and one must be picked.
	_, err = Load(context.Background(), f, Options{Profiles: []string{"debug"}})
	if err == nil || !strings.Contains(err.Error(), "--service") {
		t.Errorf("two services without --service: %v", err)
	}
	_, err = Load(context.Background(), f, Options{Service: "extra"})
	if err == nil || !strings.Contains(err.Error(), "profile") {
		t.Errorf("a disabled service: %v", err)
	}
	s, err = Load(context.Background(), f, Options{Service: "extra", Env: []string{"COMPOSE_PROFILES=debug"}})
	if err != nil || s.Image != "other" {
		t.Errorf("COMPOSE_PROFILES: %v %+v", err, s)
	}
	_, err = Load(context.Background(), f, Options{Service: "nope"})
	if err == nil || !strings.Contains(err.Error(), `no service "nope"`) {
		t.Errorf("unknown service: %v", err)
	}
}

func TestUnfitAndIgnored(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "compose.yaml", `
services:
  comfy:
    image: comfy
    privileged: true
    network_mode: host
    depends_on: [db]
    restart: always
    container_name: mine
    volumes:
      - cache:/cache
  db:
    image: postgres
    privileged: true
volumes:
  cache: {}
`)
	_, err := Load(context.Background(), f, Options{Service: "comfy"})
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		t.Fatalf("want *UnsupportedError, got %v", err)
	}
	got := strings.Join(ue.Problems, "\n")
	for _, want := range []string{"privileged:", "network_mode:", "depends_on:", "volumes: /cache (volume)"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	f = write(t, dir, "ok.yaml", `
services:
  comfy:
    image: comfy
    build: .
    restart: always
    container_name: mine
    stop_grace_period: 1m
`)
	s, err := Load(context.Background(), f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got = strings.Join(s.Warnings, "\n")
	for _, want := range []string{"build: ignored", "restart: ignored", "container_name: ignored", "stop_grace_period: ignored"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	f = write(t, dir, "build.yaml", "services:\n  comfy:\n    build: .\n")
	if _, err := Load(context.Background(), f, Options{}); err == nil || !strings.Contains(err.Error(), "does not build images") {
		t.Errorf("build without image: %v", err)
	}
}

func TestGPURequests(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"deploy: {resources: {reservations: {devices: [{driver: nvidia, count: 2, capabilities: [gpu]}]}}}", "2"},
		{"deploy: {resources: {reservations: {devices: [{driver: nvidia, device_ids: ['0', '3'], capabilities: [gpu]}]}}}", "device=0,3"},
		{"deploy: {resources: {reservations: {devices: [{driver: cdi, device_ids: ['nvidia.com/gpu=all'], capabilities: [gpu]}]}}}", "cdi:nvidia.com/gpu=all"},
		{"gpus: all", "all"},
		{"environment: {A: b}", ""},
	} {
		dir := t.TempDir()
		f := write(t, dir, "compose.yaml", "services:\n  c:\n    image: x\n    "+tc.yaml+"\n")
		s, err := Load(context.Background(), f, Options{})
		if err != nil {
			t.Errorf("%s: %v", tc.yaml, err)
			continue
		}
		if s.GPUs != tc.want {
			t.Errorf("%s: gpus %q, want %q", tc.yaml, s.GPUs, tc.want)
		}
	}
}
