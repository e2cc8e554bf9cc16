package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/scenarios"
)

// ErrUsage marks errors in what the user asked for (a flag value), as opposed to what
// happened: the CLI exits 2 on them.
var ErrUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// plan is the workflow a run sends, with where its seed goes.
type plan struct {
	wf     comfy.Workflow
	seed   scenarios.Target // Node == "": no seed input found
	vary   *varied          // --vary: nil when not given
	base   uint64           // the base seed: prompt i gets base+i
	params map[string]any   // the scenario's named parameters, as sent
	sha    string
	models []string
	// placeholders are the model files --workflow's loaders name: the simulator gets them as
	// placeholder files (a scenario's are its models).
	placeholders []string
}

// CheckPlan parses the scenario's (or --workflow's) graph and applies the --set overrides
// as a run would, without starting anything: the CLI calls it to refuse bad input before
// anything runs or any report is written.
//
// An embedded scenario that fails the static check (seed-plan, kept as specified) is not the
// user's input: that is left to the run, which records it in the report.
func CheckPlan(cfg Config) error {
	_, err := newPlan(cfg)
	return userPlanError(cfg, err)
}

// userPlanError is newPlan's error as the user's input: nil for an embedded scenario that
// fails the static check (the run records that in its report).
func userPlanError(cfg Config, err error) error {
	var se *staticError
	if errors.As(err, &se) && cfg.WorkflowPath == "" && cfg.Scenario.File() == "" {
		return nil
	}
	return err
}

// staticError is a graph that fails comfy.StaticCheck.
type staticError struct{ err error }

func (e *staticError) Error() string { return e.err.Error() }
func (e *staticError) Unwrap() error { return e.err }

// newPlan parses the scenario's (or --workflow's) graph and applies --set overrides.
// Every problem is a *UsageError-free plain error naming the file or flag: nothing has
// started yet when it fails.
func newPlan(cfg Config) (*plan, error) {
	raw := []byte(cfg.Scenario.Workflow)
	source := "scenario " + cfg.Scenario.Name
	if cfg.WorkflowPath != "" {
		b, err := os.ReadFile(cfg.WorkflowPath)
		if err != nil {
			return nil, fmt.Errorf("read workflow %s: %w", cfg.WorkflowPath, err)
		}
		raw, source = b, "workflow "+cfg.WorkflowPath
	}
	wf, err := comfy.ParseWorkflow(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	p := &plan{wf: wf, params: map[string]any{}, models: cfg.Scenario.Models}
	targets := cfg.Scenario.Params
	if cfg.WorkflowPath != "" {
		targets = inferParams(wf) // a user graph: find the usual parameters from its sampler
		p.models = nil
		// The simulator's placeholders: the files the graph's loaders name. They come from a
		// file the user may have downloaded, so they may not leave the models folder.
		for _, m := range comfy.ModelFiles(wf) {
			if err := scenarios.CheckRelPath(m); err != nil {
				return nil, usagef("workflow %s: model %q: %v", cfg.WorkflowPath, m, err)
			}
			p.placeholders = append(p.placeholders, m)
		}
	}
	names := make([]string, 0, len(cfg.Params))
	for n := range cfg.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t, ok := targets[name]
		if !ok {
			known := make([]string, 0, len(targets))
			for k := range targets {
				known = append(known, k)
			}
			sort.Strings(known)
			if len(known) == 0 {
				return nil, usagef("--set %s: this workflow has no named parameters; edit the workflow file instead", name)
			}
			return nil, usagef("--set %s: unknown parameter; %s has %s", name, source, strings.Join(known, ", "))
		}
		node, ok := wf[t.Node]
		if !ok {
			return nil, usagef("--set %s: %s has no node %s", name, source, t.Node)
		}
		node.Inputs[t.Input] = inputValue(cfg.Params[name])
	}
	if t, ok := targets["seed"]; ok {
		p.seed = t
	} else {
		p.seed = findSeed(wf)
	}
	for name, t := range targets {
		if n, ok := wf[t.Node]; ok {
			if v, ok := n.Inputs[t.Input]; ok {
				p.params[name] = v
			}
		}
	}
	delete(p.params, "seed") // the graph's own seed is replaced by the base seed and its successors
	if p.seed.Node != "" {
		p.params["seed"] = json.Number(strconv.FormatUint(cfg.Seed, 10))
	}
	p.base = cfg.Seed
	if cfg.Vary != "" {
		if p.vary, err = newVaried(cfg.Vary, wf, source); err != nil {
			return nil, err
		}
	}
	p.sha = wf.SHA256()
	if err := comfy.StaticCheck(wf); err != nil {
		return p, &staticError{fmt.Errorf("%s: %w", source, err)}
	}
	return p, nil
}

