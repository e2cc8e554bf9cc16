package comfysim

import "time"

// The prompt worker: one goroutine that takes the queue in priority order and executes
// each prompt, as ComfyUI's prompt_worker thread does.

func (s *Server) queueRemainingLocked() int {
	n := len(s.pending)
	if s.running != nil {
		n++
	}
	return n
}

func (s *Server) broadcastStatusLocked() {
	s.hub.send("status", obj{{"status", obj{{"exec_info", obj{{"queue_remaining", s.queueRemainingLocked()}}}}}}, "", false)
}

func (s *Server) applyFreeLocked() {
	if s.freeUnload || s.freeMemory {
		clear(s.loaded)
	}
	if s.freeMemory {
		clear(s.cache)
	}
	s.freeUnload, s.freeMemory = false, false
}

func (s *Server) worker() {
	defer s.workerWG.Done()
	for {
		s.mu.Lock()
		for len(s.pending) == 0 {
			s.applyFreeLocked()
			s.mu.Unlock()
			select {
			case <-s.ctx.Done():
				return
			case <-s.wake:
			}
			s.mu.Lock()
		}
		var it *queueItem
		it, s.pending = heapPop(s.pending)
		s.running = it
		s.broadcastStatusLocked()
		s.mu.Unlock()

		start := time.Now()
		st, status, alive := s.execute(s.ctx, it)
		if !alive {
			return
		}
		if s.cfg.PostPromptStall > 0 {
			s.mu.Lock()
			if s.lastStall.IsZero() || time.Since(s.lastStall) >= s.cfg.StallEvery {
				s.lastStall = time.Now()
				s.hub.stall(s.cfg.PostPromptStall)
			}
			s.mu.Unlock()
		}
		s.mu.Lock()
		s.taskDoneLocked(it, st, status)
		s.running = nil
		s.broadcastStatusLocked()
		if st.hasClient {
			s.hub.send("executing", obj{{"node", nil}, {"prompt_id", it.id}}, st.client, true)
		}
		s.currentClient, s.hasCurrentClient, s.lastNode = "", false, ""
		s.applyFreeLocked()
		s.mu.Unlock()
		s.logf("%s", executedIn(time.Since(start)))
	}
}

func (s *Server) taskDoneLocked(it *queueItem, st *execState, status string) {
	msgs := st.messages
	if msgs == nil {
		msgs = []any{}
	}
	entry := obj{
		{"prompt", it.view()},
		{"outputs", st.ui},
		{"status", obj{{"status_str", status}, {"completed", status == "success"}, {"messages", msgs}}},
		{"meta", st.meta},
	}
	if _, exists := s.history[it.id]; !exists {
		s.historyOrder = append(s.historyOrder, it.id)
	}
	s.history[it.id] = entry
	for len(s.historyOrder) > maxHistory {
		delete(s.history, s.historyOrder[0])
		s.historyOrder = s.historyOrder[1:]
	}
}
