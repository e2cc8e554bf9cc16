package lab

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/qwenlab/qwenlab/comfy"
)

func blurWorkflow(t *testing.T) comfy.Workflow {
	t.Helper()
	wf, err := comfy.ParseWorkflow([]byte(`{
	  "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
	  "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 3, "sigma": 1.0}},
	  "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "blur", "flag": true}}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	return wf
}

func TestVaryValues(t *testing.T) {
	wf := blurWorkflow(t)
	tests := []struct {
		spec string
		max  *big.Float
		want []any
	}{
		{"2.blur_radius", nil, []any{json.Number("3"), json.Number("4"), json.Number("5")}},
		{"2.blur_radius", big.NewFloat(4), []any{json.Number("3"), json.Number("4"), json.Number("1")}}, // past max: counts down
		{"2.sigma", nil, []any{json.Number("1.0"), json.Number("1.000001"), json.Number("1.000002")}},
		{"2.sigma", big.NewFloat(1), []any{json.Number("1.0"), json.Number("0.999999"), json.Number("0.999998")}},
		{"3.filename_prefix", nil, []any{"blur", "blur #1", "blur #2"}},
	}
	for _, tt := range tests {
		v, err := newVaried(tt.spec, wf, "workflow w.json")
		if err != nil {
			t.Fatalf("%s: %v", tt.spec, err)
		}
		v.max = tt.max
		for i, want := range tt.want {
			if got := v.value(uint64(i)); got != want {
				t.Errorf("%s max %v: value(%d) = %#v, want %#v", tt.spec, tt.max, i, got, want)
			}
		}
	}
}

// A FLOAT input written without a fraction (sigma: 1) still takes tiny steps once
// /object_info says it is a FLOAT, not integer steps.
func TestVaryFloatWrittenAsInteger(t *testing.T) {
	wf := blurWorkflow(t)
	wf["2"].Inputs["sigma"] = json.Number("1")
	v, err := newVaried("2.sigma", wf, "w")
	if err != nil {
		t.Fatal(err)
	}
	info := comfy.ObjectInfo{"ImageBlur": {Required: map[string]comfy.InputSpec{"sigma": {Type: "FLOAT"}}}}
	if err := v.check(wf, info); err != nil {
		t.Fatal(err)
	}
	if got := v.value(2); got != json.Number("1.000002") {
		t.Errorf("value(2) = %v, want 1.000002", got)
	}
}

func TestVaryRejects(t *testing.T) {
	wf := blurWorkflow(t)
	for spec, want := range map[string]string{
		"2":              `--vary "2": want NODE.INPUT`,
		".sigma":         `want NODE.INPUT`,
		"9.sigma":        "--vary 9.sigma: workflow w.json has no node 9",
		"2.strength":     `--vary 2.strength: node 2 (ImageBlur) has no input "strength"`,
		"2.image":        `input "image" of node 2 is a link`,
		"3.flag":         `is a boolean; --vary changes a number or a string`,
		"2.sigma.extra":  `has no input "sigma.extra"`,
		"1.batch_size.x": `has no input "batch_size.x"`,
	} {
		_, err := newVaried(spec, wf, "workflow w.json")
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrUsage) {
			t.Errorf("--vary %s: err = %v, want a usage error containing %q", spec, err, want)
		}
	}
}

func TestVaryCheckAgainstServer(t *testing.T) {
	wf := blurWorkflow(t)
	info := comfy.ObjectInfo{
		"ImageBlur": {Required: map[string]comfy.InputSpec{"sigma": {Type: "FLOAT", Max: big.NewFloat(10)}, "blur_radius": {Type: "COMBO"}}},
		"SaveImage": {Required: map[string]comfy.InputSpec{"filename_prefix": {Type: "INT"}}},
	}
	for spec, want := range map[string]string{
		"2.blur_radius":     "ImageBlur.blur_radius is of type COMBO; --vary changes an INT, FLOAT or STRING input",
		"3.filename_prefix": `the workflow's value blur does not fit the input's type INT`,
		"3.flag":            "", // rejected before: not a number or string
	} {
		v, err := newVaried(spec, wf, "w")
		if want == "" {
			if err == nil {
				t.Errorf("--vary %s accepted", spec)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		err = v.check(wf, info)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrUsage) {
			t.Errorf("--vary %s: check = %v, want a usage error containing %q", spec, err, want)
		}
	}
	wf["2"].Inputs["blur_radius"] = json.Number("3")
	v, _ := newVaried("2.sigma", wf, "w")
	if err := v.check(wf, info); err != nil || v.max == nil || !v.float {
		t.Errorf("2.sigma: check = %v, max %v, float %v; want nil, 10, true", err, v.max, v.float)
	}
}

// The plan sends the --vary value with the same sequence as the seeds: a seed sent again
// (the determinism check) sends the same value again.
func TestPlanVaryFollowsSeeds(t *testing.T) {
	p := &plan{wf: blurWorkflow(t), base: 100}
	var err error
	if p.vary, err = newVaried("2.blur_radius", p.wf, "w"); err != nil {
		t.Fatal(err)
	}
	if got := p.withSeed(102)["2"].Inputs["blur_radius"]; got != json.Number("5") {
		t.Errorf("seed 102 sends blur_radius %v, want 5", got)
	}
	if got := p.wf["2"].Inputs["blur_radius"]; got != json.Number("3") {
		t.Errorf("the plan's own workflow changed: blur_radius %v", got)
	}
	if p.varyValue(102) != p.varyValue(102) {
		t.Error("the same seed gave different values")
	}
}
