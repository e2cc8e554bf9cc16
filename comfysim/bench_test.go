package comfysim

import (
	"fmt"
	"testing"
)

// BenchmarkPromptRoundTrip is the simulator's share of the harness-overhead target: POST a
// 2-node prompt (new colour each time, so nothing is cached) over HTTP and wait for the
// WebSocket's executing null, with zero simulated work.
func BenchmarkPromptRoundTrip(b *testing.B) {
	ts := newTestSim(b, Config{})
	ws := ts.dial("bench")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pid := fmt.Sprintf("b%d", i)
		ts.prompt("bench", pid, map[string]any{"1": emptyNode(i%0xffffff, 8, 8), "2": saveNode("1", "b")})
		ws.until(pid)
	}
}

// BenchmarkValidateQwen measures validate_prompt on the reference Qwen graph.
func BenchmarkValidateQwen(b *testing.B) {
	s, err := New(Config{ModelsDir: qwenModels(b), OutputDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	v, err := decodeOrdered(qwenBody(b, "c", "p", 1))
	if err != nil {
		b.Fatal(err)
	}
	pv, _ := v.(obj).get("prompt")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g, _ := parseGraph(pv)
		if !s.validatePrompt(g, nil).ok {
			b.Fatal("reference graph rejected")
		}
	}
}
