// Package scenarios owns the benchmark scenarios qwenlab knows: the embedded ones and the
// scenario files users write. A scenario is a workflow (ComfyUI API format, kept as raw JSON),
// the named parameters that map onto its node inputs, the model files it needs and optional
// phase budgets.
//
// It imports only the standard library and does not interpret workflows: decoding and
// validation belong to package comfy, running to package lab.
package scenarios

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/qwenlab/qwenlab/internal/jsonpos"
)

//go:embed workflows/*.json
var embedded embed.FS

// Target is where a named parameter lives in the workflow: node id and input name.
type Target struct {
	Node  string `json:"node"`
	Input string `json:"input"`
}

// Scenario is one benchmark definition.
type Scenario struct {
	Name        string
	Description string
	// Source is SourceEmbedded or the path of the scenario file.
	Source string
	// Workflow is the API-format graph as written (the {"prompt": …} wrapper allowed).
	Workflow json.RawMessage
	// Params maps parameter names (width, height, steps, seed, prompt, negative, cfg) to inputs.
	Params map[string]Target
	// Models lists the model files the workflow loads, relative to the models directory
	// (e.g. "diffusion_models/qwen_image_fp8_e4m3fn.safetensors").
	Models []string
	// Budgets are phase budgets as the user wrote them ("model_load=30s").
	Budgets []string
	// Note is shown before the run (e.g. why this scenario cannot work).
	Note string
}

// SourceEmbedded is the Source of a scenario built into qwenlab.
const SourceEmbedded = "embedded"

// File returns the path of the scenario file s was read from, or "" for a built-in one.
func (s Scenario) File() string {
	if s.Source == SourceEmbedded {
		return ""
	}
	return s.Source
}

var qwenParams = map[string]Target{
	"width":    {"58", "width"},
	"height":   {"58", "height"},
	"steps":    {"3", "steps"},
	"seed":     {"3", "seed"},
	"cfg":      {"3", "cfg"},
	"prompt":   {"6", "text"},
	"negative": {"7", "text"},
}

var seedPlanParams = map[string]Target{
	"width":    {"6", "width"},
	"height":   {"6", "height"},
	"steps":    {"6", "steps"},
	"seed":     {"6", "seed"},
	"cfg":      {"6", "cfg_scale"},
	"prompt":   {"6", "prompt"},
	"negative": {"6", "negative_prompt"},
}

func builtin() []Scenario {
	return []Scenario{
		{
			Name:        "qwen-image-t2i",
			Description: "Qwen-Image text-to-image, the native ComfyUI graph (UNETLoader, CLIPLoader, VAELoader, KSampler), 512x512, 25 steps",
			Source:      SourceEmbedded,
			Workflow:    mustRead("workflows/qwen-image-t2i.json"),
			Params:      qwenParams,
			Models: []string{
				"diffusion_models/qwen_image_fp8_e4m3fn.safetensors",
				"text_encoders/qwen_2.5_vl_7b_fp8_scaled.safetensors",
				"vae/qwen_image_vae.safetensors",
			},
		},
		{
			Name:        "seed-plan",
			Description: "the workflow of the original plan (CheckpointLoaderSimple -> QwenT2IWrapper -> SaveImage); QwenT2IWrapper is not a ComfyUI node, so the preflight rejects it",
			Source:      SourceEmbedded,
			Workflow:    mustRead("workflows/seed-plan.json"),
			Params:      seedPlanParams,
			Models:      []string{"checkpoints/Qwen-Image-Edit-2509-FP8/diffusion_pytorch_model.safetensors"},
			Note:        "kept as it was specified; use --scenario qwen-image-t2i for a graph that runs",
		},
	}
}

func mustRead(name string) json.RawMessage {
	b, err := embedded.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("scenarios: embedded %s missing: %v", name, err)) // a build defect, not input
	}
	return b
}

// List returns the embedded scenarios, sorted by name.
func List() []Scenario {
	s := builtin()
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	return s
}

// ErrUnknown is returned by Lookup for a name that is neither embedded nor a file.
var ErrUnknown = errors.New("unknown scenario")

// Lookup returns the embedded scenario called name, or loads name as a scenario file when it
// looks like a path (contains a path separator or ends in .json).
func Lookup(name string) (Scenario, error) {
	for _, s := range builtin() {
		if s.Name == name {
			return s, nil
		}
	}
	if strings.ContainsRune(name, os.PathSeparator) || strings.HasSuffix(name, ".json") {
		return Load(name)
	}
	names := make([]string, 0)
	for _, s := range List() {
		names = append(names, s.Name)
	}
	return Scenario{}, fmt.Errorf("%w %q: known scenarios are %s, or give a scenario file (path ending in .json)", ErrUnknown, name, strings.Join(names, ", "))
}

