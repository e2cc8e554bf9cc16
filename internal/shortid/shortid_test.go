package shortid

import (
	"strings"
	"testing"
)

func TestOf(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 4)
	for in, want := range map[string]string{
		hex:                 "0123456789ab", // a container ID
		"sha256:" + hex:     "sha256:0123456789ab",
		"0123456789ab":      "0123456789ab",
		"abc":               "abc",
		"":                  "",
		"sha256:":           "sha256:",
		"ééééééééééééééé":   "éééééééééééé",   // cut on runes, never inside one
		"a:b:cdefghijklmno": "a:b:cdefghijkl", // the first colon ends the prefix
	} {
		if got := Of(in); got != want {
			t.Errorf("Of(%q) = %q, want %q", in, got, want)
		}
	}
}
