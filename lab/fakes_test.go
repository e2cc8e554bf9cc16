package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/scenarios"
)

// fakeEngine is a hand-written Docker Engine: it records calls, serves scripted log lines and
// can make the container "exit" on cue.
type fakeEngine struct {
	mu        sync.Mutex
	calls     []string
	specs     []docker.Spec
	live      map[string]bool
	n         int
	logLines  []string
	createErr error
	startErr  error
	removeErr error
	stopErr   error             // returned by Stop (an engine that cannot be reached)
	exit      chan docker.State // a value sent here ends the current container
	images    map[string]docker.Image
	stopped   map[string]chan struct{} // closed by Stop: ends that container's log stream
	foreign   []docker.Resource        // left by other (crashed) runs
	aliveErr  error                    // returned by Alive (an engine shutting down)
	exited    atomic.Bool              // Inspect says the container exited
	// blockOn makes the named calls ("stop", "remove", "list") wait until their context
	// ends (a frozen engine); deadlines records the deadline each of those calls was given.
	blockOn   map[string]bool
	deadlines []time.Time
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		live:     map[string]bool{},
		exit:     make(chan docker.State, 1),
		logLines: []string{"Total VRAM 81079 MB, total RAM 2051800 MB", "ComfyUI version: 0.21.0", "Starting server", "", "To see the GUI go to: http://0.0.0.0:8188"},
		images:   map[string]docker.Image{},
		stopped:  map[string]chan struct{}{},
	}
}

