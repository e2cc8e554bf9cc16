package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/qwenlab/qwenlab/internal/jsonpos"
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
//
// It never fails on the data r holds: a value JSON cannot represent (NaN, ±Inf, a number
// literal JSON forbids such as "+20" or ".5") is replaced in r — by null where the field can
// be null, else by 0 or by the literal as a string — and each replacement is noted in
// r.Warnings, so the measurements around it are still written.
func Marshal(r *Report) ([]byte, error) {
	if r == nil {
		return nil, errors.New("marshal report: nil report")
	}
	b, err := encode(r)
	if err == nil {
		return b, nil
	}
	var notes []string
	sanitize(reflect.ValueOf(r).Elem(), "", &notes)
	for _, n := range notes {
		r.Warnings = append(r.Warnings, "report: "+n+" could not be written as JSON and was replaced")
	}
	if b, err2 := encode(r); err2 == nil {
		return b, nil
	}
	return nil, fmt.Errorf("marshal report: %w", err)
}

func encode(r *Report) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var (
	numberType  = reflect.TypeFor[json.Number]()
	jsonLiteral = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
)

// sanitize replaces, in place, the values under v that encoding/json refuses, and notes each
// by its JSON path.
func sanitize(v reflect.Value, path string, notes *[]string) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if bad(v.Elem()) && v.CanSet() {
			*notes = append(*notes, describe(path, v.Elem()))
			v.Set(reflect.Zero(v.Type()))
			return
		}
		sanitize(v.Elem(), path, notes)
	case reflect.Interface:
		if v.IsNil() || !v.CanSet() {
			return
		}
		inner := v.Elem()
		if bad(inner) {
			*notes = append(*notes, describe(path, inner))
			if inner.Type() == numberType {
				v.Set(reflect.ValueOf(inner.String())) // keep what was given, as text
			} else {
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		cp := reflect.New(inner.Type()).Elem()
		cp.Set(inner)
		sanitize(cp, path, notes)
		v.Set(cp)
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				sanitize(v.Field(i), join(path, cmp.Or(name, f.Name)), notes)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			sanitize(v.Index(i), fmt.Sprintf("%s[%d]", path, i), notes)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			cp := reflect.New(iter.Value().Type()).Elem()
			cp.Set(iter.Value())
			p := join(path, fmt.Sprint(iter.Key().Interface()))
			if bad(cp) {
				*notes = append(*notes, describe(p, cp))
				cp.Set(reflect.Zero(cp.Type()))
			} else {
				sanitize(cp, p, notes)
			}
			v.SetMapIndex(iter.Key(), cp)
		}
	default:
		if bad(v) && v.CanSet() {
			*notes = append(*notes, describe(path, v))
			v.Set(reflect.Zero(v.Type()))
		}
	}
}

// bad reports whether encoding/json refuses v.
func bad(v reflect.Value) bool {
	switch {
	case v.Kind() == reflect.Float32 || v.Kind() == reflect.Float64:
		f := v.Float()
		return math.IsNaN(f) || math.IsInf(f, 0)
	case v.Type() == numberType:
		return v.String() != "" && !jsonLiteral.MatchString(v.String())
	}
	return false
}

func describe(path string, v reflect.Value) string {
	if v.Type() == numberType {
		return fmt.Sprintf("%s = %q (not a JSON number)", path, v.String())
	}
	return fmt.Sprintf("%s = %v", path, v.Interface())
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// Decode parses a report. It says what is wrong with input that is not a readable report:
// not JSON ([ErrNotJSON]), cut short ([ErrTruncated]), JSON that is not a report
// ([ErrNotReport]), or a schema version this qwenlab does not read ([*VersionError]). Fields
// it does not know are ignored, so newer reports of the same schema version still decode.
func Decode(data []byte) (*Report, error) {
	var r Report
	if err := decodeInto(data, &r, &r.SchemaVersion); err != nil {
		return nil, err
	}
	return &r, nil
}

// decodeInto is [Decode] into v (a *Report, or a type that reads only part of one) whose
// schema version lands in *version. A good report is scanned twice (validated, decoded); only
// a bad one pays for the checks that say exactly what is wrong.
func decodeInto(data []byte, v any, version *int) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return fmt.Errorf("decode report: %w: empty input", ErrNotJSON)
	}
	err := json.Unmarshal(trimmed, v)
	if err == nil && slices.Contains(ReadableVersions(), *version) {
		return nil
	}
	if herr := checkHeader(data); herr != nil {
		return herr
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("decode report: field %s: got %s, want %s", te.Field, te.Value, te.Type)
	}
	return fmt.Errorf("decode report: %w", err)
}

