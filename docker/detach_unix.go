//go:build unix

package docker

import (
	"os/exec"
	"syscall"
)

// detach puts cmd in a process group of its own, so that a Ctrl-C at the terminal reaches
// qwenlab only.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
