package docker

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"
)

// readTar summarises a tar: name -> "dir MODE", "file MODE CONTENT", or the
// content for the Dockerfile.
func readTar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		switch {
		case h.Name == "Dockerfile":
			out[h.Name] = string(data)
		case h.Typeflag == tar.TypeDir:
			out[h.Name] = fmt.Sprintf("dir %o", h.Mode)
		default:
			out[h.Name] = fmt.Sprintf("file %o %s", h.Mode, data)
		}
	}
}

func keys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
