package comfy

import "testing"

// A /queue reply as ComfyUI 0.21.0 sends it: a running prompt of another client and two
// pending ones, the pending list in heap order (not sorted), one number a float (a client
// that set its own priority).
const queueReply = `{"queue_running": [[3, "theirs-1", {}, {"client_id": "colleague", "create_time": 1}, ["9"]]],
 "queue_pending": [[5.0, "mine", {}, {"client_id": "me"}, ["9"]], [4, "theirs-2", {}, {}, ["9"]]]}`

func TestDecodeQueue(t *testing.T) {
	q, err := decodeQueue([]byte(queueReply))
	if err != nil {
		t.Fatal(err)
	}
	if q.Len() != 3 || q.State("theirs-1") != PromptRunning || q.State("mine") != PromptPending || q.State("gone") != "" {
		t.Fatalf("queue %+v", q)
	}
	if n := q.Ahead("mine"); n != 2 {
		t.Errorf("ahead of mine: %d, want the running one and number 4", n)
	}
	if n := q.Ahead("theirs-1"); n != 0 {
		t.Errorf("ahead of the running prompt: %d", n)
	}
	if n := q.Ahead("gone"); n != -1 {
		t.Errorf("ahead of an absent prompt: %d", n)
	}
	if o := q.Others("me"); o.Len() != 2 || o.State("mine") != "" {
		t.Errorf("others %+v", o)
	}
	if o := q.Others("me"); o.Pending[0].ClientID != "" {
		t.Errorf("a prompt without client_id: %+v", o.Pending[0])
	}
}

func FuzzDecodeQueue(f *testing.F) {
	f.Add([]byte(queueReply))
	f.Add([]byte(`{"queue_running": [], "queue_pending": []}`))
	f.Add([]byte(`{"queue_running": [[1]], "queue_pending": [["x", 2, 3, 4]]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := decodeQueue(data)
		if err != nil {
			return
		}
		for _, it := range append(q.Running, q.Pending...) {
			if a := q.Ahead(it.PromptID); a < 0 || a > q.Len() {
				t.Fatalf("ahead of %q = %d in a queue of %d", it.PromptID, a, q.Len())
			}
		}
	})
}
