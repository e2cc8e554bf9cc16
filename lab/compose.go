package lab

import (
	"maps"
	"slices"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/report"
)

// applyCompose applies what a Compose service says beyond the flags' fields: its command
// (which --comfy-arg extends), entrypoint, shm size, ulimits, health check, labels and bind
// mounts other than the models folder. Host folders are always mounted read-only: a
// benchmark writes nothing outside the folders qwenlab owns.
func (r *run) applyCompose(s *docker.Spec) {
	c := r.cfg.Compose
	if c == nil {
		return
	}
	if c.Command != nil {
		s.Cmd = append(slices.Clone(c.Command), r.cfg.ComfyArgs...)
	}
	s.Entrypoint = slices.Clone(c.Entrypoint)
	s.ShmSize = c.ShmSize
	for _, u := range c.Ulimits {
		s.Ulimits = append(s.Ulimits, docker.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	if h := c.Healthcheck; h != nil {
		s.Healthcheck = &docker.Healthcheck{Test: slices.Clone(h.Test), Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	for k, v := range c.Labels {
		if _, ours := s.Labels[k]; !ours {
			s.Labels[k] = v
		}
	}
	for _, m := range c.Mounts {
		s.Mounts = append(s.Mounts, docker.Mount{Source: m.Source, Target: m.Target, ReadOnly: true})
	}
}

// composeReport records the Compose file and the container as created.
func (r *run) composeReport() *report.Compose {
	c := r.cfg.Compose
	if c == nil {
		return nil
	}
	out := &report.Compose{File: c.File, SHA256: c.SHA256, Project: c.Project, Service: c.Name, Warnings: slices.Clone(c.Warnings)}
	if s := r.effSpec; s != nil {
		out.Spec = containerSpec(*s)
	}
	return out
}

func containerSpec(s docker.Spec) report.ContainerSpec {
	cs := report.ContainerSpec{
		Image: s.Image, Entrypoint: slices.Clone(s.Entrypoint), Command: slices.Clone(s.Cmd),
		Env: report.Redact(s.Env), Labels: maps.Clone(s.Labels), GPUs: s.GPUs.String(),
		ShmSize: s.ShmSize, MemoryBytes: s.MemoryBytes, Init: s.Init, Network: s.Network,
	}
	if s.ContainerPort != 0 {
		ip := s.HostIP
		if ip == "" {
			ip = "127.0.0.1"
		}
		cs.Ports = []report.PortSpec{{HostIP: ip, HostPort: s.HostPort, ContainerPort: s.ContainerPort}}
	}
	for _, m := range s.Mounts {
		cs.Mounts = append(cs.Mounts, report.MountSpec{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	for _, u := range s.Ulimits {
		cs.Ulimits = append(cs.Ulimits, report.UlimitSpec{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	if h := s.Healthcheck; h != nil {
		cs.Healthcheck = &report.HealthcheckSpec{Test: slices.Clone(h.Test), Interval: h.Interval.Seconds(), Timeout: h.Timeout.Seconds(),
			StartPeriod: h.StartPeriod.Seconds(), StartInterval: h.StartInterval.Seconds(), Retries: h.Retries}
	}
	return cs
}
