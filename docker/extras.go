package docker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
)

// applyExtras sets the parts of a Spec that a Compose file may bring: entrypoint, shm size,
// ulimits and health check.
func applyExtras(s Spec, cfg *container.Config, hc *container.HostConfig) error {
	if s.Entrypoint != nil {
		cfg.Entrypoint = slices.Clone(s.Entrypoint)
	}
	if s.ShmSize < 0 {
		return fmt.Errorf("shm size %d: must not be negative", s.ShmSize)
	}
	hc.ShmSize = s.ShmSize
	for _, u := range s.Ulimits {
		if u.Name == "" {
			return fmt.Errorf("ulimit without a name")
		}
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	if h := s.Healthcheck; h != nil {
		if len(h.Test) == 0 || !slices.Contains([]string{"CMD", "CMD-SHELL", "NONE"}, h.Test[0]) {
			return fmt.Errorf("health check %q: want CMD …, CMD-SHELL … or NONE", strings.Join(h.Test, " "))
		}
		cfg.Healthcheck = &container.HealthConfig{
			Test: slices.Clone(h.Test), Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries,
		}
	}
	return nil
}
