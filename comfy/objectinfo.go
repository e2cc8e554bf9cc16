package comfy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// ObjectInfo is the server's node catalogue from GET /object_info: class name → node info.
type ObjectInfo map[string]NodeInfo

// NodeInfo describes one node class.
type NodeInfo struct {
	Name, DisplayName, Category string
	OutputNode                  bool
	Output                      []string // output types, by output index ("COMBO" for a list output)
	Required, Optional          map[string]InputSpec
	// RequiredOrder and OptionalOrder are the input names in the server's order
	// (input_order when present, else the key order of the reply).
	RequiredOrder, OptionalOrder []string
}

// Input returns the spec of a required or optional input.
func (n NodeInfo) Input(name string) (InputSpec, bool) {
	if s, ok := n.Required[name]; ok {
		return s, true
	}
	s, ok := n.Optional[name]
	return s, ok
}

// InputSpec describes one input of a node class.
type InputSpec struct {
	Type    string   // "INT", "FLOAT", "STRING", "MODEL", ... or "COMBO" for both combo shapes
	Options []string // combo values (bare list `[["a","b"], {...}]` or `["COMBO", {"options": [...]}]`)
	// Min and Max are nil when absent. They are exact for integers of any size
	// (KSampler's seed max is 18446744073709551615).
	Min, Max *big.Float
	// Remote is true for a combo whose options the frontend fetches elsewhere; its (empty)
	// option list says nothing about which values are valid.
	Remote bool
}

// bigPrec is enough bits for any integer up to 2^256 and for float64 values exactly.
const bigPrec = 256

// DecodeObjectInfo decodes the body of GET /object_info (or /object_info/{class}).
// Unknown keys are ignored; an input whose spec has an unexpected shape gets an empty Type
// rather than failing the whole catalogue, because one odd custom node must not block a run.
func DecodeObjectInfo(data []byte) (ObjectInfo, error) {
	classes, order, err := orderedObject(data)
	if err != nil {
		return nil, fmt.Errorf("decode object_info: %w", err)
	}
	info := make(ObjectInfo, len(order))
	for _, class := range order {
		n, err := decodeNodeInfo(class, classes[class])
		if err != nil {
			return nil, fmt.Errorf("decode object_info: class %q: %w", class, err)
		}
		info[class] = n
	}
	return info, nil
}

func decodeNodeInfo(class string, raw json.RawMessage) (NodeInfo, error) {
	var r struct {
		Input struct {
			Required json.RawMessage `json:"required"`
			Optional json.RawMessage `json:"optional"`
		} `json:"input"`
		InputOrder struct {
			Required []json.RawMessage `json:"required"`
			Optional []json.RawMessage `json:"optional"`
		} `json:"input_order"`
		Output      []json.RawMessage `json:"output"`
		Name        json.RawMessage   `json:"name"`
		DisplayName json.RawMessage   `json:"display_name"`
		Category    json.RawMessage   `json:"category"`
		OutputNode  json.RawMessage   `json:"output_node"`
	}
	if !isObject(raw) {
		return NodeInfo{}, fmt.Errorf("node info is %s, not an object", jsonKind(raw))
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return NodeInfo{}, err
	}
	n := NodeInfo{
		Name:        rawString(r.Name),
		DisplayName: rawString(r.DisplayName),
		Category:    rawString(r.Category),
		OutputNode:  bytes.Equal(bytes.TrimSpace(r.OutputNode), []byte("true")),
	}
	if n.Name == "" {
		n.Name = class
	}
	for _, o := range r.Output {
		if isArray(o) {
			n.Output = append(n.Output, "COMBO")
		} else {
			n.Output = append(n.Output, rawString(o))
		}
	}
	var keyOrder []string
	var err error
	n.Required, keyOrder, err = decodeInputs(r.Input.Required)
	if err != nil {
		return NodeInfo{}, fmt.Errorf("required inputs: %w", err)
	}
	n.RequiredOrder = pickOrder(r.InputOrder.Required, keyOrder)
	n.Optional, keyOrder, err = decodeInputs(r.Input.Optional)
	if err != nil {
		return NodeInfo{}, fmt.Errorf("optional inputs: %w", err)
	}
	n.OptionalOrder = pickOrder(r.InputOrder.Optional, keyOrder)
	return n, nil
}

