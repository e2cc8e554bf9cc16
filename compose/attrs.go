package compose

import "github.com/compose-spec/compose-go/v2/tree"

// supported lists every attribute Load applies (compose-go reports the others). A node is
// listed with its children: the check descends into a supported node.
var supported = paths(
	"name", "version", "services", "services.*",
	"services.*.image",
	"services.*.command", "services.*.command.[]",
	"services.*.entrypoint", "services.*.entrypoint.[]",
	"services.*.environment", "services.*.environment.*", "services.*.environment.[]",
	"services.*.env_file", "services.*.env_file.[]", "services.*.env_file.[].path", "services.*.env_file.[].required", "services.*.env_file.[].format",
	"services.*.labels", "services.*.labels.*", "services.*.labels.[]",
	"services.*.profiles", "services.*.profiles.[]",
	"services.*.ports", "services.*.ports.[]",
	"services.*.ports.[].target", "services.*.ports.[].published", "services.*.ports.[].host_ip", "services.*.ports.[].protocol", "services.*.ports.[].mode", "services.*.ports.[].name",
	"services.*.volumes", "services.*.volumes.[]",
	"services.*.volumes.[].type", "services.*.volumes.[].source", "services.*.volumes.[].target", "services.*.volumes.[].read_only",
	"services.*.volumes.[].bind", "services.*.volumes.[].bind.propagation", "services.*.volumes.[].bind.create_host_path",
	"services.*.shm_size", "services.*.mem_limit", "services.*.init",
	"services.*.ulimits", "services.*.ulimits.*", "services.*.ulimits.*.soft", "services.*.ulimits.*.hard",
	"services.*.healthcheck", "services.*.healthcheck.test", "services.*.healthcheck.test.[]",
	"services.*.healthcheck.interval", "services.*.healthcheck.timeout", "services.*.healthcheck.retries",
	"services.*.healthcheck.start_period", "services.*.healthcheck.start_interval", "services.*.healthcheck.disable",
	"services.*.deploy", "services.*.deploy.resources",
	"services.*.deploy.resources.limits", "services.*.deploy.resources.limits.memory",
	"services.*.deploy.resources.reservations", "services.*.deploy.resources.reservations.devices",
	"services.*.deploy.resources.reservations.devices.[]",
	"services.*.deploy.resources.reservations.devices.[].driver", "services.*.deploy.resources.reservations.devices.[].count",
	"services.*.deploy.resources.reservations.devices.[].device_ids", "services.*.deploy.resources.reservations.devices.[].device_ids.[]",
	"services.*.deploy.resources.reservations.devices.[].capabilities", "services.*.deploy.resources.reservations.devices.[].capabilities.[]",
	"services.*.gpus", "services.*.gpus.[]", "services.*.gpus.[].driver", "services.*.gpus.[].count",
	"services.*.gpus.[].device_ids", "services.*.gpus.[].device_ids.[]", "services.*.gpus.[].capabilities", "services.*.gpus.[].capabilities.[]",
	// build: is judged by fill (an image beside it makes it harmless).
	"services.*.build", "services.*.build.*", "services.*.build.*.*", "services.*.build.*.[]",
)

func paths(ps ...string) []tree.Path {
	out := make([]tree.Path, len(ps))
	for i, p := range ps {
		out[i] = tree.Path(p)
	}
	return out
}

// unfit are the service attributes that make it unfit for one benchmark container: they need
// other services, weaken the isolation qwenlab promises, or change what is measured.
var unfit = map[string]string{
	"depends_on":    "needs other services; qwenlab starts one container (start them yourself and benchmark with bench --url, or drop depends_on)",
	"links":         "needs other services; qwenlab starts one container",
	"volumes_from":  "needs another container's volumes",
	"extends":       "extends another service",
	"network_mode":  "qwenlab runs the container on its own network, never the host's",
	"net":           "qwenlab runs the container on its own network, never the host's",
	"privileged":    "qwenlab never runs privileged containers",
	"cap_add":       "qwenlab adds no capabilities",
	"security_opt":  "qwenlab keeps Docker's default security profile",
	"devices":       "device mappings are not supported; GPUs go in deploy.resources.reservations.devices",
	"pid":           "sharing a PID namespace is not supported",
	"ipc":           "sharing an IPC namespace is not supported (use shm_size)",
	"userns_mode":   "user-namespace modes are not supported",
	"cgroup_parent": "qwenlab's containers are not placed in other cgroups",
	"scale":         "qwenlab starts one container",
	"runtime":       "qwenlab chooses the runtime by its GPU request",
	"tmpfs":         "tmpfs mounts are not supported",
	"secrets":       "secrets are not supported: pass values with --env (redacted in reports)",
	"configs":       "configs are not supported",
	"models":        "compose models are not supported",
	"provider":      "provider services are not containers",
}

func ignoredWhy(attr string) string {
	switch attr {
	case "restart", "stop_grace_period", "stop_signal", "container_name", "hostname", "pull_policy":
		return "qwenlab owns the container's lifecycle and name"
	case "networks", "expose", "dns", "extra_hosts", "mac_address":
		return "qwenlab runs the container on a network of its own"
	case "logging":
		return "qwenlab follows the logs through the engine"
	case "deploy":
		return "only deploy.resources.reservations.devices and limits.memory apply to one container"
	}
	return "not applied to the benchmark container"
}
