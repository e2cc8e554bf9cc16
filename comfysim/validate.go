package comfysim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// pyExc is a Python exception raised while validating or running a node.
type pyExc struct {
	Type, Msg string
}

func (e *pyExc) Error() string { return e.Type + ": " + e.Msg }

func keyError(k any) *pyExc { return &pyExc{"KeyError", pyRepr(k)} }

// graph is a parsed API-format prompt: node ids in JSON key order.
type graph struct {
	raw   obj
	order []string
	nodes map[string]obj
}

func parseGraph(v any) (*graph, error) {
	o, ok := v.(obj)
	if !ok {
		return nil, fmt.Errorf("prompt is %T, not an object", v)
	}
	g := &graph{raw: o, nodes: map[string]obj{}}
	for _, m := range o {
		n, ok := m.V.(obj)
		if !ok {
			return nil, fmt.Errorf("node %q is not an object", m.K)
		}
		g.order = append(g.order, m.K)
		g.nodes[m.K] = n
	}
	return g, nil
}

func (g *graph) classType(id string) (string, bool) {
	v, ok := g.nodes[id].get("class_type")
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		return pyRepr(v), true
	}
	return s, true
}

func (g *graph) title(id string) (string, bool) {
	m, ok := g.nodes[id].get("_meta")
	if !ok {
		return "", false
	}
	mo, ok := m.(obj)
	if !ok {
		return "", false
	}
	t, ok := mo.get("title")
	if !ok {
		return "", false
	}
	s, ok := t.(string)
	return s, ok
}

func (g *graph) inputs(id string) (obj, *pyExc) {
	v, ok := g.nodes[id].get("inputs")
	if !ok {
		return nil, keyError("inputs")
	}
	o, ok := v.(obj)
	if !ok {
		return nil, &pyExc{"AttributeError", fmt.Sprintf("'%s' object has no attribute 'keys'", pyTypeName(v))}
	}
	return o, nil
}

func pyTypeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case string:
		return "str"
	case json.Number:
		if isFloatNumber(v) {
			return "float"
		}
		return "int"
	case []any:
		return "list"
	case obj:
		return "dict"
	}
	return "object"
}

// link reports whether v is an execution link [node_id(str), socket(int)].
func link(v any) (string, int, bool) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", 0, false
	}
	id, ok := a[0].(string)
	if !ok {
		return "", 0, false
	}
	n, ok := a[1].(json.Number)
	if !ok {
		return "", 0, false
	}
	i, ok := numberInt(n)
	if !ok {
		return "", 0, false
	}
	return id, int(i), true
}

// validation is the outcome of validate_prompt.
type validation struct {
	ok         bool
	err        obj      // top-level error when !ok
	outputs    []string // outputs to execute
	nodeErrors obj
	logs       []string
}

type vResult struct {
	ok      bool
	reasons []any
}

type validator struct {
	s          *Server
	g          *graph
	defs       map[string]*nodeDef
	validated  map[string]vResult
	vorder     []string
	inProgress map[string]bool
}