func pickOrder(declared []json.RawMessage, keys []string) []string {
	if len(declared) == 0 {
		return keys
	}
	out := make([]string, 0, len(declared))
	for _, d := range declared {
		if s := rawString(d); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func decodeInputs(raw json.RawMessage) (map[string]InputSpec, []string, error) {
	if len(raw) == 0 || firstByte(raw) == 'n' {
		return map[string]InputSpec{}, nil, nil // absent or null: no inputs
	}
	if !isObject(raw) {
		return nil, nil, fmt.Errorf("inputs are %s, not an object", jsonKind(raw))
	}
	specs, order, err := orderedObject(raw)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]InputSpec, len(specs))
	for _, name := range order {
		out[name] = decodeInputSpec(specs[name])
	}
	return out, order, nil
}

// decodeInputSpec reads [TYPE_OR_OPTIONS, {opts}?].
func decodeInputSpec(raw json.RawMessage) InputSpec {
	var parts []json.RawMessage
	if isArray(raw) {
		_ = json.Unmarshal(raw, &parts)
	} else {
		parts = []json.RawMessage{raw} // a bare type string, seen in some custom nodes
	}
	if len(parts) == 0 {
		return InputSpec{}
	}
	var s InputSpec
	var opts struct {
		Min     json.RawMessage   `json:"min"`
		Max     json.RawMessage   `json:"max"`
		Options []json.RawMessage `json:"options"`
		Remote  json.RawMessage   `json:"remote"`
	}
	if len(parts) > 1 && isObject(parts[1]) {
		_ = json.Unmarshal(parts[1], &opts)
	}
	switch {
	case isArray(parts[0]):
		s.Type = "COMBO"
		var vals []json.RawMessage
		_ = json.Unmarshal(parts[0], &vals)
		s.Options = comboValues(vals)
	default:
		s.Type = rawString(parts[0])
		if s.Type == "COMBO" {
			s.Options = comboValues(opts.Options)
		}
	}
	if s.Type == "COMBO" {
		if s.Options == nil {
			s.Options = []string{}
		}
		s.Remote = len(opts.Remote) > 0 && firstByte(opts.Remote) != 'n'
	}
	s.Min = rawBig(opts.Min)
	s.Max = rawBig(opts.Max)
	return s
}

// comboValues renders combo options as the strings a workflow would hold; numbers keep
// their JSON text.
func comboValues(vals []json.RawMessage) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if firstByte(v) == '"' {
			out = append(out, rawString(v))
		} else {
			out = append(out, string(bytes.TrimSpace(v)))
		}
	}
	return out
}

func rawString(raw json.RawMessage) string {
	var s string
	if firstByte(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func rawBig(raw json.RawMessage) *big.Float {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" {
		return nil
	}
	f, _, err := big.ParseFloat(t, 10, bigPrec, big.ToNearestEven)
	if err != nil {
		return nil
	}
	return f
}

// orderedObject decodes a JSON object into its members, keeping the key order.
func orderedObject(data []byte) (map[string]json.RawMessage, []string, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	tok, err := d.Token()
	if err != nil {
		return nil, nil, err
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, nil, fmt.Errorf("expected a JSON object, got %s", jsonKind(data))
	}
	m := map[string]json.RawMessage{}
	var order []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("object key is not a string")
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, nil, err
		}
		if _, dup := m[key]; !dup {
			order = append(order, key)
		}
		m[key] = v
	}
	if _, err := d.Token(); err != nil {
		return nil, nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("unexpected data after the JSON object")
	}
	return m, order, nil
}
