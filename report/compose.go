package report

// Compose records the Compose file a docker target's container came from.
type Compose struct {
	File     string   `json:"file"`
	SHA256   string   `json:"sha256"`
	Project  string   `json:"project"`
	Service  string   `json:"service"`
	Warnings []string `json:"warnings,omitempty"` // attributes not applied, and why
	// Spec is the container qwenlab created: the file's service with the command-line flags
	// applied over it.
	Spec ContainerSpec `json:"effective_spec"`
}

// ContainerSpec is a container as qwenlab created it (env values of secrets redacted).
type ContainerSpec struct {
	Image       string            `json:"image"`
	Entrypoint  []string          `json:"entrypoint,omitempty"` // absent: the image's
	Command     []string          `json:"command,omitempty"`    // absent: the image's
	Env         []string          `json:"env,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Ports       []PortSpec        `json:"ports,omitempty"`
	Mounts      []MountSpec       `json:"mounts,omitempty"`
	GPUs        string            `json:"gpus"` // Docker's --gpus syntax; "none"
	ShmSize     int64             `json:"shm_size_bytes,omitempty"`
	MemoryBytes int64             `json:"memory_bytes,omitempty"`
	Init        bool              `json:"init"`
	Ulimits     []UlimitSpec      `json:"ulimits,omitempty"`
	Healthcheck *HealthcheckSpec  `json:"healthcheck,omitempty"`
	Network     string            `json:"network,omitempty"`
}

// PortSpec is a published port; HostPort 0 is a free one.
type PortSpec struct {
	HostIP        string `json:"host_ip"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
}

// MountSpec is a bind mount.
type MountSpec struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only"`
}

// UlimitSpec is a resource limit.
type UlimitSpec struct {
	Name string `json:"name"`
	Soft int64  `json:"soft"`
	Hard int64  `json:"hard"`
}

// HealthcheckSpec is a container health check; durations in seconds.
type HealthcheckSpec struct {
	Test          []string `json:"test"`
	Interval      float64  `json:"interval_s,omitempty"`
	Timeout       float64  `json:"timeout_s,omitempty"`
	StartPeriod   float64  `json:"start_period_s,omitempty"`
	StartInterval float64  `json:"start_interval_s,omitempty"`
	Retries       int      `json:"retries,omitempty"`
}
