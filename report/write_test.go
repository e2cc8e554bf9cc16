package report

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A symlink given as the report path is followed: its target gets the new report and the
// link stays a link.
func TestWriteFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "data", "r.json")
	if err := os.WriteFile(target, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "r.json")
	if err := os.Symlink("data/r.json", link); err != nil {
		t.Fatal(err)
	}
	where, err := WriteTo(link, fullReport())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(where, target) || !strings.Contains(where, "link") {
		t.Errorf("where = %q, want it to name the target %s and the link", where, target)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", st.Mode(), err)
	}
	got, _ := os.ReadFile(target)
	want, _ := Marshal(fullReport())
	if !bytes.Equal(got, want) {
		t.Errorf("target holds %q, want the report", got)
	}
	onlyFiles(t, filepath.Join(dir, "data"), "r.json")
}

// A FIFO is written as a stream, never replaced by a regular file.
func TestWriteStreamsIntoFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan []byte)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- b
	}()
	where, err := WriteTo(path, fullReport())
	if err != nil {
		t.Fatal(err)
	}
	b := <-got
	if _, err := Decode(b); err != nil {
		t.Errorf("the reader got no report: %v", err)
	}
	if !strings.Contains(where, "streamed") {
		t.Errorf("where = %q, want it to say the report was streamed", where)
	}
	if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", st.Mode(), err)
	}
}

// A character device (a private /dev/null made in the test's folder; root only) stays a
// device.
func TestWriteIntoDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "null")
	if err := syscall.Mknod(path, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Skipf("mknod (root only): %v", err)
	}
	if _, err := WriteTo(path, fullReport()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("the device was replaced by %v (%v)", st.Mode(), err)
	}
}

// Values JSON cannot hold never cost the report: they are replaced and named in the warnings.
func TestMarshalNeverFailsOnData(t *testing.T) {
	r := fullReport()
	r.Scenario.Params = map[string]any{"cfg": json.Number(".5"), "width": json.Number("1_024"), "steps": math.NaN(), "seed": json.Number("42")}
	r.Warm.Runs[0].E2ES = Seconds(math.Inf(1))
	r.Warm.Runs[0].ServerS = Seconds(math.NaN())
	b, err := Marshal(r)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if back.Scenario.Params["cfg"] != ".5" || back.Scenario.Params["steps"] != nil || back.Scenario.Params["seed"] != json.Number("42") && back.Scenario.Params["seed"] != float64(42) {
		t.Errorf("params = %#v", back.Scenario.Params)
	}
	if back.Warm.Runs[0].ServerS != nil || back.Warm.Runs[0].E2ES != nil {
		t.Errorf("run 0: server_s %v e2e_s %v, want null and null", back.Warm.Runs[0].ServerS, back.Warm.Runs[0].E2ES)
	}
	w := strings.Join(back.Warnings, "\n")
	for _, want := range []string{"scenario.params.cfg", "scenario.params.width", "scenario.params.steps", "warm.runs[0].e2e_s", "warm.runs[0].server_s"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings do not name %s:\n%s", want, w)
		}
	}
}

// The HTML and Markdown renderings are stored the same way: a symlink's target is replaced,
// the link kept.
func TestWriteFileFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "page.html")
	link := filepath.Join(dir, "link.html")
	if err := os.Symlink("page.html", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("<html></html>\n")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "<html></html>\n" {
		t.Errorf("target holds %q", b)
	}
}
