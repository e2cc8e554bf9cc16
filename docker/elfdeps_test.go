package docker

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// buildStatic compiles testdata/static without cgo into dir.
func buildStatic(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "static")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/static")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build static: %v\n%s", err, b)
	}
	return out
}

func TestELFDepsStatic(t *testing.T) {
	exe := buildStatic(t, t.TempDir())
	deps, err := elfDeps(exe)
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 0 {
		t.Errorf("static binary: deps %v, want none", deps)
	}
}

// TestELFDepsSelf resolves the test binary itself, which is linked against
// libc when cgo is on, and compares with ldd.
func TestELFDepsSelf(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	deps, err := elfDeps(exe)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	interp, _ := interpreter(f)
	if interp == "" {
		if len(deps) != 0 {
			t.Errorf("static test binary: deps %v, want none", deps)
		}
		t.Skip("test binary is statically linked (CGO_ENABLED=0): only the static case applies")
	}
	if !slices.Contains(deps, interp) {
		t.Errorf("deps %v lack the interpreter %s", deps, interp)
	}
	if !slices.ContainsFunc(deps, func(p string) bool { return filepath.Base(p) == "libc.so.6" }) {
		t.Errorf("deps %v lack libc.so.6", deps)
	}
	for _, d := range deps {
		if !filepath.IsAbs(d) || !fileExists(d) {
			t.Errorf("dep %s is not an existing absolute file", d)
		}
	}
	if !slices.IsSorted(deps) {
		t.Errorf("deps not sorted: %v", deps)
	}
	ldd, err := exec.LookPath("ldd")
	if err != nil {
		t.Logf("no ldd to compare with; deps %v", deps)
		return
	}
	out, err := exec.Command(ldd, exe).Output()
	if err != nil {
		t.Fatalf("ldd: %v", err)
	}
	// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)".
	re := regexp.MustCompile(`(?m)^\s*(?:\S+ => )?(/\S+) \(0x`)
	var want []string
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		want = append(want, filepath.Base(m[1]))
	}
	var got []string
	for _, d := range deps {
		got = append(got, filepath.Base(d))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Errorf("deps %v, ldd says %v\n%s", got, want, out)
	}
}

func TestELFDepsNotELF(t *testing.T) {
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := elfDeps(p); err == nil || !strings.Contains(err.Error(), "read ELF") {
		t.Errorf("elfDeps(script) err = %v, want a read ELF error", err)
	}
}

func TestSimContext(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "qwenlab")
	lib := filepath.Join(dir, "lib", "libx.so.1")
	os.MkdirAll(filepath.Dir(lib), 0o755)
	if err := os.WriteFile(exe, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, []byte("library"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlinked library lands as a regular file at the linked path.
	link := filepath.Join(dir, "liblink.so")
	if err := os.Symlink(lib, link); err != nil {
		t.Fatal(err)
	}
	a, err := simContext(exe, []string{lib, link})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := simContext(exe, []string{link, lib})
	if !bytes.Equal(a, b) {
		t.Error("build context is not deterministic")
	}
	entries := readTar(t, a)
	want := map[string]string{
		"Dockerfile":         "",
		"rootfs/":            "dir 755",
		"rootfs/qwenlab":     "file 755 binary",
		"rootfs/tmp/":        "dir 1777",
		"rootfs" + lib:       "file 755 library",
		"rootfs" + link:      "file 755 library",
		"rootfs" + dir + "/": "dir 755",
	}
	for name, w := range want {
		got, ok := entries[name]
		if !ok {
			t.Errorf("context lacks %s; has %v", name, keys(entries))
			continue
		}
		if w != "" && got != w {
			t.Errorf("%s = %q, want %q", name, got, w)
		}
	}
	df := entries["Dockerfile"]
	for _, want := range []string{"FROM scratch", `ENTRYPOINT ["/qwenlab","sim"]`, `CMD ["--listen","0.0.0.0","--port","8188","--models","/models"]`, "EXPOSE 8188", "LABEL qwenlab.sim=1"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, df)
		}
	}
	if _, err := simContext(exe, []string{"relative/lib.so"}); err == nil {
		t.Error("relative library path accepted")
	}
}

func FuzzELFDeps(f *testing.F) {
	if exe, err := os.Executable(); err == nil {
		if b, err := os.ReadFile(exe); err == nil && len(b) > 0 {
			f.Add(b[:min(len(b), 4096)])
		}
	}
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	f.Add([]byte("#!/bin/sh"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Nothing exists: any dependency must be reported as unresolved.
		deps, err := elfDepsOf(ef, "fuzz", func(string) bool { return false })
		if err == nil && len(deps) != 0 {
			t.Fatalf("resolved %v with no files present", deps)
		}
	})
}
