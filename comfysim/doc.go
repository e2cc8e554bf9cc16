// Package comfysim is a protocol-faithful simulator of a ComfyUI server (versions 0.3.64 and
// 0.21.0), used wherever qwenlab runs without a GPU: `qwenlab sim`, the simulator container
// image, and other packages' tests through Server.Handler.
//
// It owns the simulated server: the HTTP routes (each also under /api), the /ws WebSocket with
// ComfyUI's message order and client_id routing, prompt validation with the real error shapes,
// the prompt queue and history, the classic execution cache, a small set of nodes implemented
// as deterministic Go image operations (including the native Qwen-Image T2I graph, which paints
// a seeded pattern), timing profiles, ComfyUI's log lines, and fault modes for tests.
//
// It must not do real inference, reach the network beyond its own listener, or write outside
// the directories it was given or created. Its exported API carries no websocket types, so
// callers can swap it for a fake; the conformance yardstick is ../shared/conformance.
package comfysim
