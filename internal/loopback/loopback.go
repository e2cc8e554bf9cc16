// Package loopback tells whether a host is this machine's loopback interface: where qwenlab
// may treat a server's clock as its own, leave a warning out, or (in the simulator) apply
// ComfyUI's origin check. It imports nothing of qwenlab's.
package loopback

import (
	"net"
	"net/url"
	"strings"
)

// Host reports whether host is this machine's loopback: "localhost" (in any case) or an
// address in 127.0.0.0/8 or ::1, with or without a port ("127.0.0.1:8188", "[::1]:8188").
// Other names are not resolved.
func Host(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL reports whether the host of the URL s is this machine's loopback (see [Host]); false
// for a URL that does not parse.
func URL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && Host(u.Hostname())
}
