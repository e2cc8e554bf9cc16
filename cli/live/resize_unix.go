//go:build unix

package live

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyResize asks for a redraw (on redraw, without blocking) whenever the terminal is
// resized; the returned function stops that.
func notifyResize(redraw chan<- struct{}) func() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-c:
				select {
				case redraw <- struct{}{}:
				default:
				}
			}
		}
	}()
	return func() { signal.Stop(c); close(done) }
}