func (f *fakeEngine) record(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func (f *fakeEngine) called(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if len(c) >= len(prefix) && c[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

func (f *fakeEngine) Info(context.Context) (docker.Info, error) {
	return docker.Info{ServerVersion: "20.10.24", APIVersion: "1.41", Runtimes: []string{"runc"}, DefaultRuntime: "runc"}, nil
}

func (f *fakeEngine) ImageInspect(_ context.Context, ref string) (docker.Image, error) {
	f.record("inspect-image %s", ref)
	if img, ok := f.images[ref]; ok {
		return img, nil
	}
	return docker.Image{}, fmt.Errorf("image %s: %w", ref, docker.ErrImageNotFound)
}

func (f *fakeEngine) Pull(_ context.Context, ref string, _ func(docker.PullProgress)) error {
	f.record("pull %s", ref)
	return errors.New("no registry here")
}

func (f *fakeEngine) Create(_ context.Context, s docker.Spec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		f.calls = append(f.calls, "create failed")
		return "", f.createErr
	}
	f.n++
	id := fmt.Sprintf("c%d", f.n)
	f.specs = append(f.specs, s)
	f.live[id] = true
	f.stopped[id] = make(chan struct{})
	f.calls = append(f.calls, "create "+id)
	return id, nil
}

func (f *fakeEngine) Start(_ context.Context, id string) error {
	f.record("start %s", id)
	return f.startErr
}

func (f *fakeEngine) Inspect(context.Context, string) (docker.State, error) {
	if f.exited.Load() {
		return docker.State{Status: "exited", FinishedAt: time.Now()}, nil
	}
	return docker.State{Running: true, Status: "running", HostPort: 40123}, nil
}

func (f *fakeEngine) WaitExit(ctx context.Context, id string) <-chan docker.State {
	c := make(chan docker.State, 1)
	go func() {
		defer close(c)
		select {
		case st := <-f.exit:
			c <- st
		case <-ctx.Done():
		}
	}()
	return c
}

func (f *fakeEngine) FollowLogs(ctx context.Context, id string, fn func(docker.LogLine)) error {
	for _, l := range f.logLines {
		fn(docker.LogLine{Time: time.Now(), Stream: "stderr", Text: l})
	}
	f.mu.Lock()
	stopped := f.stopped[id]
	f.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-stopped:
	}
	return nil
}

func (f *fakeEngine) StreamStats(ctx context.Context, id string, fn func(docker.Stats)) error {
	fn(docker.Stats{Time: time.Now(), CPUPercent: 50, MemUsed: 1 << 30, MemLimit: 8 << 30})
	<-ctx.Done()
	return nil
}

// frozen blocks a call of a frozen engine until its context ends, and records its deadline.
func (f *fakeEngine) frozen(ctx context.Context, call string) error {
	f.mu.Lock()
	block := f.blockOn[call]
	if dl, ok := ctx.Deadline(); ok {
		f.deadlines = append(f.deadlines, dl)
	} else {
		f.deadlines = append(f.deadlines, time.Time{})
	}
	f.mu.Unlock()
	if !block {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeEngine) Alive(context.Context) error { return f.aliveErr }

func (f *fakeEngine) Stop(ctx context.Context, id string, _ time.Duration) error {
	f.record("stop %s", id)
	if err := f.frozen(ctx, "stop"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.stopped[id]; ok {
		select {
		case <-c:
		default:
			close(c)
		}
	}
	return f.stopErr
}

func (f *fakeEngine) Remove(ctx context.Context, id string) error {
	f.record("remove %s", id)
	if err := f.frozen(ctx, "remove"); err != nil {
		return err
	}
	if f.removeErr != nil {
		return f.removeErr
	}
	f.mu.Lock()
	delete(f.live, id)
	f.mu.Unlock()
	return nil
}

func (f *fakeEngine) ListLabelled(ctx context.Context, runID string) ([]docker.Resource, error) {
	if runID != "" {
		if err := f.frozen(ctx, "list"); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []docker.Resource
	if runID == "" {
		out = append(out, f.foreign...)
	}
	for id := range f.live {
		out = append(out, docker.Resource{Kind: "container", ID: id, RunID: "run1"})
	}
	return out, nil
}

// fakeComfy is a hand-written ComfyUI: it executes the workflow's nodes in key order with a
// classic cache keyed by the seed, and can fail, hang or lag on cue.
type fakeComfy struct {
	mu         sync.Mutex
	readyIn    int // Ready fails this many times first
	info       comfy.ObjectInfo
	seen       map[string]bool
	prompts    []comfy.Workflow
	failAt     map[int]error // prompt index -> error
	block      bool          // Run blocks until ctx ends
	lag        time.Duration // client-side delivery lag added after the server's end
	server     time.Duration // server-side execution time
	ignoreSeed bool
	closed     bool
	failing    func(idx int) // called as prompt idx fails (failAt)
}

func newFakeComfy(wf comfy.Workflow) *fakeComfy {
	info := comfy.ObjectInfo{}
	for _, n := range wf {
		info[n.ClassType] = comfy.NodeInfo{Name: n.ClassType, OutputNode: n.ClassType == "SaveImage"}
	}
	return &fakeComfy{info: info, seen: map[string]bool{}, failAt: map[int]error{}, server: 20 * time.Millisecond}
}

func (c *fakeComfy) Ready(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readyIn > 0 {
		c.readyIn--
		return errors.New("connection refused")
	}
	return nil
}

func (c *fakeComfy) SystemStats(context.Context) (comfy.SystemStats, error) {
	return comfy.SystemStats{System: comfy.System{ComfyUIVersion: "0.21.0"}}, nil
}

func (c *fakeComfy) ObjectInfoFor(_ context.Context, classes []string) (comfy.ObjectInfo, error) {
	out := comfy.ObjectInfo{}
	for _, class := range classes {
		if ni, ok := c.info[class]; ok {
			out[class] = ni
		}
	}
	return out, nil
}

func (c *fakeComfy) Close() error { c.closed = true; return nil }

func (c *fakeComfy) Run(ctx context.Context, w comfy.Workflow) (*comfy.Result, error) {
	c.mu.Lock()
	idx := len(c.prompts)
	c.prompts = append(c.prompts, w)
	key := w.SHA256()
	if c.ignoreSeed {
		key = "same"
	}
	cached := c.seen[key]
	c.seen[key] = true
	failErr := c.failAt[idx]
	block := c.block
	c.mu.Unlock()

	res := &comfy.Result{PromptID: fmt.Sprintf("p%d", idx), Submit: time.Now(), Status: "success"}
	if block {
		<-ctx.Done()
		res.Status = "interrupted"
		return res, ctx.Err()
	}
	now := time.Now()
	res.Started = now.Add(time.Millisecond)
	res.ServerStartMS = now.UnixMilli()
	res.ServerEndMS = res.ServerStartMS + c.server.Milliseconds()
	t := res.Started
	for _, id := range sortedIDs(w) {
		if cached {
			res.Cached = append(res.Cached, id)
			continue
		}
		n := comfy.NodeRun{ID: id, ClassType: w[id].ClassType, Start: t, End: t.Add(2 * time.Millisecond)}
		if w[id].ClassType == "KSampler" {
			for i := 0; i < 4; i++ {
				n.Ticks = append(n.Ticks, t.Add(time.Duration(i)*25*time.Millisecond))
			}
			n.Max = 4
		}
		res.Nodes = append(res.Nodes, n)
		t = n.End
	}
	res.ImageAt = res.Started.Add(c.server)
	res.End = res.Started.Add(c.server + c.lag)
	if failErr != nil {
		if c.failing != nil {
			c.failing(idx)
		}
		res.Status = "error"
		return res, failErr
	}
	return res, nil
}

func sortedIDs(w comfy.Workflow) []string {
	ids := make([]string, 0, len(w))
	for id := range w {
		ids = append(ids, id)
	}
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			if ids[j] < ids[i] {
				ids[i], ids[j] = ids[j], ids[i]
			}
		}
	}
	return ids
}

// testConfig is a small, fast plan against the embedded Qwen-Image scenario.
func testConfig() Config {
	c := Defaults()
	c.RunID = "run1"
	c.Runs = 3
	c.Image = ""
	c.GPUs = "none"
	c.Scenario, _ = scenarios.Lookup("qwen-image-t2i")
	c.StartTimeout = 5 * time.Second
	c.TeardownTimeout = 5 * time.Second
	return c
}

func testDeps(e *fakeEngine, c *fakeComfy) Deps {
	e.images["qwenlab-sim:test"] = docker.Image{Ref: "qwenlab-sim:test", ID: "sha256:abc", Size: 17 << 20}
	return Deps{
		Engine:    e,
		Dial:      func(string) (Comfy, error) { return c, nil },
		SimImage:  func(context.Context) (string, error) { return "qwenlab-sim:test", nil },
		GPUReason: "no NVML in tests",
	}
}

func lookup(name string) (scenarios.Scenario, error) { return scenarios.Lookup(name) }

func comfyNumber(s string) any { return jsonNumber(s) }

func jsonNumber(s string) json.Number { return json.Number(s) }

// lineTo writes each progress event as a plain line to w (safe for concurrent use).
func lineTo(w io.Writer) func(Event) {
	var mu sync.Mutex
	return func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(w, ev.String())
	}
}
