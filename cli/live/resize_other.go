//go:build !unix

package live

// notifyResize: without SIGWINCH the width is still read again on every redraw.
func notifyResize(chan<- struct{}) func() { return func() {} }
