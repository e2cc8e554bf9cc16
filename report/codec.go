package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Errors that [Decode] wraps, for callers that branch on them (compare's "no or incompatible
// baseline").
var (
	// ErrNotJSON means the input is not JSON at all.
	ErrNotJSON = errors.New("not JSON")
	// ErrTruncated means the input is the start of a JSON document that ends too early.
	ErrTruncated = errors.New("truncated")
	// ErrNotReport means the input is JSON but not a qwenlab report.
	ErrNotReport = errors.New("not a qwenlab report")
)

// VersionError is returned by [Decode] for a report of a schema version this qwenlab does not
// read.
type VersionError struct {
	Got      int
	Readable []int
}

func (e *VersionError) Error() string {
	vs := make([]string, len(e.Readable))
	for i, v := range e.Readable {
		vs[i] = strconv.Itoa(v)
	}
	return fmt.Sprintf("report schema version %d is not supported: this qwenlab reads version %s", e.Got, strings.Join(vs, ", "))
}

// Marshal encodes r as indented JSON with a final newline. The output is deterministic: maps
// are sorted by key, and nothing is formatted from the clock or the locale.
func Marshal(r *Report) ([]byte, error) {
	if r == nil {
		return nil, errors.New("marshal report: nil report")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("marshal report: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode parses a report. It says what is wrong with input that is not a readable report:
// not JSON ([ErrNotJSON]), cut short ([ErrTruncated]), JSON that is not a report
// ([ErrNotReport]), or a schema version this qwenlab does not read ([*VersionError]). Fields
// it does not know are ignored, so newer reports of the same schema version still decode.
func Decode(data []byte) (*Report, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("decode report: %w: empty input", ErrNotJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, syntaxError(err)
	}
	if dec.InputOffset() != int64(len(trimmed)) {
		return nil, fmt.Errorf("decode report: %w: data after the report at offset %d", ErrNotJSON, dec.InputOffset())
	}
	// A probe with one field skips the rest without building it (a map of every top-level
	// value costs a third of a decode, which matters for a folder of 365 reports).
	var top struct {
		SchemaVersion json.RawMessage `json:"schema_version"`
	}
	if raw[0] != '{' || json.Unmarshal(raw, &top) != nil {
		return nil, fmt.Errorf("decode report: %w: top level is %s, want an object", ErrNotReport, jsonKind(raw))
	}
	vraw := top.SchemaVersion
	if vraw == nil || string(vraw) == "null" {
		return nil, fmt.Errorf("decode report: %w: no schema_version", ErrNotReport)
	}
	var version int
	if err := json.Unmarshal(vraw, &version); err != nil {
		return nil, fmt.Errorf("decode report: %w: schema_version is %s, want an integer", ErrNotReport, vraw)
	}
	readable := ReadableVersions()
	known := false
	for _, v := range readable {
		known = known || v == version
	}
	if !known {
		return nil, fmt.Errorf("decode report: %w", &VersionError{Got: version, Readable: readable})
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("decode report: field %s: got %s, want %s", te.Field, te.Value, te.Type)
		}
		return nil, fmt.Errorf("decode report: %w", err)
	}
	return &r, nil
}

func syntaxError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("decode report: %w: the JSON ends before the report does (partly written file?)", ErrTruncated)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("decode report: %w: %v at offset %d", ErrNotJSON, se, se.Offset)
	}
	return fmt.Errorf("decode report: %w: %v", ErrNotJSON, err)
}

func jsonKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// Read reads and decodes the report at path; see [Decode] for the errors.
func Read(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	r, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	return r, nil
}

// WriteError is returned by [Write] when the report was encoded but could not be stored.
// Data holds the encoded report, so the caller can still put it somewhere (qwenlab prints it
// to stderr).
type WriteError struct {
	Path string
	Data []byte
	Err  error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("write report %s: %v (report not saved)", e.Path, e.Err)
}

func (e *WriteError) Unwrap() error { return e.Err }

// Write stores r at path atomically: it writes a temporary file in the same directory,
// syncs it, sets mode 0644 and renames it over path, so path holds either the old content or
// the whole new report, never part of one. When storing fails it returns a [*WriteError]
// carrying the encoded report, and leaves no temporary file behind.
func Write(path string, r *Report) error {
	data, err := Marshal(r)
	if err != nil {
		return err
	}
	return writeAtomic(path, data, func(w io.Writer, b []byte) error {
		_, err := w.Write(b)
		return err
	})
}

// writeAtomic is Write after encoding; put copies data into the temporary file (tests make
// it fail halfway).
func writeAtomic(path string, data []byte, put func(io.Writer, []byte) error) (err error) {
	fail := func(e error) error { return &WriteError{Path: path, Data: data, Err: e} }
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return fail(errors.New("no file name"))
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fail(fmt.Errorf("create temporary file: %w", err))
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := put(f, data); err != nil {
		return fail(fmt.Errorf("write temporary file: %w", err))
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(fmt.Errorf("chmod temporary file: %w", err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync temporary file: %w", err))
	}
	if err := f.Close(); err != nil {
		return fail(fmt.Errorf("close temporary file: %w", err))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(fmt.Errorf("rename: %w", err))
	}
	// Make the rename durable; a directory that cannot be synced is not an error worth
	// losing the report over.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
