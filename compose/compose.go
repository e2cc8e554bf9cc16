package compose

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// ComfyUIQwen is the shipped Compose file, compose/comfyui-qwen.yaml.
//
//go:embed comfyui-qwen.yaml
var ComfyUIQwen []byte

// Options select what Load reads.
type Options struct {
	// Service names the service; "" is allowed only when the file has exactly one (after
	// profiles are applied).
	Service string
	// Profiles to enable; none means COMPOSE_PROFILES from Env, as docker compose does.
	Profiles []string
	// Env is the environment for interpolation (KEY=VALUE; normally os.Environ()). A .env file
	// beside the Compose file adds to it without overriding it.
	Env []string
}

// Service is one service of a Compose file, in the terms of a benchmark container. Nil
// slices and zero values mean "the file does not say".
type Service struct {
	File    string // absolute path
	SHA256  string // of the file's bytes
	Project string
	Name    string

	Image      string
	Entrypoint []string // nil: the image's
	Command    []string // nil: the image's
	Env        []string // KEY=VALUE, sorted
	Labels     map[string]string
	Ports      []Port
	Mounts     []Mount
	// GPUs is the GPU request in Docker's --gpus syntax ("all", "2", "device=0,1",
	// "cdi:nvidia.com/gpu=all"); "" when the file reserves none.
	GPUs        string
	ShmSize     int64 // bytes
	MemoryBytes int64 // mem_limit or deploy.resources.limits.memory
	Init        *bool
	Ulimits     []Ulimit
	Healthcheck *Healthcheck

	// Warnings name the attributes that were not applied, and why.
	Warnings []string
}

// Port is a published container port.
type Port struct {
	Target    int    // container port
	HostIP    string // "" when the file does not bind an address
	Published int    // 0: any free port
}

// Mount is a bind mount of a host path (the only kind a Compose file may bring).
type Mount struct {
	Source   string // absolute host path
	Target   string
	ReadOnly bool // as the file says it
}

// Ulimit is one resource limit.
type Ulimit struct {
	Name       string
	Soft, Hard int64
}

// Healthcheck is the container's health check, as Docker runs it.
type Healthcheck struct {
	Test          []string // ["CMD", …], ["CMD-SHELL", "…"] or ["NONE"]
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// UnsupportedError lists the attributes that make a service unfit for a benchmark container.
type UnsupportedError struct {
	File     string
	Service  string
	Problems []string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("compose file %s, service %s: %s", e.File, e.Service, strings.Join(e.Problems, "; "))
}

// Load reads the service of the Compose file at path.
func Load(ctx context.Context, path string, opts Options) (*Service, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("compose file %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("compose file: %w", err)
	}
	sum := sha256.Sum256(data)
	var findings []loader.UnsupportedAttribute
	popts := []composecli.ProjectOptionsFn{
		composecli.WithWorkingDirectory(filepath.Dir(abs)),
		composecli.WithEnv(opts.Env),
		composecli.WithEnvFiles(),
		composecli.WithDotEnv,
		composecli.WithDefaultProfiles(opts.Profiles...),
		composecli.WithName(projectName(abs)),
		composecli.WithLoadOptions(loader.WithSupportedAttributes(supported, func(f []loader.UnsupportedAttribute) {
			findings = f
		})),
	}
	po, err := composecli.NewProjectOptions([]string{abs}, popts...)
	if err != nil {
		return nil, fmt.Errorf("compose file %s: %w", path, err)
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("compose file %s: %w", path, err)
	}
	name, err := pickService(p, opts.Service, path)
	if err != nil {
		return nil, err
	}
	sc := p.Services[name]
	s := &Service{File: abs, SHA256: hex.EncodeToString(sum[:]), Project: p.Name, Name: name}
	var problems []string
	for _, f := range findings {
		parts := f.Path.Parts()
		if len(parts) < 3 || parts[0] != "services" {
			if len(parts) > 0 && parts[0] != "services" {
				s.Warnings = append(s.Warnings, fmt.Sprintf("%s: ignored (qwenlab starts one container on a network of its own)", f.Path))
			}
			continue
		}
		if parts[1] != name {
			continue // another service's attribute
		}
		attr := strings.Join(parts[2:], ".")
		if why, bad := unfit[parts[2]]; bad {
			problems = append(problems, fmt.Sprintf("%s: %s", attr, why))
			continue
		}
		s.Warnings = append(s.Warnings, fmt.Sprintf("%s: ignored (%s)", attr, ignoredWhy(parts[2])))
	}
	problems = append(problems, s.fill(sc)...)
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, &UnsupportedError{File: path, Service: name, Problems: problems}
	}
	slices.Sort(s.Warnings)
	return s, nil
}

