package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/qwenlab/qwenlab/compose"
	"github.com/qwenlab/qwenlab/lab"
)

// composeFlags are up-and-bench's --compose, --service and --profile.
type composeFlags struct {
	file     string
	service  string
	profiles []string
}

func (f *composeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.file, "compose", "", "take the container spec from a Compose FILE (image, command, env, ports, volumes, GPU reservations, shm_size, ulimits, healthcheck); flags given override it")
	fs.StringVar(&f.service, "service", "", "the service of the --compose file to benchmark (needed when it has several)")
	fs.StringArrayVar(&f.profiles, "profile", nil, "enable a Compose profile (default: COMPOSE_PROFILES); repeatable")
}

// apply loads the Compose service and merges it into c: a flag the user gave wins over the
// file. Warnings about what the file says but qwenlab does not apply go to w.
func (f *composeFlags) apply(ctx context.Context, fs *pflag.FlagSet, c *lab.Config, w io.Writer) error {
	if f.file == "" {
		if f.service != "" || len(f.profiles) > 0 {
			return usagef("--service and --profile need --compose FILE")
		}
		return nil
	}
	s, err := compose.Load(ctx, f.file, compose.Options{Service: f.service, Profiles: f.profiles, Env: os.Environ()})
	if err != nil {
		var ue *compose.UnsupportedError
		if errors.As(err, &ue) {
			return fmt.Errorf("%w\n(qwenlab starts one benchmark container from the service; these attributes do not fit it)", err)
		}
		return err
	}
	changed := fs.Changed
	if !changed("image") {
		c.Image = s.Image
	}
	// Environment: the file's, then --env over it (same name: the flag wins).
	env := slices.Clone(s.Env)
	for _, kv := range c.Env {
		name, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, name+"=") })
		env = append(env, kv)
	}
	c.Env = env
	if len(s.Ports) > 0 {
		p := s.Ports[0]
		for _, q := range s.Ports {
			if q.Target == c.ContainerPort {
				p = q
			}
		}
		for _, q := range s.Ports {
			if q != p {
				s.Warnings = append(s.Warnings, fmt.Sprintf("ports: %d not published (qwenlab publishes ComfyUI's port only)", q.Target))
			}
		}
		if !changed("container-port") {
			c.ContainerPort = p.Target
		}
		if !changed("port") {
			c.Port = p.Published
		}
		if p.HostIP != "127.0.0.1" && !c.PublishAll {
			s.Warnings = append(s.Warnings, fmt.Sprintf("ports: host address %q: published on 127.0.0.1 (ComfyUI has no authentication; --publish-all-interfaces to expose it)", p.HostIP))
		}
	}
	if !changed("gpus") {
		c.GPUs = s.GPUs
		if c.GPUs == "" {
			c.GPUs = "none" // the file reserves no GPU
		}
	}
	if !changed("memory") && s.MemoryBytes > 0 {
		c.MemoryBytes = s.MemoryBytes
	}
	if !changed("init") && s.Init != nil {
		c.Init = *s.Init
	}
	// The models folder: the bind mounted at --models-target, else the one mounted at …/models.
	idx := slices.IndexFunc(s.Mounts, func(m compose.Mount) bool { return m.Target == c.ModelsTarget })
	if idx < 0 && !changed("models-target") {
		idx = slices.IndexFunc(s.Mounts, func(m compose.Mount) bool { return path.Base(m.Target) == "models" })
	}
	if idx >= 0 {
		m := s.Mounts[idx]
		s.Mounts = slices.Delete(s.Mounts, idx, idx+1)
		if !changed("models") {
			c.ModelsDir = m.Source
		}
		if !changed("models-target") {
			c.ModelsTarget = m.Target
		}
	}
	for _, m := range s.Mounts {
		if !m.ReadOnly {
			s.Warnings = append(s.Warnings, fmt.Sprintf("volumes: %s mounted read-only (qwenlab writes nothing outside the folders it owns)", m.Target))
		}
		if st, err := os.Stat(m.Source); err != nil || !st.IsDir() && !st.Mode().IsRegular() {
			return fmt.Errorf("compose file %s: volumes: %s: host path %s does not exist (qwenlab creates no host folders)", f.file, m.Target, m.Source)
		}
	}
	slices.Sort(s.Warnings)
	for _, w0 := range s.Warnings {
		fmt.Fprintf(w, "qwenlab: compose: %s\n", w0)
	}
	c.Compose = s
	return nil
}
