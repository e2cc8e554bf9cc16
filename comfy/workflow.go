package comfy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/qwenlab/qwenlab/internal/jsonpos"
)

// Workflow is a ComfyUI graph in API format: node id → node. Inputs are either literal values
// (numbers are [json.Number], so seeds up to 2^64−1 survive) or links ([IsLink]).
type Workflow map[string]Node

// Node is one node of an API-format graph.
type Node struct {
	ClassType string         `json:"class_type"`
	Inputs    map[string]any `json:"inputs"`
	Meta      map[string]any `json:"_meta,omitempty"`
}

// Title is the node's _meta.title, or "" when it has none.
func (n Node) Title() string {
	s, _ := n.Meta["title"].(string)
	return s
}

// WorkflowError says why a workflow file cannot be used, and what to do about it.
type WorkflowError struct {
	Reason string
	Hint   string // what to do; "" when the reason says it all
}

func (e *WorkflowError) Error() string {
	if e.Hint == "" {
		return "invalid workflow: " + e.Reason
	}
	return "invalid workflow: " + e.Reason + "; " + e.Hint
}

const uiFormatHint = "export it with 'Save (API)' (enable dev mode options) in ComfyUI"

// ParseWorkflow decodes an API-format graph; the {"prompt": {...}} wrapper that POST /prompt
// takes is accepted too. Numbers are decoded as [json.Number]. Every error is a
// *[WorkflowError]: malformed JSON (with line:column), not an object, the graph-editor (UI)
// format, a node that is not an object or has no class_type, a link to a node that does not
// exist, or a cycle.
func ParseWorkflow(data []byte) (Workflow, error) {
	var top map[string]json.RawMessage
	if err := strictUnmarshal(data, &top); err != nil {
		return nil, jsonError(data, err)
	}
	if top == nil {
		return nil, &WorkflowError{Reason: "the top level is null, not an object of nodes"}
	}
	if isArray(top["nodes"]) || isArray(top["links"]) {
		return nil, &WorkflowError{
			Reason: "this is the graph-editor (UI) format, with top-level \"nodes\" and \"links\" arrays, not the API format",
			Hint:   uiFormatHint,
		}
	}
	if p, ok := top["prompt"]; ok && isObject(p) && !hasKey(p, "class_type") {
		// The POST /prompt body: {"prompt": {...}, "client_id": ..., ...}.
		top = nil
		if err := strictUnmarshal(p, &top); err != nil {
			return nil, &WorkflowError{Reason: "\"prompt\": " + err.Error()}
		}
		if isArray(top["nodes"]) || isArray(top["links"]) {
			return nil, &WorkflowError{Reason: "\"prompt\" holds the graph-editor (UI) format, not the API format", Hint: uiFormatHint}
		}
	}
	if len(top) == 0 {
		return nil, &WorkflowError{Reason: "the workflow has no nodes"}
	}
	w := make(Workflow, len(top))
	for _, id := range sortedIDs(top) {
		raw := top[id]
		if !isObject(raw) {
			return nil, &WorkflowError{
				Reason: fmt.Sprintf("node %q is %s, not an object with class_type and inputs", id, jsonKind(raw)),
				Hint:   "if this file came from the ComfyUI editor, " + uiFormatHint,
			}
		}
		var n struct {
			ClassType any             `json:"class_type"`
			Inputs    json.RawMessage `json:"inputs"`
			Meta      json.RawMessage `json:"_meta"`
		}
		if err := strictUnmarshal(raw, &n); err != nil {
			return nil, &WorkflowError{Reason: fmt.Sprintf("node %q: %v", id, err)}
		}
		ct, _ := n.ClassType.(string)
		if strings.TrimSpace(ct) == "" {
			return nil, &WorkflowError{
				Reason: fmt.Sprintf("node %q has no class_type", id),
				Hint:   "every node needs the name of its node class, e.g. \"class_type\": \"KSampler\"",
			}
		}
		node := Node{ClassType: ct, Inputs: map[string]any{}}
		if len(n.Inputs) > 0 && !bytes.Equal(bytes.TrimSpace(n.Inputs), []byte("null")) {
			if !isObject(n.Inputs) {
				return nil, &WorkflowError{Reason: fmt.Sprintf("node %q (%s): inputs is %s, not an object", id, ct, jsonKind(n.Inputs))}
			}
			if err := strictUnmarshal(n.Inputs, &node.Inputs); err != nil {
				return nil, &WorkflowError{Reason: fmt.Sprintf("node %q (%s): inputs: %v", id, ct, err)}
			}
		}
		if isObject(n.Meta) {
			if err := strictUnmarshal(n.Meta, &node.Meta); err != nil {
				return nil, &WorkflowError{Reason: fmt.Sprintf("node %q (%s): _meta: %v", id, ct, err)}
			}
		}
		w[id] = node
	}
	for _, id := range w.ids() {
		n := w[id]
		for _, in := range sortedKeys(n.Inputs) {
			src, _, ok := IsLink(n.Inputs[in])
			if ok {
				if _, exists := w[src]; !exists {
					return nil, &WorkflowError{
						Reason: fmt.Sprintf("node %s (%s) input %q links to node %q, which is not in the workflow", id, n.ClassType, in, src),
						Hint:   "add that node or fix the link",
					}
				}
			}
		}
	}
	if cyc := w.cycle(); cyc != nil {
		return nil, &WorkflowError{
			Reason: "the links form a cycle: " + strings.Join(cyc, " → "),
			Hint:   "ComfyUI graphs must be acyclic; break one of these links",
		}
	}
	return w, nil
}