// projectName is what docker compose would call the project: the folder's name.
func projectName(abs string) string {
	n := loader.NormalizeProjectName(filepath.Base(filepath.Dir(abs)))
	if n == "" {
		return "qwenlab"
	}
	return n
}

func pickService(p *types.Project, want, path string) (string, error) {
	names := p.ServiceNames()
	slices.Sort(names)
	if want != "" {
		if _, ok := p.Services[want]; ok {
			return want, nil
		}
		if _, ok := p.DisabledServices[want]; ok {
			return "", fmt.Errorf("compose file %s: service %q is in a profile that is not enabled: add --profile (or set COMPOSE_PROFILES)", path, want)
		}
		return "", fmt.Errorf("compose file %s: no service %q; it has: %s", path, want, strings.Join(names, ", "))
	}
	switch len(names) {
	case 0:
		return "", fmt.Errorf("compose file %s: no service is enabled (check its profiles)", path)
	case 1:
		return names[0], nil
	}
	return "", fmt.Errorf("compose file %s has %d services (%s): qwenlab benchmarks one container; pick it with --service NAME", path, len(names), strings.Join(names, ", "))
}

// fill copies what the service says into s and returns the problems that make it unfit.
func (s *Service) fill(sc types.ServiceConfig) []string {
	var problems []string
	s.Image = sc.Image
	if sc.Build != nil {
		if sc.Image == "" {
			problems = append(problems, "build: qwenlab does not build images; build it first (docker compose build) and give the service an image:")
		} else {
			s.Warnings = append(s.Warnings, fmt.Sprintf("build: ignored (qwenlab runs image %s as it is; build it first with docker compose build)", sc.Image))
		}
	}
	if s.Image == "" && sc.Build == nil {
		problems = append(problems, "no image: give the service an image: (or run with --image)")
	}
	if sc.Entrypoint != nil {
		s.Entrypoint = slices.Clone([]string(sc.Entrypoint))
	}
	if sc.Command != nil {
		s.Command = slices.Clone([]string(sc.Command))
	}
	for k, v := range sc.Environment {
		if v == nil {
			s.Warnings = append(s.Warnings, fmt.Sprintf("environment.%s: ignored (no value, and none in the environment)", k))
			continue
		}
		s.Env = append(s.Env, k+"="+*v)
	}
	slices.Sort(s.Env)
	for k, v := range sc.Labels {
		if strings.HasPrefix(k, "qwenlab.") {
			problems = append(problems, fmt.Sprintf("labels.%s: the qwenlab.* labels are qwenlab's own", k))
			continue
		}
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[k] = v
	}
	for _, p := range sc.Ports {
		if p.Protocol != "" && p.Protocol != "tcp" {
			s.Warnings = append(s.Warnings, fmt.Sprintf("ports: %d/%s ignored (ComfyUI speaks tcp)", p.Target, p.Protocol))
			continue
		}
		port := Port{Target: int(p.Target), HostIP: p.HostIP}
		if p.Published != "" {
			n, err := parsePort(p.Published)
			if err != nil {
				problems = append(problems, fmt.Sprintf("ports: published %q: %v (qwenlab publishes one port, not a range)", p.Published, err))
				continue
			}
			port.Published = n
		}
		s.Ports = append(s.Ports, port)
	}
	for _, v := range sc.Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			if v.Bind != nil && v.Bind.Propagation != "" {
				s.Warnings = append(s.Warnings, fmt.Sprintf("volumes: %s: bind propagation ignored", v.Target))
			}
			s.Mounts = append(s.Mounts, Mount{Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
		default:
			problems = append(problems, fmt.Sprintf("volumes: %s (%s): only bind mounts of host folders are supported: every cold start begins from a fresh container, and a %s would carry state between them", v.Target, v.Type, v.Type))
		}
	}
	gpus, gprob, gwarn := gpuRequest(sc)
	s.GPUs = gpus
	problems = append(problems, gprob...)
	s.Warnings = append(s.Warnings, gwarn...)
	s.ShmSize = int64(sc.ShmSize)
	s.MemoryBytes = int64(sc.MemLimit)
	if sc.Deploy != nil && sc.Deploy.Resources.Limits != nil && sc.Deploy.Resources.Limits.MemoryBytes > 0 {
		s.MemoryBytes = int64(sc.Deploy.Resources.Limits.MemoryBytes)
	}
	if sc.Init != nil {
		b := *sc.Init
		s.Init = &b
	}
	names := make([]string, 0, len(sc.Ulimits))
	for n := range sc.Ulimits {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		u := sc.Ulimits[n]
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		s.Ulimits = append(s.Ulimits, Ulimit{Name: n, Soft: soft, Hard: hard})
	}
	if h := sc.HealthCheck; h != nil {
		hc := &Healthcheck{Test: slices.Clone([]string(h.Test))}
		if h.Disable {
			hc.Test = []string{"NONE"}
		}
		dur := func(d *types.Duration) time.Duration {
			if d == nil {
				return 0
			}
			return time.Duration(*d)
		}
		hc.Interval, hc.Timeout, hc.StartPeriod, hc.StartInterval = dur(h.Interval), dur(h.Timeout), dur(h.StartPeriod), dur(h.StartInterval)
		if h.Retries != nil {
			hc.Retries = int(*h.Retries)
		}
		s.Healthcheck = hc
	}
	return problems
}