// inputValue turns a --set value into what ComfyUI expects: numbers stay numbers, written
// as JSON writes them (the CLI has normalised them; a literal JSON forbids stays text).
func inputValue(s string) any {
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		if jsonLiteral.MatchString(s) {
			return json.Number(s)
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
	}
	if s == "true" || s == "false" {
		return s == "true"
	}
	return s
}

var jsonLiteral = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// findSeed looks for the sampler's seed input in a user workflow: the first (by node id) node
// with a literal "seed" or "noise_seed" input.
func findSeed(wf comfy.Workflow) scenarios.Target {
	ids := make([]string, 0, len(wf))
	for id := range wf {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, in := range []string{"seed", "noise_seed"} {
			v, ok := wf[id].Inputs[in]
			if !ok {
				continue
			}
			if _, _, link := comfy.IsLink(v); !link {
				return scenarios.Target{Node: id, Input: in}
			}
		}
	}
	return scenarios.Target{}
}

// withSeed returns a copy of the workflow with the seed set.
func (p *plan) withSeed(seed uint64) comfy.Workflow {
	w := p.wf.Clone()
	if p.seed.Node != "" {
		w[p.seed.Node].Inputs[p.seed.Input] = json.Number(strconv.FormatUint(seed, 10))
	}
	if p.vary != nil {
		w[p.vary.Node].Inputs[p.vary.Input] = p.varyValue(seed)
	}
	return w
}

// varyValue is the --vary value sent with the prompt of the given seed (nil without --vary):
// the same sequence as the seeds, so a seed sent again sends the same value again.
func (p *plan) varyValue(seed uint64) any {
	if p.vary == nil {
		return nil
	}
	return p.vary.value(seed - p.base)
}

// check validates the graph (and the --vary input) against the live server's /object_info.
func (p *plan) check(info comfy.ObjectInfo) error {
	if err := comfy.Preflight(p.wf, info); err != nil {
		return err
	}
	if p.vary != nil {
		return p.vary.check(p.wf, info)
	}
	return nil
}

// classes are the node classes of the workflow: all a preflight asks the server about.
func (p *plan) classes() []string {
	out := make([]string, 0, len(p.wf))
	for _, n := range p.wf {
		out = append(out, n.ClassType)
	}
	return out
}

// inferParams finds the usual named parameters in a user's workflow by following its sampler
// (the first KSampler-like node by id): seed, steps, cfg on the sampler; width and height on
// the node behind latent_image; prompt and negative on the text nodes behind positive and
// negative. Only literal inputs are offered.
func inferParams(wf comfy.Workflow) map[string]scenarios.Target {
	out := map[string]scenarios.Target{}
	literal := func(id, input string) bool {
		n, ok := wf[id]
		if !ok {
			return false
		}
		v, ok := n.Inputs[input]
		if !ok {
			return false
		}
		_, _, link := comfy.IsLink(v)
		return !link
	}
	put := func(name, id, input string) {
		if _, done := out[name]; !done && literal(id, input) {
			out[name] = scenarios.Target{Node: id, Input: input}
		}
	}
	ids := make([]string, 0, len(wf))
	for id := range wf {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !isSampler(wf[id].ClassType) {
			continue
		}
		put("seed", id, "seed")
		put("seed", id, "noise_seed")
		put("steps", id, "steps")
		put("cfg", id, "cfg")
		follow := func(input string) string {
			src, _, ok := comfy.IsLink(wf[id].Inputs[input])
			if !ok {
				return ""
			}
			return src
		}
		if src := follow("latent_image"); src != "" {
			put("width", src, "width")
			put("height", src, "height")
		}
		if src := follow("positive"); src != "" {
			put("prompt", src, "text")
			put("prompt", src, "prompt")
		}
		if src := follow("negative"); src != "" {
			put("negative", src, "text")
			put("negative", src, "prompt")
		}
		break
	}
	return out
}
