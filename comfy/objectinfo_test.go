package comfy

import (
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// dumpObjectInfo renders a catalogue as stable text for golden comparison.
func dumpObjectInfo(info ObjectInfo) string {
	var b strings.Builder
	classes := make([]string, 0, len(info))
	for c := range info {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	num := func(f *big.Float) string {
		if f == nil {
			return "-"
		}
		return numText(f)
	}
	for _, c := range classes {
		n := info[c]
		fmt.Fprintf(&b, "%s name=%q display=%q category=%q output_node=%v output=%v\n", c, n.Name, n.DisplayName, n.Category, n.OutputNode, n.Output)
		for _, group := range []struct {
			kind  string
			order []string
			specs map[string]InputSpec
		}{{"required", n.RequiredOrder, n.Required}, {"optional", n.OptionalOrder, n.Optional}} {
			for _, name := range group.order {
				s := group.specs[name]
				fmt.Fprintf(&b, "  %s %s: %s", group.kind, name, s.Type)
				if s.Type == "COMBO" {
					fmt.Fprintf(&b, " %q", s.Options)
				}
				if s.Min != nil || s.Max != nil {
					fmt.Fprintf(&b, " [%s, %s]", num(s.Min), num(s.Max))
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func TestDecodeObjectInfoGolden(t *testing.T) {
	info, err := DecodeObjectInfo(readFile(t, "testdata/object_info_qwen.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := dumpObjectInfo(info)
	const golden = "testdata/object_info_qwen.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := string(readFile(t, golden))
	if got != want {
		_ = os.WriteFile(golden+".got", []byte(got), 0o644)
		t.Errorf("decoded object_info differs from %s (see %s.got); rerun with -update if intended", golden, golden)
	}
}

func TestDecodeObjectInfoShapes(t *testing.T) {
	info, err := DecodeObjectInfo(readFile(t, "testdata/object_info_qwen.json"))
	if err != nil {
		t.Fatal(err)
	}
	seed := info["KSampler"].Required["seed"]
	maxSeed, _ := new(big.Int).SetString("18446744073709551615", 10)
	if seed.Type != "INT" || seed.Max == nil || !seed.Max.IsInt() {
		t.Fatalf("seed spec = %+v", seed)
	}
	if got, _ := seed.Max.Int(nil); got.Cmp(maxSeed) != 0 {
		t.Errorf("seed max = %s, want 18446744073709551615 exactly", got)
	}
	// V1 bare-list combo with an options dict.
	if s := info["KSampler"].Required["sampler_name"]; s.Type != "COMBO" || len(s.Options) != 6 || s.Options[0] != "euler" {
		t.Errorf("sampler_name = %+v", s)
	}
	// V1 combo as a 1-element array (no options dict), here empty: no model files.
	if s := info["UNETLoader"].Required["unet_name"]; s.Type != "COMBO" || s.Options == nil || len(s.Options) != 0 {
		t.Errorf("unet_name = %#v", s)
	}
	// V3 combo: ["COMBO", {"options": [...]}].
	if s := info["ImageScaleToTotalPixels"].Required["upscale_method"]; s.Type != "COMBO" || len(s.Options) != 5 || s.Options[4] != "lanczos" {
		t.Errorf("upscale_method = %+v", s)
	}
	// V3 nulls: display_name null, optional null.
	if n := info["EmptySD3LatentImage"]; n.DisplayName != "" || len(n.Optional) != 0 || n.Required["width"].Min.Cmp(big.NewFloat(16)) != 0 {
		t.Errorf("EmptySD3LatentImage = %+v", n)
	}
	if !info["SaveImage"].OutputNode || info["KSampler"].OutputNode {
		t.Error("output_node not decoded")
	}
	if got := info["CLIPLoader"].OptionalOrder; len(got) != 1 || got[0] != "device" {
		t.Errorf("optional order = %v", got)
	}
}

func TestDecodeObjectInfoOrderWithoutInputOrder(t *testing.T) {
	info, err := DecodeObjectInfo([]byte(`{"X": {"input": {"required": {"zeta": ["INT"], "alpha": ["FLOAT", {"min": -1.5}], "mid": "STRING"}}, "output": [["a", "b"], "IMAGE"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	x := info["X"]
	if strings.Join(x.RequiredOrder, ",") != "zeta,alpha,mid" {
		t.Errorf("order = %v, want the reply's key order", x.RequiredOrder)
	}
	if x.Name != "X" || strings.Join(x.Output, ",") != "COMBO,IMAGE" || x.Required["mid"].Type != "STRING" {
		t.Errorf("X = %+v", x)
	}
	if x.Required["alpha"].Min.Cmp(big.NewFloat(-1.5)) != 0 || x.Required["alpha"].Max != nil {
		t.Errorf("alpha = %+v", x.Required["alpha"])
	}
}

func TestDecodeObjectInfoErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"A": 5}`, `{"A": {}} trailing`, `{"A": {"input": {"required": [1]}}}`, `{`} {
		if _, err := DecodeObjectInfo([]byte(in)); err == nil {
			t.Errorf("DecodeObjectInfo(%q) succeeded", in)
		}
	}
	if info, err := DecodeObjectInfo([]byte(`{}`)); err != nil || len(info) != 0 {
		t.Errorf("empty catalogue: %v, %v", info, err)
	}
}

func loadQwen(t testing.TB) (Workflow, ObjectInfo) {
	t.Helper()
	w, err := ParseWorkflow(readFile(t, "testdata/qwen_image_t2i_api.json"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := DecodeObjectInfo(readFile(t, "testdata/object_info_qwen.json"))
	if err != nil {
		t.Fatal(err)
	}
	return w, info
}

func preflightProblems(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var pe *PreflightError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %T %v, want *PreflightError", err, err)
	}
	if got := strings.Count(pe.Error(), "\n") + 1; got != len(pe.Problems) {
		t.Errorf("Error() has %d lines for %d problems", got, len(pe.Problems))
	}
	return pe.Problems
}

func TestPreflightQwenMissingModels(t *testing.T) {
	w, info := loadQwen(t)
	ps := preflightProblems(t, Preflight(w, info))
	want := []struct{ node, input, text string }{
		{"37", "unet_name", `"qwen_image_fp8_e4m3fn.safetensors" is not in models/diffusion_models (found: none)`},
		{"38", "clip_name", `"qwen_2.5_vl_7b_fp8_scaled.safetensors" is not in models/text_encoders (found: none)`},
		{"39", "vae_name", `"qwen_image_vae.safetensors" is not in models/vae (found: pixel_space)`},
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), Preflight(w, info))
	}
	// Problems come in node id order: 37, 38, 39.
	for i, wp := range want {
		if ps[i].NodeID != wp.node || ps[i].Input != wp.input || !strings.Contains(ps[i].Message, wp.text) {
			t.Errorf("problem %d = %+v, want node %s input %s with %q", i, ps[i], wp.node, wp.input, wp.text)
		}
	}
	// With the files present, the same graph passes.
	for class, input := range map[string]string{"UNETLoader": "unet_name", "CLIPLoader": "clip_name", "VAELoader": "vae_name"} {
		n := info[class]
		s := n.Required[input]
		s.Options = append(s.Options, w.nodeWith(class).Inputs[input].(string))
		n.Required[input] = s
	}
	if err := Preflight(w, info); err != nil {
		t.Errorf("with the model files present: %v", err)
	}
}

func (w Workflow) nodeWith(class string) Node {
	for _, id := range w.ids() {
		if w[id].ClassType == class {
			return w[id]
		}
	}
	return Node{}
}

func TestPreflightSeedPlan(t *testing.T) {
	w, err := ParseWorkflow(readFile(t, "testdata/seed-plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, info := loadQwen(t)
	err = Preflight(w, info)
	ps := preflightProblems(t, err)
	var wrapper, ckpt bool
	for _, p := range ps {
		if p.NodeID == "6" && p.ClassType == "QwenT2IWrapper" {
			wrapper = true
			for _, s := range []string{"not a ComfyUI node", "paints a gradient", "--scenario qwen-image-t2i"} {
				if !strings.Contains(p.Message, s) {
					t.Errorf("wrapper message %q lacks %q", p.Message, s)
				}
			}
		}
		if p.NodeID == "3" && p.Input == "ckpt_name" && strings.Contains(p.Message, "models/checkpoints") {
			ckpt = true
		}
	}
	if !wrapper || !ckpt {
		t.Errorf("want problems for node 6 (QwenT2IWrapper) and node 3's ckpt_name; got:\n%v", err)
	}
	if !strings.Contains(err.Error(), "node 6 (QwenT2IWrapper): not a ComfyUI node") {
		t.Errorf("Error() = %q", err)
	}
}

func TestPreflightChecks(t *testing.T) {
	_, info := loadQwen(t)
	parse := func(s string) Workflow {
		t.Helper()
		w, err := ParseWorkflow([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	tests := []struct {
		name string
		wf   string
		want []string // one substring per expected problem, in order
	}{
		{"unknown class", `{"1": {"class_type": "FancyNode", "inputs": {}}, "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}`,
			[]string{`node 1 (FancyNode): node class "FancyNode" does not exist on this server; install the custom node`}},
		{"missing required", `{"1": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}, "2": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 0]}}, "3": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}, "4": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}}}`,
			[]string{`node 1 (SaveImage) input filename_prefix: required input is missing`}},
		{"out of range", `{"1": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 8, "height": 20000, "batch_size": "2"}}, "2": {"class_type": "VAEDecode", "inputs": {"samples": ["1", 0], "vae": ["3", 0]}}, "3": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}}, "4": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}}`,
			[]string{"input height: value 20000 is bigger than the maximum 16384", "input width: value 8 is smaller than the minimum 16"}},
		{"seed max ok, above fails", `{"1": {"class_type": "KSampler", "inputs": {"seed": 18446744073709551616, "steps": 1.5, "cfg": "abc", "sampler_name": "euler", "scheduler": "bogus", "denoise": 1, "model": ["2", 0], "positive": ["3", 0], "negative": ["3", 0], "latent_image": ["4", 0]}}, "2": {"class_type": "UNETLoader", "inputs": {"unet_name": "x.safetensors", "weight_dtype": "default"}}, "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a", "clip": ["5", 0]}}, "4": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}, "5": {"class_type": "CLIPLoader", "inputs": {"clip_name": "c.safetensors", "type": "qwen_image"}}, "6": {"class_type": "VAEDecode", "inputs": {"samples": ["1", 0], "vae": ["7", 0]}}, "7": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}}, "8": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "x"}}}`,
			[]string{"input cfg: expects a number (FLOAT)", `input scheduler: "bogus" is not a valid choice (valid: simple, sgm_uniform`, "input seed: value 18446744073709551616 is bigger than the maximum 18446744073709551615", "input steps: expects a whole number", "node 2 (UNETLoader) input unet_name", "node 5 (CLIPLoader) input clip_name"}},
		{"type mismatch", `{"1": {"class_type": "UNETLoader", "inputs": {"unet_name": "x", "weight_dtype": "default"}}, "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}`,
			[]string{`"x" is not in models/diffusion_models`, "node 2 (SaveImage) input images: expects IMAGE but is linked to output 0 of node 1 (UNETLoader), which gives MODEL"}},
		{"output index", `{"1": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}}, "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 3], "filename_prefix": "x"}}}`,
			[]string{"links to output 3 of node 1 (VAELoader), which has 1 output(s)"}},
		{"no outputs", `{"1": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}}`,
			[]string{"prompt has no outputs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Preflight(parse(tt.wf), info)
			ps := preflightProblems(t, err)
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(ps[i].String(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ps[i].String(), w)
				}
			}
		})
	}
}

func TestPreflightLinkToMissingNode(t *testing.T) {
	// A hand-built workflow (not from ParseWorkflow) can hold a dangling link.
	_, info := loadQwen(t)
	w := Workflow{"1": {ClassType: "SaveImage", Inputs: map[string]any{"images": []any{"9", 0}, "filename_prefix": "x"}}}
	ps := preflightProblems(t, Preflight(w, info))
	if len(ps) != 1 || !strings.Contains(ps[0].Message, `links to node "9", which is not in the workflow`) {
		t.Errorf("problems = %+v", ps)
	}
}

func TestTypesFit(t *testing.T) {
	for _, tt := range []struct {
		got, want string
		fit       bool
	}{
		{"IMAGE", "IMAGE", true}, {"MASK", "IMAGE", false}, {"IMAGE", "*", true}, {"*", "MODEL", true},
		{"IMAGE", "IMAGE,MASK", true}, {"IMAGE,MASK", "IMAGE", false}, {"", "IMAGE", true},
	} {
		if typesFit(tt.got, tt.want) != tt.fit {
			t.Errorf("typesFit(%q, %q) = %v", tt.got, tt.want, !tt.fit)
		}
	}
}

// A server whose /object_info is empty is not told to install a custom node for KSampler,
// nor is one that lacks only a node every ComfyUI has (issue 10, item 15).
func TestPreflightEmptyOrBrokenServer(t *testing.T) {
	w := Workflow{"3": {ClassType: "KSampler", Inputs: map[string]any{"seed": 1}}, "9": {ClassType: "SaveImage", Inputs: map[string]any{}}}
	err := Preflight(w, ObjectInfo{})
	if err == nil || !strings.Contains(err.Error(), "/object_info is empty") || strings.Contains(err.Error(), "install the custom node") {
		t.Errorf("empty object_info: %v", err)
	}
	err = Preflight(w, ObjectInfo{"SaveImage": {OutputNode: true}})
	if err == nil || !strings.Contains(err.Error(), "built into ComfyUI") || strings.Contains(err.Error(), "install the custom node") {
		t.Errorf("KSampler missing: %v", err)
	}
}