func parsePort(s string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || fmt.Sprint(n) != s || n < 1 || n > 65535 {
		return 0, errors.New("not a port number")
	}
	return n, nil
}

// gpuRequest turns the service's GPU reservation (deploy.resources.reservations.devices or
// gpus:) into Docker's --gpus syntax.
func gpuRequest(sc types.ServiceConfig) (gpus string, problems, warnings []string) {
	var reqs []types.DeviceRequest
	if sc.Deploy != nil && sc.Deploy.Resources.Reservations != nil {
		reqs = append(reqs, sc.Deploy.Resources.Reservations.Devices...)
	}
	for _, r := range sc.Gpus { // gpus: is a GPU request by definition
		if !slices.Contains(r.Capabilities, "gpu") {
			r.Capabilities = append(slices.Clone(r.Capabilities), "gpu")
		}
		reqs = append(reqs, r)
	}
	var got []string
	for _, r := range reqs {
		if !slices.Contains(r.Capabilities, "gpu") {
			warnings = append(warnings, fmt.Sprintf("deploy.resources.reservations.devices: capabilities %v ignored (not a GPU request)", r.Capabilities))
			continue
		}
		switch {
		case r.Driver == "cdi":
			got = append(got, "cdi:"+strings.Join(r.IDs, ","))
		case r.Driver != "" && r.Driver != "nvidia":
			problems = append(problems, fmt.Sprintf("deploy.resources.reservations.devices: driver %q: qwenlab requests NVIDIA GPUs (driver nvidia or cdi)", r.Driver))
		case len(r.IDs) > 0:
			got = append(got, "device="+strings.Join(r.IDs, ","))
		case r.Count == -1 || r.Count == 0:
			got = append(got, "all") // compose: count all (or none given) is every GPU
		default:
			got = append(got, fmt.Sprint(int64(r.Count)))
		}
		if extra := slices.DeleteFunc(slices.Clone(r.Capabilities), func(c string) bool { return c == "gpu" }); len(extra) > 0 {
			warnings = append(warnings, fmt.Sprintf("deploy.resources.reservations.devices: capabilities %v: qwenlab always asks for gpu and sets NVIDIA_DRIVER_CAPABILITIES=compute,utility unless the environment sets it", extra))
		}
	}
	if len(got) > 1 {
		problems = append(problems, fmt.Sprintf("%d GPU reservations: qwenlab takes one (all, a count, or a device list)", len(got)))
		return "", problems, warnings
	}
	if len(got) == 1 {
		gpus = got[0]
	}
	return gpus, problems, warnings
}
