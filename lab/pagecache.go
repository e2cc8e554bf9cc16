package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Page-cache kinds of a cold start, as the report records them.
const (
	PageCacheDropped = "dropped"  // --drop-caches: the model files were evicted just before
	PageCacheAsFound = "as found" // whatever the host had cached
)

// pageCacheState is what a cold start found in, and did to, the page cache.
type pageCacheState struct {
	Kind         string // PageCacheDropped or PageCacheAsFound
	CachedBefore *int64 // model bytes resident before any drop; nil when not measurable
}

// preparePageCache runs before each cold start when --models is given: it measures how much
// of the model files is resident and, with --drop-caches, evicts them. It returns nil without
// a models dir. A failed drop is an error (the cold start would not be what was asked for); a
// failed measurement only leaves CachedBefore nil.
func (r *run) preparePageCache(i int) (*pageCacheState, error) {
	if r.cfg.ModelsDir == "" {
		return nil, nil
	}
	files, err := modelFiles(r.cfg.ModelsDir)
	if err != nil {
		return nil, err
	}
	st := &pageCacheState{Kind: PageCacheAsFound}
	if res, _, err := residentBytes(files); err == nil {
		st.CachedBefore = &res
	} else if i == 0 {
		r.warnf("cannot tell how much of the model files is in the page cache: %v", err)
	}
	if !r.cfg.DropCaches {
		return st, nil
	}
	t := time.Now()
	n, err := dropFromCache(files)
	if err != nil {
		return nil, fmt.Errorf("--drop-caches: %w", err)
	}
	st.Kind = PageCacheDropped
	cached := "unknown"
	if st.CachedBefore != nil {
		cached = humanBytes(*st.CachedBefore)
	}
	r.progressf("dropped %s of model files (%d files, %s were cached) from the page cache in %.0fms", humanBytes(n), len(files), cached, float64(time.Since(t).Microseconds())/1000)
	return st, nil
}

// modelFiles lists the regular files under dir, sorted. Symbolic links to regular files are
// followed (model folders often link into a download cache); links to directories are not.
func modelFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Type().IsRegular():
			files = append(files, p)
		case d.Type()&fs.ModeSymlink != 0:
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list model files under %s: %w", dir, err)
	}
	sort.Strings(files)
	return files, nil
}

// dropFromCache asks the kernel to evict each file's pages from the page cache
// (posix_fadvise POSIX_FADV_DONTNEED on a read-only descriptor; dirty pages stay until they
// are written back). It returns the files' total size, and every failure joined.
func dropFromCache(files []string) (int64, error) {
	var total int64
	var errs []error
	for _, f := range files {
		n, err := dropFile(f)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// residentBytes counts how many bytes of the files are in the page cache (mincore on a
// read-only mapping), and their total size.
func residentBytes(files []string) (resident, total int64, err error) {
	var errs []error
	for _, f := range files {
		res, size, err := residentFile(f)
		resident += res
		total += size
		if err != nil {
			errs = append(errs, err)
		}
	}
	return resident, total, errors.Join(errs...)
}

// modelReadTime is the time the first prompt spent loading models: the union of its loader
// nodes (which read the files) and the engine's model loads from the logs (which may read
// them too, with memory-mapped weights), overlaps counted once.
func modelReadTime(cr *coldRun) (time.Duration, bool) {
	var iv []span
	for _, s := range cr.tl.snapshot() {
		if strings.HasPrefix(s.Name, spanLoaderPrefix) || strings.HasPrefix(s.Name, spanModelLoadPrefix) {
			if !s.End.Before(s.Start) {
				iv = append(iv, s)
			}
		}
	}
	if len(iv) == 0 {
		return 0, false
	}
	sort.Slice(iv, func(i, j int) bool { return iv[i].Start.Before(iv[j].Start) })
	var total time.Duration
	cur := iv[0]
	for _, s := range iv[1:] {
		if s.Start.After(cur.End) {
			total += cur.End.Sub(cur.Start)
			cur = s
			continue
		}
		if s.End.After(cur.End) {
			cur.End = s.End
		}
	}
	total += cur.End.Sub(cur.Start)
	return total, true
}
