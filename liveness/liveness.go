// Package liveness names the qwenlab process that owns a run and tells, later and from
// another process, whether that owner is still running: a run whose owner is alive is live
// and `qwenlab cleanup` leaves it alone; one whose owner is gone was abandoned.
//
// An owner is "HOST PID START": the host name, the process id and the process's start time
// in clock ticks since boot (/proc/PID/stat field 22), so a process id reused by another
// process after a reboot or wrap-around does not look like the owner.
package liveness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// State is what is known about an owner.
type State int

const (
	// Unknown: the owner runs on another host (or says nothing), so this host cannot tell.
	Unknown State = iota
	// Alive: the owning process is still running on this host.
	Alive
	// Dead: the owning process is gone; what it made was abandoned.
	Dead
)

func (s State) String() string {
	switch s {
	case Alive:
		return "live"
	case Dead:
		return "abandoned"
	}
	return "unknown"
}

// Self returns the owner string of the calling process.
func Self() string {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return fmt.Sprintf("%s %d %s", cleanHost(host), pid, startTime(pid))
}

// Check says whether the process named by owner (from [Self]) still runs.
func Check(owner string) State {
	f := strings.Fields(owner)
	if len(f) != 3 {
		return Unknown
	}
	host, _ := os.Hostname()
	if f[0] != cleanHost(host) {
		return Unknown
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid <= 0 {
		return Unknown
	}
	st := startTime(pid)
	switch {
	case st == "-":
		return Dead // no such process
	case st != f[2]:
		return Dead // the id now belongs to another process
	}
	return Alive
}

// startTime reads field 22 of /proc/PID/stat, or "-" when the process does not exist.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "-"
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "-"
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 { // fields 3.. follow; start time is field 22
		return "-"
	}
	return fields[19]
}

func cleanHost(h string) string {
	h = strings.Join(strings.Fields(h), "_")
	if h == "" {
		return "localhost"
	}
	return h
}
