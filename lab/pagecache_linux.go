//go:build linux

package lab

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mincoreChunk is how much of a file is mapped at a time to read its residency (a multiple
// of every page size).
const mincoreChunk = 1 << 30

func dropFile(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("drop %s from the page cache: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("drop %s from the page cache: %w", path, err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fi.Size(), fmt.Errorf("drop %s from the page cache: fadvise: %w", path, err)
	}
	return fi.Size(), nil
}

func residentFile(path string) (resident, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("page-cache residency of %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("page-cache residency of %s: %w", path, err)
	}
	size = fi.Size()
	page := int64(os.Getpagesize())
	for off := int64(0); off < size; off += mincoreChunk {
		n := min(size-off, mincoreChunk)
		m, err := unix.Mmap(int(f.Fd()), off, int(n), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return resident, size, fmt.Errorf("page-cache residency of %s: mmap: %w", path, err)
		}
		vec := make([]byte, (n+page-1)/page)
		err = mincore(m, vec)
		unix.Munmap(m)
		if err != nil {
			return resident, size, fmt.Errorf("page-cache residency of %s: mincore: %w", path, err)
		}
		for i, v := range vec {
			if v&1 != 0 {
				resident += min(page, n-int64(i)*page)
			}
		}
	}
	return resident, size, nil
}

// mincore fills vec with the residency of m's pages (x/sys/unix has no wrapper for it).
func mincore(m, vec []byte) error {
	if len(m) == 0 {
		return nil
	}
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return errno
	}
	return nil
}
