package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMarshalGolden(t *testing.T) {
	a, err := Marshal(fullReport())
	if err != nil {
		t.Fatal(err)
	}
	for range 5 { // maps must come out in one order every time
		b, err := Marshal(fullReport())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("Marshal is not deterministic")
		}
	}
	if !bytes.HasSuffix(a, []byte("}\n")) || !bytes.HasPrefix(a, []byte("{\n  \"schema_version\": 1,")) {
		t.Errorf("unexpected framing:\n%.80s", a)
	}
	golden(t, "report.full.golden.json", a)
}

func TestMarshalNil(t *testing.T) {
	if _, err := Marshal(nil); err == nil {
		t.Error("Marshal(nil) succeeded")
	}
}

// The core keys of DESIGN.md's schema are always present; an absent measurement is null, not
// missing and not 0.
func TestMarshalKeepsNulls(t *testing.T) {
	data, err := Marshal(failedReport())
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema_version", "tool", "started_at", "finished_at", "scenario", "target", "host",
		"cold_start", "warm", "gpu", "logs", "teardown", "warnings", "error"} {
		if _, ok := top[k]; !ok {
			t.Errorf("key %q missing", k)
		}
	}
	if string(top["warm"]) != "null" {
		t.Errorf("warm = %s, want null", top["warm"])
	}
	var cold struct {
		Phases map[string]json.RawMessage `json:"phases"`
	}
	if err := json.Unmarshal(top["cold_start"], &cold); err != nil {
		t.Fatal(err)
	}
	if string(cold.Phases["pull_s"]) != "null" || string(cold.Phases["ready_s"]) != "null" {
		t.Errorf("absent phases: pull_s=%s ready_s=%s, want null", cold.Phases["pull_s"], cold.Phases["ready_s"])
	}
	if string(cold.Phases["create_s"]) != "0.089" {
		t.Errorf("create_s = %s", cold.Phases["create_s"])
	}
	var gpu map[string]json.RawMessage
	if err := json.Unmarshal(top["gpu"], &gpu); err != nil {
		t.Fatal(err)
	}
	if string(gpu["vram_peak_bytes"]) != "null" || string(gpu["available"]) != "false" {
		t.Errorf("gpu = %s", top["gpu"])
	}
	if !bytes.Contains(data, []byte(`"started_at": "2026-09-10T12:00:00Z"`)) {
		t.Errorf("started_at is not RFC 3339 UTC")
	}
}

// Schema stability: the frozen v1 report must decode into the current type with no field
// unknown. Renaming or removing a field breaks this test; adding one does not. Never
// regenerate report.v1.golden.json: make a new version's file instead.
func TestSchemaV1Golden(t *testing.T) {
	data, err := os.ReadFile("testdata/report.v1.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var strict Report
	if err := dec.Decode(&strict); err != nil {
		t.Fatalf("v1 golden no longer matches the Report type: %v", err)
	}
	r, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&strict, r); d != "" {
		t.Errorf("Decode differs from strict decoding (-strict +Decode):\n%s", d)
	}
	if r.SchemaVersion != 1 || r.Warm == nil || len(r.Warm.Runs) != 8 || r.Warm.Runs[0].Seed != "18446744073709551610" {
		t.Errorf("v1 golden decoded wrongly: %+v", r.Warm)
	}
	if r.ColdStart == nil || r.ColdStart.Phases.PullS == nil || *r.ColdStart.Phases.PullS != 41.25 {
		t.Errorf("cold start decoded wrongly: %+v", r.ColdStart)
	}
	// Nothing the file holds is lost on the way through the type.
	again, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var before, after any
	if err := json.Unmarshal(data, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &after); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("v1 golden does not survive decode+marshal (-file +remarshalled):\n%s", d)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, r := range []*Report{fullReport(), failedReport(), urlReport()} {
		data, err := Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r, got); d != "" {
			t.Errorf("round trip (-want +got):\n%s", d)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	full, err := Marshal(fullReport())
	if err != nil {
		t.Fatal(err)
	}
	test := func(name, in string, target error, msg string) {
		t.Helper()
		_, err := Decode([]byte(in))
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		if target != nil && !errors.Is(err, target) {
			t.Errorf("%s: %v is not %v", name, err, target)
		}
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: error %q does not say %q", name, err, msg)
		}
	}
	test("empty", "  \n", ErrNotJSON, "not JSON: empty input")
	test("text", "Error: no such container", ErrNotJSON, "not JSON: line 1, column 1: invalid character 'E'")
	test("bad byte", "\n\n{\"schema_version\": 1,,}", ErrNotJSON, "not JSON: line 3, column 22: invalid character ','")
	test("truncated", string(full[:len(full)/2]), ErrTruncated, "truncated")
	test("truncated early", `{"schema_version": 1, "tool": {"na`, ErrTruncated, "truncated")
	test("two documents", "{\"schema_version\":1}\n\n {\"schema_version\":1}", ErrNotJSON, "data after the report at line 3, column 2")
	test("array", `[1,2]`, ErrNotReport, "not a qwenlab report: top level is an array")
	test("array after blank lines", "\n\n  [1,2]\n", ErrNotReport, "not a qwenlab report: top level is an array")
	test("null", `null`, ErrNotReport, "top level is null")
	test("no version", `{"tool":{"name":"k6"}}`, ErrNotReport, "not a qwenlab report: no schema_version")
	test("null version", `{"schema_version":null}`, ErrNotReport, "no schema_version")
	test("string version", `{"schema_version":"1.0.0"}`, ErrNotReport, `schema_version is "1.0.0", want an integer`)
	test("future", `{"schema_version":2}`, nil, "report schema version 2 is not supported: this qwenlab reads version 1")
	test("bad field", `{"schema_version":1,"warm":{"runs":"many"}}`, nil, "field warm.runs: got string")

	_, err = Decode([]byte(`{"schema_version":7}`))
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Got != 7 || !cmp.Equal(ve.Readable, []int{1}) {
		t.Errorf("future version: %#v", err)
	}
}

