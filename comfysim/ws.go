package comfysim

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// hub routes WebSocket messages to clients by sid, as PromptServer.send_sync does: a sid
// sends to that socket only (dropped if it is not connected), no sid broadcasts.
type hub struct {
	mu        sync.Mutex
	clients   map[string]*wsClient
	holdUntil time.Time // writers pause until then (the post-prompt gc stall)
	frozen    bool      // --fault hang-at-step: nothing is sent any more
}

func newHub() *hub {
	return &hub{clients: map[string]*wsClient{}}
}

// wsClient is one socket with its own unbounded outgoing queue and writer goroutine, so a
// slow client never blocks the worker.
type wsClient struct {
	id     string
	conn   *websocket.Conn
	mu     sync.Mutex
	queue  [][]byte
	notify chan struct{}
	done   chan struct{}
	once   sync.Once
}

func (c *wsClient) enqueue(b []byte) {
	c.mu.Lock()
	c.queue = append(c.queue, b)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *wsClient) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.conn.Close()
	})
}

func encodeMessage(event string, data obj) []byte {
	b, err := marshalPy(obj{{"type", event}, {"data", data}})
	if err != nil {
		b, _ = marshalPy(obj{{"type", event}, {"data", obj{}}})
	}
	return b
}

func (h *hub) send(event string, data obj, sid string, hasSid bool) {
	b := encodeMessage(event, data)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.frozen {
		return
	}
	if hasSid {
		if c := h.clients[sid]; c != nil {
			c.enqueue(b)
		}
		return
	}
	for _, c := range h.clients {
		c.enqueue(b)
	}
}

func (h *hub) add(c *wsClient) {
	h.mu.Lock()
	h.clients[c.id] = c
	h.mu.Unlock()
}

func (h *hub) remove(c *wsClient) {
	h.mu.Lock()
	if h.clients[c.id] == c {
		delete(h.clients, c.id)
	}
	h.mu.Unlock()
}

// drop closes a client's socket (the drop-ws fault).
func (h *hub) drop(sid string) {
	h.mu.Lock()
	c := h.clients[sid]
	delete(h.clients, sid)
	h.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// stall pauses every writer for d, as ComfyUI's gc.collect() stalls its event loop.
func (h *hub) stall(d time.Duration) {
	h.mu.Lock()
	h.holdUntil = time.Now().Add(d)
	h.mu.Unlock()
}

// hold stops all sending for good (the hang fault): messages from now on are dropped, the
// ones already queued still go out, sockets stay open.
func (h *hub) hold() {
	h.mu.Lock()
	h.frozen = true
	h.mu.Unlock()
}

func (h *hub) closeAll() {
	h.mu.Lock()
	cs := make([]*wsClient, 0, len(h.clients))
	for _, c := range h.clients {
		cs = append(cs, c)
	}
	h.clients = map[string]*wsClient{}
	h.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
}

// writer sends c's queued messages in order, honouring stalls.
func (h *hub) writer(c *wsClient) {
	for {
		select {
		case <-c.done:
			return
		case <-c.notify:
		}
		for {
			c.mu.Lock()
			if len(c.queue) == 0 {
				c.mu.Unlock()
				break
			}
			b := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			for {
				h.mu.Lock()
				until := h.holdUntil
				h.mu.Unlock()
				wait := time.Until(until)
				if wait <= 0 {
					break
				}
				select {
				case <-c.done:
					return
				case <-time.After(wait):
				}
			}
			_ = c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				h.remove(c)
				c.close()
				return
			}
		}
	}
}
