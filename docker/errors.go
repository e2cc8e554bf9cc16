package docker

import (
	"errors"
	"fmt"
)

// ErrUnreachable is returned (wrapped) by [New] when no Docker daemon
// answers.
var ErrUnreachable = errors.New("docker daemon unreachable")

// ErrImageNotFound is returned (wrapped) by [Client.ImageInspect] when the
// image is not present locally.
var ErrImageNotFound = errors.New("image not found")

// ErrPortInUse is returned (wrapped) by [Client.Start] when the requested
// host port is already taken.
var ErrPortInUse = errors.New("host port already in use")

// GPUError is returned by [Client.Start] when the daemon cannot satisfy the
// container's GPU device request ("could not select device driver").
type GPUError struct {
	Driver string // "nvidia" or "cdi", as far as known
	Err    error  // the daemon's error
}

func (e *GPUError) Error() string {
	hint := "install and configure the NVIDIA Container Toolkit " +
		"(nvidia-ctk runtime configure --runtime=docker, then restart dockerd)"
	if e.Driver == "cdi" {
		hint = "generate a CDI spec with `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` " +
			"(NVIDIA Container Toolkit) and make sure CDI is enabled in dockerd"
	}
	return fmt.Sprintf("GPU request not satisfiable by this Docker daemon: %v: %s, or run with --gpus none", e.Err, hint)
}

func (e *GPUError) Unwrap() error { return e.Err }
