package comfy

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// Problem is one reason a workflow would not run on a server.
type Problem struct {
	NodeID, ClassType, Input string // Input is "" for problems of the whole node or graph
	Message                  string // what is wrong and what to do
}

func (p Problem) String() string {
	var b strings.Builder
	if p.NodeID != "" {
		b.WriteString("node " + p.NodeID)
		if p.ClassType != "" {
			b.WriteString(" (" + p.ClassType + ")")
		}
		if p.Input != "" {
			b.WriteString(" input " + p.Input)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// PreflightError lists every problem Preflight found.
type PreflightError struct{ Problems []Problem }

// Error has one line per problem.
func (e *PreflightError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// ModelFiles lists the model files a workflow's core loaders name, as paths under the models
// folder ("diffusion_models/x.safetensors"), sorted and without duplicates: what a models
// folder must hold for the graph to pass the preflight. Linked (non-literal) inputs are
// skipped. Names are as written in the file: callers check them before using them as paths.
func ModelFiles(w Workflow) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range w.ids() {
		n := w[id]
		for input, v := range n.Inputs {
			dir := modelFolder(n.ClassType, input)
			name, ok := v.(string)
			if dir == "" || !ok || name == "" {
				continue
			}
			p := strings.TrimPrefix(dir, "models/") + "/" + name
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out
}

// modelFolder names the models/ folder behind the file picker input of a core loader, or "".
func modelFolder(class, input string) string {
	switch class + "." + input {
	case "UNETLoader.unet_name", "UnetLoaderGGUF.unet_name":
		return "models/diffusion_models"
	case "CLIPLoader.clip_name", "DualCLIPLoader.clip_name1", "DualCLIPLoader.clip_name2", "TripleCLIPLoader.clip_name1", "TripleCLIPLoader.clip_name2", "TripleCLIPLoader.clip_name3":
		return "models/text_encoders"
	case "VAELoader.vae_name":
		return "models/vae"
	case "CheckpointLoaderSimple.ckpt_name", "CheckpointLoader.ckpt_name", "ImageOnlyCheckpointLoader.ckpt_name":
		return "models/checkpoints"
	case "LoraLoader.lora_name", "LoraLoaderModelOnly.lora_name":
		return "models/loras"
	case "ControlNetLoader.control_net_name", "DiffControlNetLoader.control_net_name":
		return "models/controlnet"
	case "CLIPVisionLoader.clip_name":
		return "models/clip_vision"
	case "UpscaleModelLoader.model_name":
		return "models/upscale_models"
	case "StyleModelLoader.style_model_name":
		return "models/style_models"
	}
	return ""
}

// placeholders are node classes that no ComfyUI provides (no core node, no published custom
// node), with what to use instead.
var placeholders = map[string]string{
	"QwenT2IWrapper": "not a ComfyUI node: no ComfyUI and no published custom node provides it (the only public copy is a placeholder that paints a gradient, so it would measure nothing); use --scenario qwen-image-t2i, the native Qwen-Image graph (UNETLoader, CLIPLoader, VAELoader, KSampler)",
}

// StaticCheck finds what is wrong with a workflow without asking a server: nodes that no
// ComfyUI provides. It returns nil or a *[PreflightError], so a run can refuse the workflow
// before anything is started or timed.
func StaticCheck(w Workflow) error {
	var ps []Problem
	for _, id := range w.ids() {
		if hint := placeholders[w[id].ClassType]; hint != "" {
			ps = append(ps, Problem{NodeID: id, ClassType: w[id].ClassType, Message: hint})
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return &PreflightError{Problems: ps}
}

// Preflight checks a workflow against a server's /object_info before anything is timed. It
// returns nil or a *[PreflightError] listing every problem: unknown node classes, combo values
// (model files) the server does not offer, missing required inputs, links to unknown nodes or
// builtinNodes are node classes every ComfyUI has: one missing is no custom node to install.
var builtinNodes = map[string]bool{
	"KSampler": true, "KSamplerAdvanced": true, "CheckpointLoaderSimple": true, "CLIPTextEncode": true,
	"VAEDecode": true, "VAEEncode": true, "VAELoader": true, "SaveImage": true, "PreviewImage": true,
	"EmptyLatentImage": true, "UNETLoader": true, "CLIPLoader": true, "LoadImage": true, "ImageScale": true,
}

// outputs, values outside min/max, links whose output type does not fit the input, and a graph
// without an output node.
func Preflight(w Workflow, info ObjectInfo) error {
	if len(info) == 0 {
		return fmt.Errorf("preflight: the server lists no node classes at all (/object_info is empty): it is not a working ComfyUI, or it failed to load its nodes; see its log")
	}
	var ps []Problem
	add := func(id, class, input, format string, args ...any) {
		ps = append(ps, Problem{NodeID: id, ClassType: class, Input: input, Message: fmt.Sprintf(format, args...)})
	}
	hasOutput := false
	for _, id := range w.ids() {
		n := w[id]
		ni, known := info[n.ClassType]
		switch {
		case n.ClassType == "":
			add(id, "", "", "the node has no class_type; every node needs the name of its node class")
			continue
		case !known && placeholders[n.ClassType] != "":
			add(id, n.ClassType, "", "%s", placeholders[n.ClassType])
			continue
		case !known && builtinNodes[n.ClassType]:
			add(id, n.ClassType, "", "node class %q is built into ComfyUI, but this server does not list it: its nodes failed to load or it is not ComfyUI; see its log", n.ClassType)
			continue
		case !known:
			add(id, n.ClassType, "", "node class %q does not exist on this server; install the custom node that provides it (and restart ComfyUI) or remove the node", n.ClassType)
			continue
		}
		if ni.OutputNode {
			hasOutput = true
		}
		for _, name := range ni.RequiredOrder {
			if _, ok := n.Inputs[name]; !ok {
				spec := ni.Required[name]
				add(id, n.ClassType, name, "required input is missing; add %q (%s) to the node's inputs", name, describeType(spec))
			}
		}
		for _, name := range sortedKeys(n.Inputs) {
			spec, declared := ni.Input(name)
			if !declared {
				continue // ComfyUI ignores inputs a node does not declare
			}
			v := n.Inputs[name]
			if src, out, ok := IsLink(v); ok {
				checkLink(w, info, id, n.ClassType, name, spec, src, out, add)
				continue
			}
			checkValue(id, n.ClassType, name, spec, v, add)
		}
	}
	if len(w) > 0 && !hasOutput && !anyUnknown(w, info) {
		ps = append(ps, Problem{Message: "prompt has no outputs: add an output node such as SaveImage (ComfyUI runs only what feeds an output node)"})
	}
	if len(w) == 0 {
		ps = append(ps, Problem{Message: "prompt has no outputs: the workflow is empty"})
	}
	if len(ps) == 0 {
		return nil
	}
	return &PreflightError{Problems: ps}
}

func anyUnknown(w Workflow, info ObjectInfo) bool {
	for _, n := range w {
		if _, ok := info[n.ClassType]; !ok {
			return true
		}
	}
	return false
}

type addFunc func(id, class, input, format string, args ...any)

func checkLink(w Workflow, info ObjectInfo, id, class, name string, spec InputSpec, src string, out int, add addFunc) {
	sn, ok := w[src]
	if !ok {
		add(id, class, name, "links to node %q, which is not in the workflow; add that node or fix the link", src)
		return
	}
	si, ok := info[sn.ClassType]
	if !ok {
		return // reported as an unknown class
	}
	if out >= len(si.Output) {
		add(id, class, name, "links to output %d of node %s (%s), which has %d output(s); use an index below %d", out, src, sn.ClassType, len(si.Output), len(si.Output))
		return
	}
	got := si.Output[out]
	if !typesFit(got, spec.Type) {
		add(id, class, name, "expects %s but is linked to output %d of node %s (%s), which gives %s; link an output of type %s", spec.Type, out, src, sn.ClassType, got, spec.Type)
	}
}

// typesFit follows ComfyUI's validate_node_input: "*" matches anything, and comma-separated
// unions match when every received type is accepted.
func typesFit(got, want string) bool {
	if got == "" || want == "" || got == "*" || want == "*" || got == want {
		return true
	}
	if want == "COMBO" || got == "COMBO" {
		return true // a combo fed from a node output is checked at run time
	}
	accepted := map[string]bool{}
	for _, t := range strings.Split(want, ",") {
		accepted[strings.TrimSpace(t)] = true
	}
	if accepted["*"] {
		return true
	}
	for _, t := range strings.Split(got, ",") {
		if !accepted[strings.TrimSpace(t)] {
			return false
		}
	}
	return true
}

func checkValue(id, class, name string, spec InputSpec, v any, add addFunc) {
	switch spec.Type {
	case "COMBO":
		if spec.Remote {
			return
		}
		s, ok := comboString(v)
		if !ok {
			add(id, class, name, "expects one of a list of values, got %s", describeValue(v))
			return
		}
		for _, o := range spec.Options {
			if o == s {
				return
			}
		}
		folder := modelFolder(class, name)
		if folder == "" && looksLikeModelFile(s) {
			folder = "the models folder"
		}
		if folder != "" {
			add(id, class, name, "%q is not in %s (found: %s); put the file there (or point --models at a folder that has it) or pick one of the files found", s, folder, listOptions(spec.Options))
			return
		}
		add(id, class, name, "%q is not a valid choice (valid: %s)", s, listOptions(spec.Options))
	case "INT", "FLOAT":
		f, ok := numberValue(v)
		if !ok {
			add(id, class, name, "expects a number (%s), got %s", spec.Type, describeValue(v))
			return
		}
		if spec.Type == "INT" && !f.IsInt() {
			add(id, class, name, "expects a whole number (INT), got %s", f.Text('g', 20))
			return
		}
		if spec.Min != nil && f.Cmp(spec.Min) < 0 {
			add(id, class, name, "value %s is smaller than the minimum %s; use a value in [%s, %s]", numText(f), numText(spec.Min), numText(spec.Min), rangeEnd(spec.Max))
		}
		if spec.Max != nil && f.Cmp(spec.Max) > 0 {
			add(id, class, name, "value %s is bigger than the maximum %s; use a value in [%s, %s]", numText(f), numText(spec.Max), rangeStart(spec.Min), numText(spec.Max))
		}
	}
}

func rangeEnd(f *big.Float) string {
	if f == nil {
		return "∞"
	}
	return numText(f)
}

func rangeStart(f *big.Float) string {
	if f == nil {
		return "-∞"
	}
	return numText(f)
}

func numText(f *big.Float) string {
	if f.IsInt() {
		i, _ := f.Int(nil)
		return i.String()
	}
	return f.Text('g', 17)
}

func comboString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	}
	return "", false
}

// numberValue converts a literal the way ComfyUI's int()/float() would accept it.
func numberValue(v any) (*big.Float, bool) {
	var text string
	switch x := v.(type) {
	case json.Number:
		text = x.String()
	case float64:
		return new(big.Float).SetPrec(bigPrec).SetFloat64(x), true
	case int:
		return new(big.Float).SetPrec(bigPrec).SetInt64(int64(x)), true
	case int64:
		return new(big.Float).SetPrec(bigPrec).SetInt64(x), true
	case uint64:
		return new(big.Float).SetPrec(bigPrec).SetUint64(x), true
	case bool:
		if x {
			return big.NewFloat(1), true
		}
		return big.NewFloat(0), true
	case string:
		text = strings.TrimSpace(x)
	default:
		return nil, false
	}
	f, _, err := big.ParseFloat(text, 10, bigPrec, big.ToNearestEven)
	if err != nil || f.IsInf() {
		return nil, false
	}
	return f, true
}

func looksLikeModelFile(s string) bool {
	l := strings.ToLower(s)
	for _, e := range []string{".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx"} {
		if strings.HasSuffix(l, e) {
			return true
		}
	}
	return false
}

func listOptions(opts []string) string {
	if len(opts) == 0 {
		return "none"
	}
	const show = 8
	if len(opts) <= show {
		return strings.Join(opts, ", ")
	}
	return strings.Join(opts[:show], ", ") + fmt.Sprintf(", … and %d more", len(opts)-show)
}

func describeType(s InputSpec) string {
	if s.Type == "COMBO" {
		return "one of: " + listOptions(s.Options)
	}
	if s.Type == "" {
		return "a value"
	}
	return s.Type
}

func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case bool:
		return fmt.Sprintf("%t", x)
	}
	return fmt.Sprintf("%v", v)
}
