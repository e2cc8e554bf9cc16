package comfysim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"time"
)

// errInterrupted is raised at an interrupt check (node start or sampler step).
var errInterrupted = errors.New("processing interrupted")

// nodeError is a Python exception raised by a node at run time.
type nodeError = pyExc

// queueItem is one queued prompt: [number, prompt_id, prompt, extra_data, outputs].
type queueItem struct {
	number  any     // int or pyFloat, as the client sees it
	key     float64 // heap priority
	seq     int
	id      string
	graph   *graph
	extra   obj
	outputs []string
}

func (it *queueItem) view() []any {
	return []any{it.number, it.id, it.graph.raw, it.extra, it.outputs}
}

func (it *queueItem) clientID() (string, bool) {
	v, ok := it.extra.get("client_id")
	if !ok || v == nil {
		return "", false
	}
	if s, ok := v.(string); ok {
		return s, true
	}
	return pyStrValue(v), true
}

func itemLess(a, b *queueItem) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	if a.id != b.id {
		return a.id < b.id
	}
	return a.seq < b.seq
}

// heap operations on s.pending (kept in Python heapq order, which /queue shows).
func heapPush(h []*queueItem, it *queueItem) []*queueItem {
	h = append(h, it)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !itemLess(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func heapPop(h []*queueItem) (*queueItem, []*queueItem) {
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	heapDown(h, 0)
	return top, h
}

func heapDown(h []*queueItem, i int) {
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && itemLess(h[l], h[m]) {
			m = l
		}
		if r < len(h) && itemLess(h[r], h[m]) {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func heapify(h []*queueItem) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		heapDown(h, i)
	}
}

// cacheEntry is one node result in the classic cache.
type cacheEntry struct {
	outputs []any
	ui      obj
}

// execState is the state of the prompt being executed.
type execState struct {
	item      *queueItem
	client    string
	hasClient bool
	sigs      map[string]string
	messages  []any
	progress  obj // node id -> progress entry, in start order
	executed  []string
	ui        obj
	meta      obj
	steps     int // sampler steps done in this prompt (for faults)
}

func nowMillis() int64 { return time.Now().UnixMilli() }

func (s *Server) addMessage(st *execState, event string, data obj, broadcast bool) {
	st.messages = append(st.messages, []any{event, data})
	if st.hasClient || broadcast {
		s.hub.send(event, data, st.client, st.hasClient)
	}
}

func (s *Server) sendProgressState(st *execState) {
	nodes := make(obj, len(st.progress))
	copy(nodes, st.progress)
	for i := range nodes {
		nodes[i].V = append(obj(nil), nodes[i].V.(obj)...)
	}
	s.hub.send("progress_state", obj{{"prompt_id", st.item.id}, {"nodes", nodes}}, st.client, st.hasClient)
}

func (st *execState) progressEntry(id string, value, maxv any, state string) obj {
	return obj{{"value", value}, {"max", maxv}, {"state", state}, {"node_id", id}, {"prompt_id", st.item.id},
		{"display_node_id", id}, {"parent_node_id", nil}, {"real_node_id", id}}
}

// signature is the classic cache key of a node: class, constant inputs and, recursively,
// the signatures of its ancestors (inputs sorted by name, as ComfyUI does).
func (s *Server) signature(g *graph, id string, memo map[string]string, visiting map[string]bool) string {
	if sig, ok := memo[id]; ok {
		return sig
	}
	if visiting[id] {
		return "cycle:" + id
	}
	visiting[id] = true
	defer delete(visiting, id)
	var b strings.Builder
	ct, _ := g.classType(id)
	b.WriteString(ct)
	inputs, _ := g.inputs(id)
	for _, k := range sortedKeys(inputs) {
		v, _ := inputs.get(k)
		b.WriteString("|" + k + "=")
		if from, sock, ok := link(v); ok {
			if _, exists := g.nodes[from]; exists {
				fmt.Fprintf(&b, "L(%s)#%d", s.signature(g, from, memo, visiting), sock)
				continue
			}
		}
		j, _ := json.Marshal(v)
		b.Write(j)
	}
	sum := sha256.Sum256([]byte(b.String()))
	sig := hex.EncodeToString(sum[:])
	memo[id] = sig
	return sig
}

// execList is ComfyUI's ExecutionList: a topological sort over the uncached part of the
// graph with the ux_friendly_pick_node order.
type execList struct {
	g          *graph
	cached     func(string) bool
	isOutput   func(string) bool
	pending    []string
	inPending  map[string]bool
	blockCount map[string]int
	blocking   map[string][]string
}

func (l *execList) addNode(id string) {
	stack := []string{id}
	type lk struct{ from, to string }
	var links []lk
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if l.inPending[u] {
			continue
		}
		l.inPending[u] = true
		l.pending = append(l.pending, u)
		l.blockCount[u] = 0
		l.blocking[u] = nil
		inputs, _ := l.g.inputs(u)
		for _, m := range inputs {
			if from, _, ok := link(m.V); ok {
				if !l.cached(from) {
					stack = append(stack, from)
				}
				links = append(links, lk{from, u})
			}
		}
	}
	for _, k := range links {
		if !l.cached(k.from) {
			l.addNode(k.from)
			if !contains(l.blocking[k.from], k.to) {
				l.blocking[k.from] = append(l.blocking[k.from], k.to)
				l.blockCount[k.to]++
			}
		}
	}
}

func (l *execList) pick() (string, bool) {
	var ready []string
	for _, id := range l.pending {
		if l.blockCount[id] == 0 {
			ready = append(ready, id)
		}
	}
	if len(ready) == 0 {
		return "", false
	}
	for _, id := range ready {
		if l.isOutput(id) {
			return id, true
		}
	}
	for _, id := range ready {
		for _, b := range l.blocking[id] {
			if l.isOutput(b) {
				return id, true
			}
		}
	}
	for _, id := range ready {
		for _, b := range l.blocking[id] {
			for _, b1 := range l.blocking[b] {
				if l.isOutput(b1) {
					return id, true
				}
			}
		}
	}
	return ready[0], true
}

func (l *execList) pop(id string) {
	delete(l.inPending, id)
	for i, p := range l.pending {
		if p == id {
			l.pending = append(l.pending[:i], l.pending[i+1:]...)
			break
		}
	}
	for _, b := range l.blocking[id] {
		l.blockCount[b]--
	}
	delete(l.blocking, id)
}

// execute runs one prompt to its end (success, error or interrupt). It returns the history
// status and false when ctx ended it.
func (s *Server) execute(ctx context.Context, it *queueItem) (*execState, string, bool) {
	st := &execState{item: it, sigs: map[string]string{}, ui: obj{}, meta: obj{}}
	st.client, st.hasClient = it.clientID()
	s.interrupt.Store(false)

	s.mu.Lock()
	s.currentClient, s.hasCurrentClient = st.client, st.hasClient
	s.lastNode = ""
	visiting := map[string]bool{}
	keep := map[string]bool{}
	for _, id := range it.graph.order {
		keep[s.signature(it.graph, id, st.sigs, visiting)] = true
	}
	for k := range s.cache {
		if !keep[k] {
			delete(s.cache, k)
		}
	}
	var cached []string
	for _, id := range it.graph.order {
		if s.cache[st.sigs[id]] != nil {
			cached = append(cached, id)
		}
	}
	s.mu.Unlock()
	if cached == nil {
		cached = []string{}
	}

	s.addMessage(st, "execution_start", obj{{"prompt_id", it.id}, {"timestamp", nowMillis()}}, false)
	s.addMessage(st, "execution_cached", obj{{"nodes", cached}, {"prompt_id", it.id}, {"timestamp", nowMillis()}}, false)

	isCached := func(id string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.cache[st.sigs[id]] != nil
	}
	l := &execList{g: it.graph, cached: isCached, inPending: map[string]bool{}, blockCount: map[string]int{},
		blocking: map[string][]string{}, isOutput: func(id string) bool {
			ct, _ := it.graph.classType(id)
			d := s.defs[ct]
			return d != nil && d.outputNode
		}}
	for _, o := range it.outputs {
		l.addNode(o)
	}
	for len(l.pending) > 0 {
		id, ok := l.pick()
		if !ok {
			s.executionError(st, l.pending[0], &pyExc{"DependencyCycleError", "Dependency cycle detected"}, nil)
			return st, "error", true
		}
		res := s.runNode(ctx, st, id)
		switch res {
		case runOK:
			l.pop(id)
		case runFailed:
			return st, "error", true
		case runShutdown:
			return st, "error", false
		}
	}
	s.addMessage(st, "execution_success", obj{{"prompt_id", it.id}, {"timestamp", nowMillis()}}, false)
	return st, "success", true
}

type runResult int

const (
	runOK runResult = iota
	runFailed
	runShutdown
)

func (s *Server) runNode(ctx context.Context, st *execState, id string) runResult {
	it := st.item
	ct, _ := it.graph.classType(id)
	def := s.defs[ct]
	sig := st.sigs[id]
	s.mu.Lock()
	ce := s.cache[sig]
	s.mu.Unlock()
	if ce != nil {
		if st.hasClient {
			var out any
			if ce.ui != nil {
				out = ce.ui
			}
			s.hub.send("executed", obj{{"node", id}, {"display_node", id}, {"output", out}, {"prompt_id", it.id}}, st.client, true)
		}
		if ce.ui != nil {
			st.ui.set(id, ce.ui)
			st.meta.set(id, obj{{"node_id", id}, {"display_node", id}, {"parent_node", nil}, {"real_node_id", id}})
		}
		st.progress.set(id, st.progressEntry(id, 1, 1, "finished"))
		s.sendProgressState(st)
		return runOK
	}

	st.progress.set(id, st.progressEntry(id, pyFloat(0), pyFloat(1), "running"))
	s.sendProgressState(st)
	if st.hasClient {
		s.mu.Lock()
		s.lastNode = id
		s.mu.Unlock()
		s.hub.send("executing", obj{{"node", id}, {"display_node", id}, {"prompt_id", it.id}}, st.client, true)
	}
	if s.interrupt.Load() {
		s.interrupted(st, id, ct)
		return runFailed
	}
	in, formatted, exc := s.resolveInputs(st, def, id)
	if exc == nil && s.faults.oomNode != "" && s.faults.oomNode == id {
		exc = oomError()
	}
	var outs []any
	var ui obj
	if exc == nil {
		rc := &runCtx{ctx: ctx, s: s, st: st, id: id}
		var err error
		// --fault slow-node: work without progress and without an interrupt check, as a
		// node that never calls ComfyUI's progress hook does.
		if d := s.faults.slowNodes[id]; d > 0 {
			err = rc.work(d)
		}
		if err == nil {
			outs, ui, err = def.run(rc, in)
		}
		switch {
		case errors.Is(err, errInterrupted):
			s.interrupted(st, id, ct)
			return runFailed
		case ctx.Err() != nil:
			return runShutdown
		case err != nil:
			var pe *pyExc
			if !errors.As(err, &pe) {
				pe = &pyExc{"RuntimeError", err.Error()}
			}
			exc = pe
		}
	}
	if exc != nil {
		s.executionError(st, id, exc, formatted)
		return runFailed
	}
	s.mu.Lock()
	s.cache[sig] = &cacheEntry{outputs: outs, ui: ui}
	s.mu.Unlock()
	st.executed = append(st.executed, id)
	if ui != nil {
		st.ui.set(id, ui)
		st.meta.set(id, obj{{"node_id", id}, {"display_node", id}, {"parent_node", nil}, {"real_node_id", id}})
		if st.hasClient {
			s.hub.send("executed", obj{{"node", id}, {"display_node", id}, {"output", ui}, {"prompt_id", it.id}}, st.client, true)
		}
	}
	e, _ := st.progress.get(id)
	eo := e.(obj)
	maxv, _ := eo.get("max")
	eo.set("value", maxv)
	eo.set("state", "finished")
	s.sendProgressState(st)
	return runOK
}

func oomError() *pyExc {
	return &pyExc{"torch.OutOfMemoryError", "Allocation on device \nThis error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might have accidentally set the batch_size to a large number."}
}

func (s *Server) interrupted(st *execState, id, ct string) {
	s.logf("Processing interrupted")
	s.addMessage(st, "execution_interrupted", obj{{"prompt_id", st.item.id}, {"node_id", id}, {"node_type", ct},
		{"executed", nonNil(st.executed)}, {"timestamp", nowMillis()}}, true)
}

func (s *Server) executionError(st *execState, id string, exc *pyExc, inputs obj) {
	ct, _ := st.item.graph.classType(id)
	tb := []string{
		"  File \"/ComfyUI/execution.py\", line 496, in execute\n    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n",
		fmt.Sprintf("  File \"/ComfyUI/nodes.py\", line 1, in %s\n    simulated by qwenlab comfysim\n", ct),
	}
	s.logf("!!! Exception during processing !!! %s", exc.Msg)
	s.logf("Traceback (most recent call last):")
	for _, line := range tb {
		s.logf("%s", strings.TrimRight(line, "\n"))
	}
	s.logf("%s: %s", exc.Type, exc.Msg)
	if exc.Type == "torch.OutOfMemoryError" {
		s.logf("")
		s.logf("Got an OOM, unloading all loaded models.")
		s.unloadModels()
	}
	if inputs == nil {
		inputs = obj{}
	}
	s.addMessage(st, "execution_error", obj{{"prompt_id", st.item.id}, {"node_id", id}, {"node_type", ct},
		{"executed", nonNil(st.executed)}, {"exception_message", exc.Msg + "\n"}, {"exception_type", exc.Type},
		{"traceback", tb}, {"current_inputs", inputs}, {"current_outputs", st.item.graph.order}, {"timestamp", nowMillis()}}, false)
}

// inputs holds a node's resolved input values.
type inputs map[string]any

// resolveInputs turns constants and links into values, and formats them as
// execution_error's current_inputs does.
func (s *Server) resolveInputs(st *execState, def *nodeDef, id string) (inputs, obj, *pyExc) {
	g := st.item.graph
	raw, exc := g.inputs(id)
	if exc != nil {
		return nil, nil, exc
	}
	in := inputs{}
	formatted := obj{}
	specs := append(append([]inputSpec{}, def.required...), def.optional...)
	for _, spec := range specs {
		v, ok := raw.get(spec.name)
		if !ok {
			continue
		}
		if from, sock, isLink := link(v); isLink {
			s.mu.Lock()
			ce := s.cache[st.sigs[from]]
			s.mu.Unlock()
			if ce == nil || sock < 0 || sock >= len(ce.outputs) {
				return nil, formatted, &pyExc{"KeyError", pyStr(from)}
			}
			v = ce.outputs[sock]
		}
		in[spec.name] = v
		formatted = append(formatted, kv{spec.name, []any{formatValue(v)}})
	}
	for _, h := range def.hidden {
		switch h.K {
		case "prompt":
			in["prompt"] = g.raw
			formatted = append(formatted, kv{"prompt", []any{pyRepr(g.raw)}})
		case "extra_pnginfo":
			x, _ := st.item.extra.get("extra_pnginfo")
			in["extra_pnginfo"] = x
			formatted = append(formatted, kv{"extra_pnginfo", []any{formatValue(x)}})
		}
	}
	return in, formatted, nil
}

// formatValue is execution.py's format_value: plain values as they are, tensors as text.
func formatValue(v any) any {
	switch v := v.(type) {
	case nil, string, bool, pyFloat, *big.Int, json.Number:
		return v
	case *imageT:
		return fmt.Sprintf("tensor(<%d×%d×%d×%d image>)", v.B, v.H, v.W, v.C)
	case *maskT:
		return fmt.Sprintf("tensor(<%d×%d×%d mask>)", v.B, v.H, v.W)
	case *latentT:
		return fmt.Sprintf("{'samples': tensor(<%d×16×%d×%d latent>)}", v.B, v.H/8, v.W/8)
	case *modelT:
		return fmt.Sprintf("<comfy.model_patcher.ModelPatcher object for %s>", v.Name)
	case *clipT:
		return "<comfy.sd.CLIP object>"
	case *vaeT:
		return "<comfy.sd.VAE object>"
	case *condT:
		return "[[tensor(<conditioning>), {'pooled_output': None}]]"
	}
	return pyRepr(v)
}

// runCtx is what a node implementation may use while it runs.
type runCtx struct {
	ctx context.Context
	s   *Server
	st  *execState
	id  string
}

// work spends d of simulated compute time (jittered); only shutdown cuts it short.
func (rc *runCtx) work(d time.Duration) error { return rc.s.sleep(rc.ctx, d) }

// load is "Requested to load <class>": on first use after an unload, log it, spend the
// load time (scaled by frac) and log the load-stat line.
func (rc *runCtx) load(class string, mb float64, frac float64) error {
	s := rc.s
	s.mu.Lock()
	loaded := s.loaded[class] > 0
	s.mu.Unlock()
	if loaded {
		return nil
	}
	s.logf("Requested to load %s", class)
	if err := s.sleep(rc.ctx, time.Duration(float64(s.cfg.LoadTime)*frac)); err != nil {
		return err
	}
	s.logf("%s", loadStatLine(s.cfg.LogFormat, class, mb))
	s.mu.Lock()
	s.loaded[class] = mb
	s.mu.Unlock()
	return nil
}

// step reports sampler progress value/max: an interrupt check, the progress messages and
// the step-based fault modes.
func (rc *runCtx) step(value, maxv int) error {
	s, st := rc.s, rc.st
	st.steps++
	e, _ := st.progress.get(rc.id)
	eo := e.(obj)
	eo.set("value", value)
	eo.set("max", maxv)
	s.sendProgressState(st)
	s.hub.send("progress", obj{{"value", value}, {"max", maxv}, {"prompt_id", st.item.id}, {"node", rc.id}}, st.client, st.hasClient)
	f := s.faults
	if f.dropWSStep > 0 && st.steps == f.dropWSStep && st.hasClient && !s.dropDone.Swap(true) {
		s.hub.drop(st.client)
	}
	if f.crashStep > 0 && st.steps == f.crashStep {
		s.logf("")
		s.logf("Killed (simulated crash after sampler step %d: --fault crash-at-step=%d)", value, f.crashStep)
		s.exit(1)
		<-rc.ctx.Done() // only reached when exit was replaced by a test hook
		return rc.ctx.Err()
	}
	if f.memoryStep > 0 && st.steps == f.memoryStep {
		s.logf("Requested to load QwenImage (simulated: allocating host memory until killed, --fault exhaust-memory-at-step=%d)", f.memoryStep)
		exhaustMemory(rc.ctx)
		return rc.ctx.Err()
	}
	if f.hangStep > 0 && st.steps == f.hangStep {
		s.hub.hold()
		<-rc.ctx.Done()
		return rc.ctx.Err()
	}
	return nil
}

func (s *Server) unloadModels() {
	s.mu.Lock()
	clear(s.loaded)
	s.mu.Unlock()
}

// exhaustMemory touches ever more memory, as a model load into a too-small cgroup does, until
// the kernel's OOM killer ends the process (or ctx ends).
func exhaustMemory(ctx context.Context) {
	var hold [][]byte
	for ctx.Err() == nil {
		b := make([]byte, 16<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hold = append(hold, b)
	}
	runtime.KeepAlive(hold)
}
