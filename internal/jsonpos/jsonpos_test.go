package jsonpos

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLocate(t *testing.T) {
	test := func(name, in, want string) {
		t.Helper()
		var v any
		err := Locate([]byte(in), json.Unmarshal([]byte(in), &v))
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
	test("bad byte", "{\n  \"1\": {\"class_type\": \"A\",,}\n}", "line 2, column 27: invalid character ',' looking for beginning of object key string")
	test("first byte", "Error: no such container", "line 1, column 1: invalid character 'E' looking for beginning of value")
	test("cut short", "{\n \"a\": [1,", "line 2, column 10: unexpected end of input")
	test("empty", "", "line 1, column 1: unexpected end of input")
	test("after the value", `{"a": 1} x`, "line 1, column 10: invalid character 'x' after top-level value")

	// A Decoder's errors: a cut-short stream, and nothing at all.
	for in, want := range map[string]string{`{"a": [1`: "line 1, column 9: unexpected end of input", " \n": "line 2, column 1: unexpected end of input"} {
		var v any
		err := Locate([]byte(in), json.NewDecoder(strings.NewReader(in)).Decode(&v))
		if err == nil || err.Error() != want || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("decoder on %q: %v, want %q matching io.ErrUnexpectedEOF", in, err, want)
		}
	}
	if err := Locate([]byte("x"), nil); err != nil {
		t.Errorf("Locate(nil) = %v", err)
	}
	other := errors.New("not a syntax error")
	if err := Locate([]byte("x"), other); err != other {
		t.Errorf("another error came back as %v", err)
	}
	var se *json.SyntaxError
	if err := Locate([]byte("{,}"), json.Unmarshal([]byte("{,}"), new(any))); !errors.As(err, &se) {
		t.Errorf("the decoder's error is not kept: %v", err)
	}
}

func TestAt(t *testing.T) {
	data := []byte("ab\ncd\n")
	for off, want := range map[int64][2]int{-5: {1, 1}, 0: {1, 1}, 2: {1, 3}, 3: {2, 1}, 4: {2, 2}, 6: {3, 1}, 99: {3, 1}} {
		e := At(data, off, ErrTrailing)
		if e.Line != want[0] || e.Column != want[1] || !errors.Is(e, ErrTrailing) {
			t.Errorf("At(%d) = %d:%d (%v), want %d:%d", off, e.Line, e.Column, e.Err, want[0], want[1])
		}
	}
}

func FuzzLocate(f *testing.F) {
	f.Add([]byte("{\n\"a\": [1,"))
	f.Add([]byte("\n\n x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Locate(data, json.Unmarshal(data, new(any)))
		var e *Error
		if errors.As(err, &e) && (e.Line < 1 || e.Column < 1 || e.Line > strings.Count(string(data), "\n")+1) {
			t.Fatalf("place %d:%d outside the input %q", e.Line, e.Column, data)
		}
	})
}
