package docker

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// elfDeps lists the host files a dynamically linked executable needs to
// run in an otherwise empty image: its interpreter (PT_INTERP) and the
// shared libraries of its DT_NEEDED entries, transitively, each resolved
// the way ld.so would (DT_RUNPATH/DT_RPATH, then the system directories).
// The paths are absolute and sorted; a static executable gives none.
func elfDeps(exe string) ([]string, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return nil, fmt.Errorf("read ELF %s: %w", exe, err)
	}
	defer f.Close()
	return elfDepsOf(f, exe, fileExists)
}

// fileExists reports whether path names a regular file (symlinks followed).
func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// elfDepsOf does elfDeps' work on an opened file; exists decides whether a
// candidate library path is present (tests swap it).
func elfDepsOf(f *elf.File, name string, exists func(string) bool) ([]string, error) {
	var deps []string
	add := func(p string) {
		if !slices.Contains(deps, p) {
			deps = append(deps, p)
		}
	}
	interp, err := interpreter(f)
	if err != nil {
		return nil, fmt.Errorf("read ELF %s: %w", name, err)
	}
	if interp != "" {
		if !filepath.IsAbs(interp) || !exists(interp) {
			return nil, fmt.Errorf("ELF %s: interpreter %q not found on this host", name, interp)
		}
		add(interp)
	}
	dirs := searchDirs(f.Machine)
	type item struct {
		soname, from string
		rpath        []string
	}
	queue, err := neededOf(f, name)
	if err != nil {
		return nil, err
	}
	var items []item
	rp := runpath(f, filepath.Dir(name))
	for _, n := range queue {
		items = append(items, item{n, name, rp})
	}
	seen := map[string]bool{}
	if interp != "" {
		// The loaded interpreter satisfies a DT_NEEDED of its own name
		// (libc needs ld-linux-x86-64.so.2): no second copy is needed.
		seen[filepath.Base(interp)] = true
	}
	for len(items) > 0 {
		it := items[0]
		items = items[1:]
		if seen[it.soname] {
			continue
		}
		seen[it.soname] = true
		path, lib, err := findLibrary(it.soname, slices.Concat(it.rpath, dirs), f.Class, f.Machine, exists)
		if err != nil {
			return nil, fmt.Errorf("resolve %s needed by %s: %w", it.soname, it.from, err)
		}
		add(path)
		more, err := neededOf(lib, path)
		lrp := runpath(lib, filepath.Dir(path))
		lib.Close()
		if err != nil {
			return nil, err
		}
		for _, n := range more {
			items = append(items, item{n, path, lrp})
		}
	}
	slices.Sort(deps)
	return deps, nil
}

func interpreter(f *elf.File) (string, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		if p.Filesz > 4096 {
			return "", errors.New("PT_INTERP too long")
		}
		b, err := io.ReadAll(io.LimitReader(p.Open(), 4096))
		if err != nil {
			return "", fmt.Errorf("PT_INTERP: %w", err)
		}
		return strings.TrimRight(string(b), "\x00"), nil
	}
	return "", nil
}

func neededOf(f *elf.File, name string) ([]string, error) {
	needed, err := f.DynString(elf.DT_NEEDED)
	if err != nil {
		return nil, fmt.Errorf("read DT_NEEDED of %s: %w", name, err)
	}
	return needed, nil
}

// runpath returns the DT_RUNPATH (or, without one, DT_RPATH) directories,
// with $ORIGIN expanded to dir.
func runpath(f *elf.File, dir string) []string {
	v, _ := f.DynString(elf.DT_RUNPATH)
	if len(v) == 0 {
		v, _ = f.DynString(elf.DT_RPATH)
	}
	var out []string
	for _, s := range v {
		for _, d := range strings.Split(s, ":") {
			d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", dir), "$ORIGIN", dir)
			if filepath.IsAbs(d) {
				out = append(out, filepath.Clean(d))
			}
		}
	}
	return out
}

// searchDirs are ld.so's default directories on Debian-, Ubuntu-, Fedora-
// and Alpine-style hosts, multiarch first.
func searchDirs(m elf.Machine) []string {
	var triplet string
	switch m {
	case elf.EM_X86_64:
		triplet = "x86_64-linux-gnu"
	case elf.EM_AARCH64:
		triplet = "aarch64-linux-gnu"
	case elf.EM_386:
		triplet = "i386-linux-gnu"
	}
	var dirs []string
	if triplet != "" {
		dirs = append(dirs, "/lib/"+triplet, "/usr/lib/"+triplet, "/usr/local/lib/"+triplet)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")
}

// findLibrary finds soname in dirs, skipping files of another ELF class or
// machine (a 32-bit libc in /usr/lib, say). The returned file is open.
func findLibrary(soname string, dirs []string, class elf.Class, machine elf.Machine, exists func(string) bool) (string, *elf.File, error) {
	candidates := dirs
	if strings.Contains(soname, "/") {
		candidates = []string{""}
	}
	for _, d := range candidates {
		p := soname
		if d != "" {
			p = filepath.Join(d, soname)
		}
		if !filepath.IsAbs(p) || !exists(p) {
			continue
		}
		lib, err := elf.Open(p)
		if err != nil {
			continue
		}
		if lib.Class != class || lib.Machine != machine {
			lib.Close()
			continue
		}
		return p, lib, nil
	}
	return "", nil, fmt.Errorf("not found in %s", strings.Join(dirs, ":"))
}
