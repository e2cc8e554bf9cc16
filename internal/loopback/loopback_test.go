package loopback

import "testing"

func TestHost(t *testing.T) {
	for _, h := range []string{"localhost", "LocalHost", "localhost:8188", "127.0.0.1", "127.1.2.3:80", "::1", "[::1]", "[::1]:8188", "::ffff:127.0.0.1"} {
		if !Host(h) {
			t.Errorf("Host(%q) = false, want true", h)
		}
	}
	for _, h := range []string{"", "0.0.0.0", "10.0.0.1:8188", "[2001:db8::1]:80", "comfy", "localhost.example.com", "127.0.0.1.nip.io", "::"} {
		if Host(h) {
			t.Errorf("Host(%q) = true, want false", h)
		}
	}
}

func TestURL(t *testing.T) {
	for s, want := range map[string]bool{
		"http://127.0.0.1:8188":      true,
		"http://localhost:8188/x":    true,
		"https://[::1]/":             true,
		"http://user:pw@localhost/":  true,
		"http://comfy:8188":          false,
		"http://10.1.2.3":            false,
		"://bad":                     false,
		"127.0.0.1:8188":             false, // not a URL: no scheme, so no host
		"http://127.0.0.1.evil.com/": false,
	} {
		if got := URL(s); got != want {
			t.Errorf("URL(%q) = %v, want %v", s, got, want)
		}
	}
}
