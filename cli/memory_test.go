package cli

import "testing"

// TestParseBytes: --memory takes sizes as Docker does, 48gb and 48GiB included.
func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"512m": 512 << 20, "48g": 48 << 30, "48gb": 48 << 30, "48GiB": 48 << 30, "48G": 48 << 30,
		"1.5g": 3 << 29, "6291456": 6 << 20, "100k": 100 << 10,
	} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1g", "0", "48x", "1e30"} {
		if n, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, n)
		}
	}
}
