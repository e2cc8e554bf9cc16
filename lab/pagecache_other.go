//go:build !linux

package lab

import (
	"errors"
	"runtime"
)

var errNoPageCacheControl = errors.New("page-cache control needs Linux (posix_fadvise, mincore), not " + runtime.GOOS)

func dropFile(path string) (int64, error) { return 0, errNoPageCacheControl }

func residentFile(path string) (int64, int64, error) { return 0, 0, errNoPageCacheControl }