// strictUnmarshal decodes one JSON value with numbers as json.Number and rejects trailing data.
func strictUnmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return jsonpos.At(data, d.InputOffset(), jsonpos.ErrTrailing)
	}
	return nil
}

// jsonError turns a decoding error of the top level into a WorkflowError with line:column.
func jsonError(data []byte, err error) error {
	var te *json.UnmarshalTypeError
	var pe *jsonpos.Error
	switch {
	case errors.As(err, &te) && te.Field == "":
		return &WorkflowError{
			Reason: fmt.Sprintf("the top level is a JSON %s, not an object of nodes", te.Value),
			Hint:   "an API-format workflow looks like {\"3\": {\"class_type\": \"KSampler\", \"inputs\": {...}}, ...}",
		}
	case errors.As(jsonpos.Locate(data, err), &pe):
		return &WorkflowError{Reason: "malformed JSON at " + pe.Error()}
	}
	return &WorkflowError{Reason: "malformed JSON: " + err.Error()}
}

func firstByte(raw json.RawMessage) byte {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 {
		return 0
	}
	return t[0]
}

func isObject(raw json.RawMessage) bool { return firstByte(raw) == '{' }
func isArray(raw json.RawMessage) bool  { return firstByte(raw) == '[' }

func hasKey(raw json.RawMessage, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}

func jsonKind(raw json.RawMessage) string {
	switch firstByte(raw) {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case 0:
		return "empty"
	}
	return "a number"
}

// IsLink reports whether an input value is a link [source node id, output index], as in
// ["4", 0], and returns its parts.
func IsLink(v any) (src string, out int, ok bool) {
	l, isList := v.([]any)
	if !isList || len(l) != 2 {
		return "", 0, false
	}
	src, isStr := l[0].(string)
	if !isStr {
		return "", 0, false
	}
	var f float64
	switch x := l[1].(type) {
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return "", 0, false
		}
		f = float64(i)
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		return "", 0, false
	}
	if f != math.Trunc(f) || f < 0 || f > math.MaxInt32 {
		return "", 0, false
	}
	return src, int(f), true
}

// Links returns the ids of the nodes that feed node id, sorted and without duplicates.
func (w Workflow) Links(id string) []string {
	n, ok := w[id]
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, in := range sortedKeys(n.Inputs) {
		if src, _, ok := IsLink(n.Inputs[in]); ok && !seen[src] {
			seen[src] = true
			out = append(out, src)
		}
	}
	sort.Slice(out, func(i, j int) bool { return idLess(out[i], out[j]) })
	return out
}

// Clone returns a deep copy: changing the copy's inputs never changes w.
func (w Workflow) Clone() Workflow {
	if w == nil {
		return nil
	}
	c := make(Workflow, len(w))
	for id, n := range w {
		c[id] = Node{ClassType: n.ClassType, Inputs: cloneMap(n.Inputs), Meta: cloneMap(n.Meta)}
	}
	return c
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneValue(v)
	}
	return c
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = cloneValue(e)
		}
		return c
	}
	return v
}

// SHA256 is the hex SHA-256 of the workflow's canonical JSON: keys sorted at every level,
// no insignificant white space, numbers as written.
func (w Workflow) SHA256() string {
	generic := make(map[string]any, len(w))
	for id, n := range w {
		m := map[string]any{"class_type": n.ClassType, "inputs": n.Inputs}
		if n.Inputs == nil {
			m["inputs"] = map[string]any{}
		}
		if len(n.Meta) > 0 {
			m["_meta"] = n.Meta
		}
		generic[id] = m
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(generic); err != nil {
		// Only values that did not come from JSON (NaN, channels) can fail; hash their text.
		buf.Reset()
		fmt.Fprintf(&buf, "%v", generic)
	}
	sum := sha256.Sum256(bytes.TrimRight(buf.Bytes(), "\n"))
	return hex.EncodeToString(sum[:])
}

// ids returns the node ids in a stable order (numeric ids numerically, then the rest).
func (w Workflow) ids() []string {
	ids := make([]string, 0, len(w))
	for id := range w {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
	return ids
}

// cycle returns the nodes of one cycle (first node repeated at the end), or nil.
func (w Workflow) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := make(map[string]int, len(w))
	var stack []string
	var found []string
	var visit func(id string) bool
	visit = func(id string) bool {
		color[id] = grey
		stack = append(stack, id)
		for _, src := range w.Links(id) {
			if _, ok := w[src]; !ok {
				continue
			}
			switch color[src] {
			case grey:
				for i := len(stack) - 1; i >= 0; i-- {
					if stack[i] == src {
						found = append(append([]string(nil), stack[i:]...), src)
						break
					}
				}
				return true
			case white:
				if visit(src) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return false
	}
	for _, id := range w.ids() {
		if color[id] == white && visit(id) {
			// found lists consumers before their sources; show data-flow order instead.
			for i, j := 0, len(found)-1; i < j; i, j = i+1, j-1 {
				found[i], found[j] = found[j], found[i]
			}
			return found
		}
	}
	return nil
}

// idLess orders node ids numerically where both are integers, else as strings.
func idLess(a, b string) bool {
	ai, aerr := strconv.ParseUint(a, 10, 64)
	bi, berr := strconv.ParseUint(b, 10, 64)
	switch {
	case aerr == nil && berr == nil:
		if ai != bi {
			return ai < bi
		}
		return a < b
	case aerr == nil:
		return true
	case berr == nil:
		return false
	}
	return a < b
}

func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
	return ids
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
