package comfysim

import (
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// The WebSocket front: one connection per client id, its first status message and the
// feature-flags handshake.

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(maxUploadSize)
	sid := r.URL.Query().Get("clientId")
	if sid == "" {
		sid = strings.ReplaceAll(uuid.NewString(), "-", "") // ComfyUI: uuid.uuid4().hex
	}
	c := &wsClient{id: sid, conn: conn, notify: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	s.hub.add(c)
	c.enqueue(encodeMessage("status", obj{{"status", obj{{"exec_info", obj{{"queue_remaining", s.queueRemainingLocked()}}}}}, {"sid", sid}}))
	if s.hasCurrentClient && s.currentClient == sid && s.lastNode != "" {
		c.enqueue(encodeMessage("executing", obj{{"node", s.lastNode}}))
	}
	s.mu.Unlock()
	go s.hub.writer(c)
	defer func() {
		s.hub.remove(c)
		c.close()
	}()
	first := true
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if first && mt == websocket.TextMessage {
			if v, err := decodeOrdered(data); err == nil {
				if m, ok := v.(obj); ok {
					if t, _ := m.get("type"); t == "feature_flags" {
						c.enqueue(encodeMessage("feature_flags", s.features()))
					}
				}
			}
		}
		first = false
	}
}
