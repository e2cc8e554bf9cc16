package docker

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
)

func TestCreateOptionsExtras(t *testing.T) {
	s := Spec{
		Image: "x", Labels: map[string]string{LabelRun: "r"},
		Entrypoint: []string{"/bin/comfy"},
		ShmSize:    8 << 30,
		Ulimits:    []Ulimit{{Name: "memlock", Soft: -1, Hard: -1}},
		Healthcheck: &Healthcheck{Test: []string{"CMD", "true"}, Interval: 10 * time.Second, Timeout: time.Second,
			StartPeriod: time.Minute, Retries: 3},
		Network: "qwenlab-net", Aliases: []string{"comfy"},
	}
	o, err := createOptions(s)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"/bin/comfy"}, o.Config.Entrypoint); d != "" {
		t.Error(d)
	}
	if o.HostConfig.ShmSize != 8<<30 {
		t.Errorf("shm %d", o.HostConfig.ShmSize)
	}
	if d := cmp.Diff([]*container.Ulimit{{Name: "memlock", Soft: -1, Hard: -1}}, o.HostConfig.Ulimits); d != "" {
		t.Error(d)
	}
	want := &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: 10 * time.Second, Timeout: time.Second, StartPeriod: time.Minute, Retries: 3}
	if d := cmp.Diff(want, o.Config.Healthcheck); d != "" {
		t.Error(d)
	}
	if o.HostConfig.NetworkMode != "qwenlab-net" || o.NetworkingConfig == nil || o.NetworkingConfig.EndpointsConfig["qwenlab-net"].Aliases[0] != "comfy" {
		t.Errorf("network %q %+v", o.HostConfig.NetworkMode, o.NetworkingConfig)
	}
	s.Healthcheck = &Healthcheck{Test: []string{"curl", "x"}}
	if _, err := createOptions(s); err == nil {
		t.Error("a health check without CMD/CMD-SHELL/NONE was accepted")
	}
	s.Healthcheck, s.ShmSize = nil, -1
	if _, err := createOptions(s); err == nil {
		t.Error("a negative shm size was accepted")
	}
}
