package comfy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// helloWait bounds the wait for the server's on-connect message.
const helloWait = 5 * time.Second

// frame is one WebSocket frame with its receipt time.
type frame struct {
	at     time.Time
	binary bool
	data   []byte
}

// wsConn is one /ws connection with its reader goroutine. The reader queues frames only
// while a prompt listens, so messages that beat the POST reply are kept and nothing piles up
// between prompts.
type wsConn struct {
	conn *websocket.Conn

	mu        sync.Mutex
	queue     []frame
	listening bool

	hello  chan struct{} // closed at the first frame (the server's on-connect status)
	notify chan struct{} // a frame was queued (capacity 1)
	done   chan struct{} // closed when the reader stops; err is set before
	err    error
}

// dial opens /ws?clientId=X. It sends no Origin header (ComfyUI answers 403 to a
// mismatched one).
func (c *Client) dial(ctx context.Context) (*wsConn, error) {
	u := *c.base
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = c.base.Path + "/ws"
	u.RawPath = ""
	u.RawQuery = url.Values{"clientId": {c.clientID}}.Encode()
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 10 * time.Second,
		NetDialContext:   (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		ReadBufferSize:   64 << 10,
		WriteBufferSize:  4 << 10,
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	h := http.Header{}
	c.authorize(h)
	conn, resp, err := d.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusForbidden {
				return nil, fmt.Errorf("open %s: HTTP 403 (ComfyUI's origin check? start it with --enable-cors-header): %w", u.Redacted(), err)
			}
			return nil, fmt.Errorf("open %s: HTTP %d: %w", u.Redacted(), resp.StatusCode, err)
		}
		return nil, fmt.Errorf("open %s: %w", u.Redacted(), err)
	}
	conn.SetReadLimit(c.readLimit)
	w := &wsConn{conn: conn, hello: make(chan struct{}), notify: make(chan struct{}, 1), done: make(chan struct{})}
	go w.read()
	// ComfyUI registers the socket under the client id and then sends "status" with the sid.
	// Waiting for it means no message of the coming prompt can go to a socket not yet known.
	select {
	case <-w.hello:
	case <-w.done:
		return nil, fmt.Errorf("open %s: closed before the first message: %w", u.Redacted(), w.err)
	case <-ctx.Done():
		w.close()
		return nil, fmt.Errorf("open %s: no status message: %w", u.Redacted(), ctx.Err())
	case <-time.After(helloWait):
		// An unusual server that greets nobody: go on.
	}
	return w, nil
}

func (w *wsConn) read() {
	defer close(w.done)
	first := true
	// No read deadline: a prompt waiting in a busy queue hears nothing for minutes, and a
	// timed-out gorilla connection is unusable. Run's own timers judge silence.
	for {
		mt, data, err := w.conn.ReadMessage()
		at := time.Now()
		if err != nil {
			w.err = err
			w.signal()
			return
		}
		if first {
			first = false
			close(w.hello)
		}
		if mt != websocket.TextMessage && mt != websocket.BinaryMessage {
			continue
		}
		w.mu.Lock()
		if w.listening {
			w.queue = append(w.queue, frame{at: at, binary: mt == websocket.BinaryMessage, data: data})
		}
		w.mu.Unlock()
		w.signal()
	}
}

func (w *wsConn) signal() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// listen starts or stops queueing frames; either way the queue starts empty.
func (w *wsConn) listen(on bool) {
	w.mu.Lock()
	w.listening = on
	w.queue = nil
	w.mu.Unlock()
}

// take moves the queued frames into buf.
func (w *wsConn) take(buf []frame) []frame {
	w.mu.Lock()
	buf = append(buf[:0], w.queue...)
	clear(w.queue)
	w.queue = w.queue[:0]
	w.mu.Unlock()
	return buf
}

func (w *wsConn) dead() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// close sends a normal close frame (best effort), closes the connection and waits briefly
// for the reader to stop.
func (w *wsConn) close() {
	_ = w.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = w.conn.Close()
	select {
	case <-w.done:
	case <-time.After(2 * time.Second):
	}
}

// socket returns the open WebSocket, dialling a new one if there is none or it dropped.
func (c *Client) socket(ctx context.Context) (*wsConn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("client is closed")
	}
	ws := c.ws
	c.mu.Unlock()
	if ws != nil && !ws.dead() {
		return ws, nil
	}
	if ws != nil {
		ws.close()
	}
	nw, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		go nw.close()
		return nil, errors.New("client is closed")
	}
	c.ws = nw
	return nw, nil
}

// drop forgets ws (closing it) if it is still the client's socket.
func (c *Client) drop(ws *wsConn) {
	c.mu.Lock()
	if c.ws == ws {
		c.ws = nil
	}
	c.mu.Unlock()
	ws.close()
}
