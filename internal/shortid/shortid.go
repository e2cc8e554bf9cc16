// Package shortid shortens identifiers for people: container and image IDs, digests,
// hashes, run IDs. Every package that shows an ID (in an error, a progress line, a rendered
// report) uses it, so one ID reads the same everywhere. It imports nothing of qwenlab's.
package shortid

import "strings"

// Len is how many characters of an identifier are shown: Docker's short ID length.
const Len = 12

// Of returns id cut to its first [Len] characters. An algorithm prefix is kept before them
// ("sha256:0123456789ab" for a digest or an image ID); a shorter id comes back as it is.
func Of(id string) string {
	prefix := ""
	if i := strings.IndexByte(id, ':'); i >= 0 {
		prefix, id = id[:i+1], id[i+1:]
	}
	if r := []rune(id); len(r) > Len {
		id = string(r[:Len])
	}
	return prefix + id
}
