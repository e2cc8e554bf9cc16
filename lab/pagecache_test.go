package lab

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// writeModel writes a file of n random bytes under dir, synced so its pages are clean (only
// clean pages can be dropped), and reads it back so they are cached.
func writeModel(t *testing.T, dir, name string, n int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	rand.Read(buf)
	if _, err := f.Write(buf); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := os.ReadFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDropFromCache(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("page-cache control is Linux only")
	}
	dir := t.TempDir()
	const size = 4<<20 + 123 // not a whole number of pages
	files := []string{writeModel(t, dir, "diffusion_models/a.safetensors", size), writeModel(t, dir, "vae/b.safetensors", 1000)}
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(dir, "empty"))

	before, total, err := residentBytes(files)
	if err != nil {
		t.Fatal(err)
	}
	if total != size+1000 || before > total {
		t.Fatalf("residentBytes: %d of %d bytes, want a total of %d and no more resident", before, total, size+1000)
	}
	n, err := dropFromCache(files)
	if err != nil || n != total {
		t.Fatalf("dropFromCache: %d bytes, %v; want %d and no error", n, err, total)
	}
	after, _, err := residentBytes(files)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resident before the drop %d bytes, after %d (of %d)", before, after, total)
	switch {
	case before == 0:
		t.Log("the kernel reported nothing cached after a read: the drop could not be verified here")
	case after >= before:
		t.Errorf("the drop left %d of %d resident bytes in the page cache (file system of %s keeps them?)", after, before, dir)
	}

	// Reading brings the pages back, and the count sees them.
	if _, err := os.ReadFile(files[0]); err != nil {
		t.Fatal(err)
	}
	if again, _, _ := residentBytes(files[:1]); before > 0 && again == 0 {
		t.Error("after a re-read nothing is resident: residentBytes does not see the cache")
	}
}

func TestDropFromCacheErrors(t *testing.T) {
	dir := t.TempDir()
	ok := writeModel(t, dir, "ok", 10)
	n, err := dropFromCache([]string{ok, filepath.Join(dir, "gone")})
	if err == nil || !strings.Contains(err.Error(), "gone") || n != 10 {
		t.Errorf("drop with a missing file: %d bytes, %v; want 10 and an error naming it", n, err)
	}
	if _, _, err := residentBytes([]string{filepath.Join(dir, "gone")}); err == nil {
		t.Error("residency of a missing file: no error")
	}
}

func TestModelFiles(t *testing.T) {
	dir := t.TempDir()
	a := writeModel(t, dir, "diffusion_models/a.safetensors", 10)
	b := writeModel(t, dir, "vae/b.safetensors", 10)
	elsewhere := writeModel(t, t.TempDir(), "c.safetensors", 10)
	if err := os.Symlink(elsewhere, filepath.Join(dir, "text_encoders.safetensors")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(elsewhere), filepath.Join(dir, "linked_dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	got, err := modelFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{a, filepath.Join(dir, "text_encoders.safetensors"), b}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("modelFiles = %q, want %q (file links followed, directory and dangling links not)", got, want)
	}
	if _, err := modelFiles(filepath.Join(dir, "missing")); err == nil {
		t.Error("modelFiles of a missing dir: no error")
	}
}

func TestPreparePageCache(t *testing.T) {
	dir := t.TempDir()
	writeModel(t, dir, "vae/b.safetensors", 64<<10)
	test := func(drop bool, want string) {
		t.Helper()
		cfg := Defaults()
		cfg.ModelsDir, cfg.DropCaches = dir, drop
		var out bytes.Buffer
		r := newRun(cfg, Deps{Progress: lineTo(&out)})
		st, err := r.preparePageCache(0)
		if err != nil {
			t.Fatal(err)
		}
		if st == nil || st.Kind != want {
			t.Fatalf("drop=%v: state %+v, want kind %q", drop, st, want)
		}
		if runtime.GOOS == "linux" && (st.CachedBefore == nil || *st.CachedBefore < 0 || *st.CachedBefore > 64<<10) {
			t.Errorf("drop=%v: cached before %v, want a count within the file's size", drop, st.CachedBefore)
		}
		if drop != strings.Contains(out.String(), "from the page cache") {
			t.Errorf("drop=%v: progress %q", drop, out.String())
		}
	}
	test(false, PageCacheAsFound)
	test(true, PageCacheDropped)

	r := newRun(Defaults(), Deps{})
	if st, err := r.preparePageCache(0); st != nil || err != nil {
		t.Errorf("without --models: %+v, %v; want nothing", st, err)
	}
	cfg := Defaults()
	cfg.ModelsDir, cfg.DropCaches = filepath.Join(dir, "missing"), true
	if _, err := newRun(cfg, Deps{}).preparePageCache(0); err == nil {
		t.Error("a models dir that vanished: no error")
	}
}

func TestModelReadTime(t *testing.T) {
	t0 := time.Unix(100, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	cr := &coldRun{}
	cr.tl.spans = []span{
		{Name: "first_prompt", Start: at(0), End: at(10)},
		{Name: "loader:UNETLoader", Start: at(1), End: at(3), Parent: "first_prompt"},
		{Name: "loader:CLIPLoader", Start: at(2.5), End: at(4), Parent: "first_prompt"}, // overlaps the UNET loader
		{Name: "model_load:QwenImage", Start: at(5), End: at(6), Parent: "first_prompt"},
		{Name: "sampling", Start: at(6), End: at(9), Parent: "first_prompt"},
	}
	d, ok := modelReadTime(cr)
	if !ok || d != 4*time.Second {
		t.Errorf("modelReadTime = %s, %v; want 4s (1–4 and 5–6)", d, ok)
	}
	if _, ok := modelReadTime(&coldRun{}); ok {
		t.Error("no load spans: want no model read time")
	}
}
