package liveness

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestSelfIsAlive(t *testing.T) {
	if Check(Self()) != Alive {
		t.Errorf("Check(Self()) = %v, want live", Check(Self()))
	}
}

// A process that has exited is dead, and so is a process id whose start time differs (the
// id was reused by another process).
func TestDead(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	host, _ := os.Hostname()
	gone := fmt.Sprintf("%s %d 1", cleanHost(host), cmd.Process.Pid)
	if got := Check(gone); got != Dead {
		t.Errorf("exited process: %v, want abandoned", got)
	}
	f := strings.Fields(Self())
	reused := fmt.Sprintf("%s %s %s0", f[0], f[1], f[2])
	if got := Check(reused); got != Dead {
		t.Errorf("same pid, other start time: %v, want abandoned", got)
	}
}

func TestOtherHostIsUnknown(t *testing.T) {
	f := strings.Fields(Self())
	for _, o := range []string{"other-host " + f[1] + " " + f[2], "", "garbage", "h x y"} {
		if got := Check(o); got != Unknown {
			t.Errorf("Check(%q) = %v, want unknown", o, got)
		}
	}
}