func TestDecodeIgnoresUnknownFields(t *testing.T) {
	r, err := Decode([]byte(`{"schema_version":1,"run_id":"x","added_later":{"a":1},"gpu":{"available":true,"new":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.RunID != "x" || !r.GPU.Available {
		t.Errorf("decoded %+v", r)
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(filepath.Join(dir, "nope.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"schema_version": 1, "warm"`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Read(bad)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), bad) {
		t.Errorf("truncated file: %v", err)
	}
	good := filepath.Join(dir, "good.json")
	if err := Write(good, urlReport()); err != nil {
		t.Fatal(err)
	}
	r, err := Read(good)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(urlReport(), r); d != "" {
		t.Errorf("Read after Write (-want +got):\n%s", d)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	if err := Write(path, failedReport()); err != nil {
		t.Fatal(err)
	}
	// Overwrite: the new content replaces the old one, mode stays 0644, no temporary left.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, fullReport()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Marshal(fullReport())
	if !bytes.Equal(got, want) {
		t.Error("file content differs from Marshal")
	}
	onlyFiles(t, dir, "r.json")
}

// A write that fails halfway leaves the old report untouched and no partial file, and the
// error carries the encoded report for the fallback.
func TestWriteAtomicFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	old := []byte("{\"schema_version\": 1}\n")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	data := []byte(strings.Repeat("x", 4096))
	err := writeAtomic(path, data, func(w io.Writer, b []byte) error {
		if _, err := w.Write(b[:len(b)/2]); err != nil {
			return err
		}
		return errors.New("no space left on device")
	})
	var we *WriteError
	if !errors.As(err, &we) {
		t.Fatalf("err = %v, want a *WriteError", err)
	}
	if !bytes.Equal(we.Data, data) || we.Path != path {
		t.Errorf("WriteError carries path %q and %d bytes", we.Path, len(we.Data))
	}
	if msg := err.Error(); !strings.Contains(msg, "no space left on device") || !strings.Contains(msg, "report not saved") {
		t.Errorf("message %q does not say what happened", msg)
	}
	got, rerr := os.ReadFile(path)
	if rerr != nil || !bytes.Equal(got, old) {
		t.Errorf("old report changed: %q, %v", got, rerr)
	}
	onlyFiles(t, dir, "r.json")
}

func TestWriteFails(t *testing.T) {
	dir := t.TempDir()
	// The parent directory does not exist.
	err := Write(filepath.Join(dir, "missing", "r.json"), urlReport())
	var we *WriteError
	if !errors.As(err, &we) || len(we.Data) == 0 || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
	// The path is a directory: the rename fails, the temporary file is removed.
	target := filepath.Join(dir, "isdir")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(target, urlReport()); !errors.As(err, &we) {
		t.Errorf("directory target: %v", err)
	}
	onlyFiles(t, dir, "isdir")
	// Encoding errors are not WriteErrors: there is nothing to fall back to.
	r := urlReport()
	r.Scenario.Params = map[string]any{"bad": func() {}}
	if err := Write(filepath.Join(dir, "x.json"), r); err == nil || errors.As(err, &we) {
		t.Errorf("unencodable report: %v", err)
	}
	onlyFiles(t, dir, "isdir")
}

func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !cmp.Equal(got, names) {
		t.Errorf("directory holds %q, want %q", got, names)
	}
}
