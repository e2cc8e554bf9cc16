package lab

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/comfysim"
)

// realObjectInfoSize is how many node classes real ComfyUI 0.21.0 lists in /object_info.
const realObjectInfoSize = 704

// simAtRealSize runs the simulator with as many node classes as a real install (its 17
// own and fillers).
func simAtRealSize(t testing.TB) string {
	return startSim(t, comfysim.Config{ExtraNodes: realObjectInfoSize - 17})
}

// recording puts a proxy that records the paths asked for in front of base.
func recording(t testing.TB, base string) (string, func() []string) {
	target, _ := url.Parse(base)
	var mu sync.Mutex
	var paths []string
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), paths...) }
}

// TestPreflightAsksOnlyForTheWorkflowsClasses: against a server of real size the live
// preflight reads /object_info/{class} for the workflow's classes, never the whole list, and
// still finds a class the server lacks.
func TestPreflightAsksOnlyForTheWorkflowsClasses(t *testing.T) {
	u, paths := recording(t, simAtRealSize(t))
	cfg := testConfig()
	cfg.URL = u
	r := newRun(cfg, Deps{})
	var err error
	if r.plan, err = newPlan(cfg); err != nil {
		t.Fatal(err)
	}
	c, err := comfy.NewClient(u, comfy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := r.livePreflight(context.Background(), c); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	asked := map[string]bool{}
	for _, p := range paths() {
		if p == "/object_info" {
			t.Errorf("the preflight read the whole /object_info")
		}
		if class, ok := strings.CutPrefix(p, "/object_info/"); ok {
			asked[class] = true
		}
	}
	for _, class := range r.plan.classes() {
		if !asked[class] {
			t.Errorf("class %s not asked for (asked %v)", class, asked)
		}
	}
	if len(asked) >= 20 {
		t.Errorf("asked for %d classes, the workflow has fewer", len(asked))
	}

	for id, n := range r.plan.wf {
		if n.ClassType == "KSampler" {
			n.ClassType = "NoSuchSampler"
			r.plan.wf[id] = n
		}
	}
	err = r.livePreflight(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "NoSuchSampler") {
		t.Errorf("preflight with a class the server lacks: %v", err)
	}
}

// BenchmarkPreflight704 is the live preflight against the simulator at the size of real
// ComfyUI 0.21.0's /object_info (704 classes): "full" reads /object_info as qwenlab did
// before, "per-class" asks /object_info/{class} for the workflow's classes, concurrently.
//
//	go test ./lab -run '^$' -bench Preflight704 -benchtime 50x
func BenchmarkPreflight704(b *testing.B) {
	u := simAtRealSize(b)
	cfg := testConfig()
	p, err := newPlan(cfg)
	if err != nil {
		b.Fatal(err)
	}
	c, err := comfy.NewClient(u, comfy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			info, err := c.ObjectInfo(ctx)
			if err != nil || len(info) != realObjectInfoSize {
				b.Fatalf("%d classes, %v", len(info), err)
			}
			if err := p.check(info); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("per-class", func(b *testing.B) {
		for b.Loop() {
			info, err := c.ObjectInfoFor(ctx, p.classes())
			if err != nil {
				b.Fatal(err)
			}
			if err := p.check(info); err != nil {
				b.Fatal(err)
			}
		}
	})
}