// checkHeader says what keeps data from being a report this qwenlab reads: not JSON, cut
// short, data after it, not an object, no or an unreadable schema_version. nil when none of
// these is the problem.
func checkHeader(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return syntaxError(data, err)
	}
	if rest := data[dec.InputOffset():]; len(bytes.TrimSpace(rest)) > 0 {
		p := jsonpos.At(data, int64(len(data)-len(bytes.TrimLeft(rest, " \t\r\n"))), jsonpos.ErrTrailing)
		return fmt.Errorf("decode report: %w: data after the report at line %d, column %d", ErrNotJSON, p.Line, p.Column)
	}
	var top struct {
		SchemaVersion json.RawMessage `json:"schema_version"`
	}
	if raw[0] != '{' || json.Unmarshal(raw, &top) != nil {
		return fmt.Errorf("decode report: %w: top level is %s, want an object", ErrNotReport, jsonKind(raw))
	}
	vraw := top.SchemaVersion
	if vraw == nil || string(vraw) == "null" {
		return fmt.Errorf("decode report: %w: no schema_version", ErrNotReport)
	}
	var version int
	if err := json.Unmarshal(vraw, &version); err != nil {
		return fmt.Errorf("decode report: %w: schema_version is %s, want an integer", ErrNotReport, vraw)
	}
	if readable := ReadableVersions(); !slices.Contains(readable, version) {
		return fmt.Errorf("decode report: %w", &VersionError{Got: version, Readable: readable})
	}
	return nil
}

func syntaxError(data []byte, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("decode report: %w: the JSON ends before the report does (partly written file?)", ErrTruncated)
	}
	return fmt.Errorf("decode report: %w: %v", ErrNotJSON, jsonpos.Locate(data, err))
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

// Write stores r at path; see [WriteTo].
func Write(path string, r *Report) error {
	_, err := WriteTo(path, r)
	return err
}

// WriteTo stores r at path and returns where it went, as a phrase for the user ("r.json",
// "data/r.json (the target of link r.json)", "/dev/null (streamed)").
//
// A regular file (or a path that does not exist yet) is replaced atomically: a temporary file
// in the same directory is written, synced, set to mode 0644 and renamed over it, so the file
// holds either the old content or the whole new report, never part of one. A symlink is
// followed and its final target replaced that way; the link itself stays. Anything else that
// exists — a device such as /dev/null or /dev/stdout, a FIFO — is never replaced: the report
// is written into it as a stream.
//
// When storing fails it returns a [*WriteError] carrying the encoded report, and leaves no
// temporary file behind.
func WriteTo(path string, r *Report) (string, error) {
	data, err := Marshal(r)
	if err != nil {
		return "", err
	}
	return store(path, data)
}

// store puts data at path as [WriteTo] describes and says where it went.
func store(path string, data []byte) (string, error) {
	target, err := ResolveLink(path)
	if err != nil {
		return "", &WriteError{Path: path, Data: data, Err: err}
	}
	where := target
	if target != path {
		where = fmt.Sprintf("%s (the target of link %s)", target, path)
	}
	if st, err := os.Stat(target); err == nil && !st.Mode().IsRegular() {
		if st.IsDir() {
			return "", &WriteError{Path: path, Data: data, Err: errors.New("is a directory")}
		}
		if err := writeStream(target, data); err != nil {
			return "", &WriteError{Path: path, Data: data, Err: err}
		}
		return target + " (streamed: not a regular file)", nil
	}
	return where, writeAtomic(target, data, func(w io.Writer, b []byte) error {
		_, err := w.Write(b)
		return err
	})
}

// ResolveLink follows path's symlinks (a dangling one too: its target is created) and returns
// the final path, relative links taken from the link's folder.
func ResolveLink(path string) (string, error) {
	p := path
	for range 40 {
		st, err := os.Lstat(p)
		if err != nil || st.Mode()&os.ModeSymlink == 0 {
			return p, nil
		}
		dest, err := os.Readlink(p)
		if err != nil {
			return "", fmt.Errorf("read link: %w", err)
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(p), dest)
		}
		p = dest
	}
	return "", errors.New("too many levels of symbolic links")
}

// writeStream writes data into an existing non-regular file (device, FIFO) without creating,
// truncating or replacing it.
func writeStream(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write: %w", err)
	}
	return f.Close()
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