// fileFormat is the on-disk scenario file.
type fileFormat struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Workflow    json.RawMessage   `json:"workflow"` // an inline API graph, or a path relative to the file
	Params      map[string]Target `json:"params"`
	Models      []string          `json:"models"`
	Budgets     map[string]string `json:"budgets"`
}

// FileError is a problem with a scenario file; its message names the file.
type FileError struct {
	Path   string
	Reason string
}

func (e *FileError) Error() string { return fmt.Sprintf("scenario file %s: %s", e.Path, e.Reason) }

// Load reads a scenario file:
//
//	{"name": "...", "workflow": "graph.json" | {API graph}, "params": {"seed": {"node": "3", "input": "seed"}},
//	 "models": ["diffusion_models/x.safetensors"], "budgets": {"model_load": "30s"}}
func Load(path string) (Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, &FileError{path, fmt.Sprintf("cannot read it: %v", errors.Unwrap(err))}
	}
	return Parse(path, data)
}

// Parse decodes scenario file contents; path names the file in errors and anchors a relative
// workflow path.
func Parse(path string, data []byte) (Scenario, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileFormat
	if err := dec.Decode(&f); err != nil {
		return Scenario{}, &FileError{path, describeJSONError(data, err) + `; expected {"name": ..., "workflow": ..., "params": {...}}`}
	}
	if dec.More() {
		return Scenario{}, &FileError{path, "extra data after the scenario object"}
	}
	if len(bytes.TrimSpace(f.Workflow)) == 0 || string(bytes.TrimSpace(f.Workflow)) == "null" {
		return Scenario{}, &FileError{path, `no "workflow": give an API-format graph inline or a path to one`}
	}
	s := Scenario{Name: f.Name, Description: f.Description, Source: path, Params: f.Params, Models: f.Models}
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	for _, m := range f.Models {
		if err := CheckRelPath(m); err != nil {
			return Scenario{}, &FileError{path, fmt.Sprintf("models entry %q: %v", m, err)}
		}
	}
	var wfPath string
	if json.Unmarshal(f.Workflow, &wfPath) == nil {
		if err := CheckRelPath(wfPath); err != nil {
			return Scenario{}, &FileError{path, fmt.Sprintf("workflow %q: %v", wfPath, err)}
		}
		wfPath = filepath.Join(filepath.Dir(path), filepath.FromSlash(wfPath))
		b, err := os.ReadFile(wfPath)
		if err != nil {
			return Scenario{}, &FileError{path, fmt.Sprintf("workflow %s: %v", wfPath, errors.Unwrap(err))}
		}
		s.Workflow = b
	} else {
		s.Workflow = f.Workflow
	}
	for name, t := range f.Params {
		if t.Node == "" || t.Input == "" {
			return Scenario{}, &FileError{path, fmt.Sprintf(`param %q needs "node" and "input"`, name)}
		}
	}
	keys := make([]string, 0, len(f.Budgets))
	for k := range f.Budgets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.Budgets = append(s.Budgets, k+"="+f.Budgets[k])
	}
	return s, nil
}

// CheckRelPath checks a path that comes from a file a user may have downloaded (a scenario's
// model entries and workflow, a compose file's paths): it must stay inside the folder it is
// resolved against, so it must be relative, slash-separated and free of ".." elements. qwenlab
// creates placeholder files from model entries: a path that escapes would write anywhere.
func CheckRelPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.HasPrefix(p, "/") || filepath.IsAbs(p) || strings.HasPrefix(p, `\`) || (len(p) > 1 && p[1] == ':'):
		return errors.New("absolute paths are not allowed: give a path relative to the folder, e.g. diffusion_models/model.safetensors")
	case strings.ContainsRune(p, '\\') || strings.ContainsRune(p, 0):
		return errors.New("use / to separate folders")
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return errors.New(`".." is not allowed: the path must stay inside its folder`)
		}
	}
	return nil
}

func describeJSONError(data []byte, err error) string {
	var pe *jsonpos.Error
	if errors.As(jsonpos.Locate(data, err), &pe) {
		return "not valid JSON at " + pe.Error()
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "not a scenario object"
		}
		return fmt.Sprintf("field %q has the wrong type (%s, want %s)", te.Field, te.Value, te.Type)
	}
	return err.Error()
}