func (s *Server) validatePrompt(g *graph, partial []string) validation {
	v21 := s.cfg.ComfyVersion != v0364
	var outputs []string
	for _, id := range g.order {
		ct, ok := g.classType(id)
		title, hasTitle := g.title(id)
		if !ok {
			if v21 {
				name := "ID #" + id
				var nt any
				if hasTitle {
					name, nt = title, title
				}
				return validation{err: obj{{"type", "missing_node_type"},
					{"message", fmt.Sprintf("Node '%s' has no class_type. The workflow may be corrupted or a custom node is missing.", name)},
					{"details", fmt.Sprintf("Node ID '#%s'", id)},
					{"extra_info", obj{{"node_id", id}, {"class_type", nil}, {"node_title", nt}}}}, nodeErrors: obj{}}
			}
			return validation{err: obj{{"type", "invalid_prompt"},
				{"message", "Cannot execute because a node is missing the class_type property."},
				{"details", fmt.Sprintf("Node ID '#%s'", id)}, {"extra_info", obj{}}}, nodeErrors: obj{}}
		}
		def := s.defs[ct]
		if def == nil {
			if v21 {
				if !hasTitle {
					title = ct
				}
				return validation{err: obj{{"type", "missing_node_type"},
					{"message", fmt.Sprintf("Node '%s' not found. The custom node may not be installed.", title)},
					{"details", fmt.Sprintf("Node ID '#%s'", id)},
					{"extra_info", obj{{"node_id", id}, {"class_type", ct}, {"node_title", title}}}}, nodeErrors: obj{}}
			}
			return validation{err: obj{{"type", "invalid_prompt"},
				{"message", fmt.Sprintf("Cannot execute because node %s does not exist.", ct)},
				{"details", fmt.Sprintf("Node ID '#%s'", id)}, {"extra_info", obj{}}}, nodeErrors: obj{}}
		}
		if def.outputNode && (partial == nil || contains(partial, id)) {
			outputs = append(outputs, id)
		}
	}
	if len(outputs) == 0 {
		return validation{err: obj{{"type", "prompt_no_outputs"}, {"message", "Prompt has no outputs"},
			{"details", ""}, {"extra_info", obj{}}}, nodeErrors: obj{}}
	}
	vd := &validator{s: s, g: g, defs: s.defs, validated: map[string]vResult{}, inProgress: map[string]bool{}}
	var good []string
	type outErr struct {
		id      string
		reasons []any
	}
	var errs []outErr
	nodeErrors := obj{}
	var logs []string
	for _, o := range outputs {
		r, exc := vd.validateInputs(o)
		if exc != nil {
			r = vResult{false, []any{obj{{"type", "exception_during_validation"},
				{"message", "Exception when validating node"}, {"details", exc.Msg},
				{"extra_info", obj{{"exception_type", exc.Type}, {"traceback", fakeTraceback("validate_inputs")}}}}}}
			vd.store(o, r)
		}
		if r.ok {
			good = append(good, o)
			continue
		}
		if len(r.reasons) > 0 {
			logs = append(logs, fmt.Sprintf("Failed to validate prompt for output %s:", o))
			errs = append(errs, outErr{o, r.reasons})
		}
		for _, id := range vd.vorder {
			res := vd.validated[id]
			if res.ok || len(res.reasons) == 0 {
				continue
			}
			e, found := nodeErrors.get(id)
			if !found {
				ct, _ := g.classType(id)
				e = obj{{"errors", res.reasons}, {"dependent_outputs", []string{}}, {"class_type", ct}}
				nodeErrors = append(nodeErrors, kv{id, e})
				logs = append(logs, fmt.Sprintf("* %s %s:", ct, id))
				for _, reason := range res.reasons {
					ro := reason.(obj)
					m, _ := ro.get("message")
					d, _ := ro.get("details")
					logs = append(logs, fmt.Sprintf("  - %v: %v", m, d))
				}
			}
			eo := e.(obj)
			deps, _ := eo.get("dependent_outputs")
			eo.set("dependent_outputs", append(deps.([]string), o))
		}
		logs = append(logs, "Output will be ignored")
	}
	if len(good) == 0 {
		var lines []string
		for _, e := range errs {
			for _, r := range e.reasons {
				ro := r.(obj)
				m, _ := ro.get("message")
				d, _ := ro.get("details")
				lines = append(lines, fmt.Sprintf("%v: %v", m, d))
			}
		}
		return validation{err: obj{{"type", "prompt_outputs_failed_validation"},
			{"message", "Prompt outputs failed validation"}, {"details", strings.Join(lines, "\n")},
			{"extra_info", obj{}}}, nodeErrors: nodeErrors, logs: logs}
	}
	return validation{ok: true, outputs: good, nodeErrors: nodeErrors, logs: logs}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (vd *validator) store(id string, r vResult) {
	if _, ok := vd.validated[id]; !ok {
		vd.vorder = append(vd.vorder, id)
	}
	vd.validated[id] = r
}

func fakeTraceback(fn string) []string {
	return []string{
		"  File \"/ComfyUI/execution.py\", line 1034, in validate_prompt\n    m = await validate_inputs(prompt_id, prompt, o, validated)\n",
		fmt.Sprintf("  File \"/ComfyUI/execution.py\", line 812, in %s\n    o_class_type = prompt[o_id]['class_type']\n", fn),
	}
}

func inputConfig(d *nodeDef, spec *inputSpec, s *Server) []any {
	opts := spec.opts
	if opts == nil {
		opts = obj{}
	}
	if spec.typ == "COMBO" {
		if d.v3 {
			o := obj{{"options", spec.combo(s)}, {"multiselect", false}}
			return []any{"COMBO", append(o, spec.opts...)}
		}
		return []any{spec.combo(s), opts}
	}
	return []any{spec.typ, opts}
}

func reason(typ, msg, details string, extra obj) obj {
	return obj{{"type", typ}, {"message", msg}, {"details", details}, {"extra_info", extra}}
}

func (vd *validator) validateInputs(id string) (vResult, *pyExc) {
	if r, ok := vd.validated[id]; ok {
		return r, nil
	}
	if vd.inProgress[id] {
		return vResult{}, &pyExc{"RecursionError", "maximum recursion depth exceeded"}
	}
	vd.inProgress[id] = true
	defer delete(vd.inProgress, id)
	inputs, exc := vd.g.inputs(id)
	if exc != nil {
		return vResult{}, exc
	}
	ct, _ := vd.g.classType(id)
	def := vd.defs[ct]
	if def == nil {
		return vResult{}, keyError(ct)
	}
	var errs []any
	valid := true
	specs := append(append([]inputSpec{}, def.required...), def.optional...)
	for i := range specs {
		spec := &specs[i]
		x := spec.name
		val, present := inputs.get(x)
		if !present {
			if i < len(def.required) {
				errs = append(errs, reason("required_input_missing", "Required input is missing", x, obj{{"input_name", x}}))
			}
			continue
		}
		cfg := inputConfig(def, spec, vd.s)
		if a, isList := val.([]any); isList {
			if len(a) != 2 {
				errs = append(errs, reason("bad_linked_input", "Bad linked input, must be a length-2 list of [string, int]", x,
					obj{{"input_name", x}, {"input_config", cfg}, {"received_value", val}}))
				continue
			}
			oid, ok := a[0].(string)
			if !ok {
				return vResult{}, keyError(a[0])
			}
			if _, ok := vd.g.nodes[oid]; !ok {
				return vResult{}, keyError(oid)
			}
			oct, ok := vd.g.classType(oid)
			if !ok {
				return vResult{}, keyError("class_type")
			}
			odef := vd.defs[oct]
			if odef == nil {
				return vResult{}, keyError(oct)
			}
			n, ok := a[1].(json.Number)
			if !ok {
				return vResult{}, &pyExc{"TypeError", fmt.Sprintf("tuple indices must be integers or slices, not %s", pyTypeName(a[1]))}
			}
			idx, ok := numberInt(n)
			if !ok {
				return vResult{}, &pyExc{"TypeError", "tuple indices must be integers or slices, not float"}
			}
			if idx < 0 {
				idx += int64(len(odef.output))
			}
			if idx < 0 || idx >= int64(len(odef.output)) {
				return vResult{}, &pyExc{"IndexError", "tuple index out of range"}
			}
			received := odef.output[idx]
			if !typesCompatible(received, spec.typ) {
				errs = append(errs, reason("return_type_mismatch", "Return type mismatch between linked nodes",
					fmt.Sprintf("%s, received_type(%s) mismatch input_type(%s)", x, received, spec.typ),
					obj{{"input_name", x}, {"input_config", cfg}, {"received_type", received}, {"linked_node", val}}))
				continue
			}
			r, exc := vd.validateInputs(oid)
			if exc != nil {
				valid = false
				vd.store(oid, vResult{false, []any{reason("exception_during_inner_validation", "Exception when validating inner node", exc.Msg,
					obj{{"input_name", x}, {"input_config", cfg}, {"exception_message", exc.Msg}, {"exception_type", exc.Type},
						{"traceback", fakeTraceback("validate_inputs")}, {"linked_node", val}})}})
				continue
			}
			if !r.ok {
				valid = false
			}
			continue
		}
		conv, cerr := convertInput(spec.typ, val)
		if cerr != nil {
			errs = append(errs, reason("invalid_input_type", fmt.Sprintf("Failed to convert an input value to a %s value", spec.typ),
				fmt.Sprintf("%s, %s, %s", x, pyStrValue(val), cerr.Msg),
				obj{{"input_name", x}, {"input_config", cfg}, {"received_value", val}, {"exception_message", cerr.Msg}}))
			continue
		}
		inputs.set(x, conv)
		if mn, ok := spec.opts.get("min"); ok && numLess(conv, mn) {
			errs = append(errs, reason("value_smaller_than_min", fmt.Sprintf("Value %s smaller than min of %s", pyStrValue(conv), pyStrValue(mn)), x,
				obj{{"input_name", x}, {"input_config", cfg}, {"received_value", conv}}))
			continue
		}
		if mx, ok := spec.opts.get("max"); ok && numLess(mx, conv) {
			errs = append(errs, reason("value_bigger_than_max", fmt.Sprintf("Value %s bigger than max of %s", pyStrValue(conv), pyStrValue(mx)), x,
				obj{{"input_name", x}, {"input_config", cfg}, {"received_value", conv}}))
			continue
		}
		if spec.typ == "COMBO" {
			opts := spec.combo(vd.s)
			sv, isStr := conv.(string)
			if !isStr || !contains(opts, sv) {
				listInfo := pyRepr(opts)
				var c any = cfg
				if len(opts) > 20 {
					listInfo = fmt.Sprintf("(list of length %d)", len(opts))
					c = nil
				}
				errs = append(errs, reason("value_not_in_list", "Value not in list",
					fmt.Sprintf("%s: '%s' not in %s", x, pyStrValue(conv), listInfo),
					obj{{"input_name", x}, {"input_config", c}, {"received_value", conv}}))
				continue
			}
		}
	}
	r := vResult{ok: len(errs) == 0 && valid, reasons: errs}
	if r.reasons == nil {
		r.reasons = []any{}
	}
	vd.store(id, r)
	return r, nil
}

// typesCompatible is validate_node_input (non-strict).
func typesCompatible(received, input string) bool {
	if received == input {
		return true
	}
	rs := strings.Split(received, ",")
	is := strings.Split(input, ",")
	for _, r := range rs {
		for _, i := range is {
			r, i := strings.TrimSpace(r), strings.TrimSpace(i)
			if r == "*" || i == "*" || r == i {
				return true
			}
		}
	}
	return false
}

// convertInput applies the int()/float()/str()/bool() conversion validation performs.
// INT values become *big.Int (json-encoded as integers), FLOAT values pyFloat.
func convertInput(typ string, v any) (any, *pyExc) {
	switch typ {
	case "INT":
		switch v := v.(type) {
		case *big.Int:
			return v, nil
		case pyFloat:
			return floatToInt(float64(v))
		case json.Number:
			if i, ok := new(big.Int).SetString(string(v), 10); ok {
				return i, nil
			}
			f, _ := strconv.ParseFloat(string(v), 64)
			return floatToInt(f)
		case bool:
			if v {
				return big.NewInt(1), nil
			}
			return big.NewInt(0), nil
		case string:
			t := strings.ReplaceAll(strings.TrimSpace(v), "_", "")
			if i, ok := new(big.Int).SetString(t, 10); ok && t != "" && !strings.HasPrefix(strings.TrimSpace(v), "_") {
				return i, nil
			}
			return nil, &pyExc{"ValueError", fmt.Sprintf("invalid literal for int() with base 10: %s", pyStr(v))}
		}
		return nil, &pyExc{"TypeError", fmt.Sprintf("int() argument must be a string, a bytes-like object or a real number, not '%s'", pyTypeName(v))}
	case "FLOAT":
		switch v := v.(type) {
		case pyFloat:
			return v, nil
		case *big.Int:
			f, _ := new(big.Float).SetInt(v).Float64()
			return pyFloat(f), nil
		case json.Number:
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil && !math.IsInf(f, 0) {
				return nil, &pyExc{"ValueError", "could not convert string to float: " + pyStr(string(v))}
			}
			return pyFloat(f), nil
		case bool:
			if v {
				return pyFloat(1), nil
			}
			return pyFloat(0), nil
		case string:
			t := strings.ToLower(strings.TrimSpace(v))
			switch t {
			case "inf", "+inf", "infinity", "+infinity":
				return pyFloat(math.Inf(1)), nil
			case "-inf", "-infinity":
				return pyFloat(math.Inf(-1)), nil
			}
			f, err := strconv.ParseFloat(strings.ReplaceAll(t, "_", ""), 64)
			if err != nil || t == "" || strings.HasPrefix(t, "0x") {
				return nil, &pyExc{"ValueError", "could not convert string to float: " + pyStr(v)}
			}
			return pyFloat(f), nil
		}
		return nil, &pyExc{"TypeError", fmt.Sprintf("float() argument must be a string or a real number, not '%s'", pyTypeName(v))}
	case "STRING":
		return pyStrValue(v), nil
	case "BOOLEAN":
		return truthy(v), nil
	}
	return v, nil
}

func floatToInt(f float64) (any, *pyExc) {
	if math.IsInf(f, 0) {
		return nil, &pyExc{"OverflowError", "cannot convert float infinity to integer"}
	}
	if math.IsNaN(f) {
		return nil, &pyExc{"ValueError", "cannot convert float NaN to integer"}
	}
	b, _ := new(big.Float).SetFloat64(math.Trunc(f)).Int(nil)
	return b, nil
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case json.Number:
		f, _ := strconv.ParseFloat(string(v), 64)
		return f != 0
	case []any:
		return len(v) > 0
	case obj:
		return len(v) > 0
	}
	return true
}

// pyStrValue is Python's str() of a value.
func pyStrValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case *big.Int:
		return v.String()
	case int:
		return strconv.Itoa(v)
	}
	return pyRepr(v)
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case *big.Int:
		f, _ := new(big.Float).SetInt(v).Float64()
		return f, true
	case pyFloat:
		return float64(v), true
	case int:
		return float64(v), true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// numLess compares two numeric values exactly when both are integers.
func numLess(a, b any) bool {
	ab, aInt := asBig(a)
	bb, bInt := asBig(b)
	if aInt && bInt {
		return ab.Cmp(bb) < 0
	}
	af, ok1 := toFloat(a)
	bf, ok2 := toFloat(b)
	if ok1 && ok2 {
		return af < bf
	}
	if ok1 && bInt {
		f, _ := new(big.Float).SetInt(bb).Float64()
		return af < f
	}
	if aInt && ok2 {
		f, _ := new(big.Float).SetInt(ab).Float64()
		return f < bf
	}
	return false
}

func asBig(v any) (*big.Int, bool) {
	switch v := v.(type) {
	case *big.Int:
		return v, true
	case int:
		return big.NewInt(int64(v)), true
	}
	return nil, false
}
