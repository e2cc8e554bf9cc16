package lab

import (
	"context"
	"strings"
	"testing"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/liveness"
)

// The start-up warning tells another run that is going right now (its qwenlab process is
// alive) from resources abandoned by a crashed one (issue 10, item 5).
func TestWarnLeftoversLiveVersusAbandoned(t *testing.T) {
	e := newFakeEngine()
	e.foreign = []docker.Resource{
		{Kind: "container", ID: "c1", RunID: "liverun", Owner: liveness.Self()},
		{Kind: "container", ID: "c2", RunID: "deadrun", Owner: "somehost 1 1"},
		{Kind: "container", ID: "c3", RunID: "oldrun"},
	}
	r := newRun(testConfig(), Deps{Engine: e})
	r.warnLeftovers(context.Background())
	w := strings.Join(r.warnings, "\n")
	if !strings.Contains(w, "another qwenlab run is going on this engine right now (liverun)") {
		t.Errorf("no live-run warning:\n%s", w)
	}
	if !strings.Contains(w, "left by earlier qwenlab runs (deadrun, oldrun)") || strings.Contains(w, "earlier qwenlab runs (liverun") {
		t.Errorf("abandoned runs misreported:\n%s", w)
	}
}
