package lab

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/scenarios"
)

// varyStep is what --vary adds per prompt to a FLOAT input: small enough not to change the
// work, large enough to change ComfyUI's cache key (which compares input values).
const varyStep = 1e-6

// varied is the --vary input of a plan: an input of a workflow without a seed that gets a new
// value for every prompt, so ComfyUI's execution cache never serves a warm run.
type varied struct {
	scenarios.Target
	base any // the workflow's own value: json.Number or string
	// min and max are the input's bounds from /object_info (nil: none or not yet known).
	min, max *big.Float
	// float: the input is a FLOAT (from /object_info, else from how the value is written).
	float bool
}

// newVaried parses --vary NODE.INPUT against the workflow: the node exists and the input is
// a literal number or string (not a link).
func newVaried(spec string, wf comfy.Workflow, source string) (*varied, error) {
	node, input, ok := strings.Cut(spec, ".")
	if !ok || node == "" || input == "" {
		return nil, usagef("--vary %q: want NODE.INPUT (a node id of the workflow and one of its inputs, e.g. 3.sigma)", spec)
	}
	n, ok := wf[node]
	if !ok {
		return nil, usagef("--vary %s: %s has no node %s", spec, source, node)
	}
	v, ok := n.Inputs[input]
	if !ok {
		return nil, usagef("--vary %s: node %s (%s) has no input %q in %s", spec, node, n.ClassType, input, source)
	}
	if _, _, link := comfy.IsLink(v); link {
		return nil, usagef("--vary %s: input %q of node %s is a link to another node, not a value: name a literal input", spec, input, node)
	}
	switch v.(type) {
	case json.Number, string:
	default:
		return nil, usagef("--vary %s: input %q of node %s is %s; --vary changes a number or a string", spec, input, node, jsonKindOf(v))
	}
	num, _ := v.(json.Number)
	return &varied{Target: scenarios.Target{Node: node, Input: input}, base: v, float: strings.ContainsAny(string(num), ".eE")}, nil
}

func jsonKindOf(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// check validates the input against the server's catalogue: it must be an INT, FLOAT or
// STRING input (a combo's values are a fixed list); its bounds are kept for the sequence.
func (v *varied) check(wf comfy.Workflow, info comfy.ObjectInfo) error {
	class := wf[v.Node].ClassType
	ni, ok := info[class]
	if !ok {
		return nil // comfy.Preflight reports the unknown class
	}
	spec, ok := ni.Input(v.Input)
	if !ok {
		return usagef("--vary %s.%s: %s has no input %q on this server", v.Node, v.Input, class, v.Input)
	}
	_, isNum := v.base.(json.Number)
	switch {
	case spec.Type == "INT" && isNum, spec.Type == "FLOAT" && isNum, spec.Type == "STRING" && !isNum:
	case spec.Type == "INT" || spec.Type == "FLOAT" || spec.Type == "STRING":
		return usagef("--vary %s.%s: the workflow's value %v does not fit the input's type %s", v.Node, v.Input, v.base, spec.Type)
	default:
		return usagef("--vary %s.%s: %s.%s is of type %s; --vary changes an INT, FLOAT or STRING input", v.Node, v.Input, class, v.Input, spec.Type)
	}
	v.min, v.max, v.float = spec.Min, spec.Max, spec.Type == "FLOAT"
	return nil
}

// value is what prompt i (0 for the first) sends: integers base+i (base−i where that would
// pass the input's max), floats base ± i·1e-6 likewise, strings base + " #i". Prompt 0 sends
// the workflow's own value.
func (v *varied) value(i uint64) any {
	switch b := v.base.(type) {
	case string:
		if i == 0 {
			return b
		}
		return b + " #" + strconv.FormatUint(i, 10)
	case json.Number:
		if i == 0 {
			return b
		}
		if n, ok := new(big.Int).SetString(string(b), 10); ok && !v.float {
			up := new(big.Int).Add(n, new(big.Int).SetUint64(i))
			if v.max != nil && new(big.Float).SetInt(up).Cmp(v.max) > 0 {
				up.Sub(n, new(big.Int).SetUint64(i))
			}
			return json.Number(up.String())
		}
		f, err := b.Float64()
		if err != nil {
			return b
		}
		x := f + float64(i)*varyStep
		if v.max != nil {
			if mx, _ := v.max.Float64(); x > mx {
				x = f - float64(i)*varyStep
			}
		}
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64))
	}
	return v.base
}
