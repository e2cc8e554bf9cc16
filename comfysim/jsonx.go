package comfysim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// kv is one member of an ordered JSON object.
type kv struct {
	K string
	V any
}

// obj is a JSON object that keeps its key order, as Python dicts do.
type obj []kv

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteString(", ")
		}
		k, err := json.Marshal(m.K)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteString(": ")
		v, err := json.Marshal(m.V)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// get returns the value for key k (the last one if duplicated).
func (o obj) get(k string) (any, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if o[i].K == k {
			return o[i].V, true
		}
	}
	return nil, false
}

// set replaces the value of k in place or appends it.
func (o *obj) set(k string, v any) {
	for i := range *o {
		if (*o)[i].K == k {
			(*o)[i].V = v
			return
		}
	}
	*o = append(*o, kv{k, v})
}

// pyFloat is a float that JSON-encodes the way Python writes floats: 1.0, not 1.
type pyFloat float64

func (f pyFloat) MarshalJSON() ([]byte, error) {
	return []byte(pyFloatText(float64(f))), nil
}

func pyFloatText(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	a := math.Abs(f)
	if a != 0 && (a >= 1e16 || a < 1e-4) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Python: 1e+16, 9.5367431640625e+25, 1e-05
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[0]
		digits := strings.TrimLeft(exp[1:], "0")
		if len(digits) < 2 {
			digits = "0" + digits
		}
		return mant + "e" + string(sign) + digits
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// decodeOrdered parses JSON into obj / []any / json.Number / string / bool / nil,
// keeping object key order. Duplicate keys keep the first position and the last value.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

const maxDepth = 512

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := obj{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected delimiter %v", t)
	default:
		return t, nil
	}
}

// isFloatNumber reports whether a JSON number literal is a Python float (has . or exponent).
func isFloatNumber(n json.Number) bool { return strings.ContainsAny(string(n), ".eE") }

// numberInt returns an integral JSON number as int64.
func numberInt(n json.Number) (int64, bool) {
	if isFloatNumber(n) {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

// pyRepr renders a decoded value roughly as Python's repr() would (for log lines and
// exception texts).
func pyRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v)
	return b.String()
}

func writeRepr(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case string:
		b.WriteString(pyStr(v))
	case json.Number:
		b.WriteString(string(v))
	case pyFloat:
		b.WriteString(pyFloatText(float64(v)))
	case float64:
		b.WriteString(pyFloatText(v))
	case int, int64, uint64:
		fmt.Fprint(b, v)
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, x)
		}
		b.WriteByte(']')
	case []string:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyStr(x))
		}
		b.WriteByte(']')
	case obj:
		b.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyStr(m.K))
			b.WriteString(": ")
			writeRepr(b, m.V)
		}
		b.WriteByte('}')
	default:
		fmt.Fprint(b, v)
	}
}

// pyStr quotes s like Python's repr of a str.
func pyStr(s string) string {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// sortedKeys returns the keys of o sorted (Python sorted()).
func sortedKeys(o obj) []string {
	ks := make([]string, 0, len(o))
	for _, m := range o {
		ks = append(ks, m.K)
	}
	sort.Strings(ks)
	return ks
}

// marshalPy encodes v as Python's json.dumps does by default: ", " and ": " separators,
// non-ASCII escaped as \uXXXX, no HTML escaping.
func marshalPy(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	compact := bytes.TrimRight(buf.Bytes(), "\n")
	out := make([]byte, 0, len(compact)+len(compact)/8)
	inStr, esc := false, false
	for _, r := range string(compact) {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case r == '\\':
				esc = true
			case r == '"':
				inStr = false
			}
			if r > 0x7e {
				if r > 0xffff {
					r -= 0x10000
					out = fmt.Appendf(out, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
				} else {
					out = fmt.Appendf(out, `\u%04x`, r)
				}
				continue
			}
			out = append(out, byte(r))
		case r == '"':
			inStr = true
			out = append(out, '"')
		case r == ',' || r == ':':
			out = append(out, byte(r), ' ')
		default:
			out = append(out, byte(r))
		}
	}
	return out, nil
}
