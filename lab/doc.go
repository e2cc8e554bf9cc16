// Package lab owns one qwenlab run: the plan (preflight), the cold start(s), the warm runs,
// teardown in every case, and the assembly of the report from what was measured.
//
// It declares the small interfaces it consumes (Engine, Comfy, GPU) in deps.go and never
// constructs a real adapter: package cli wires the Docker client, the ComfyUI client and the
// NVML monitor in, and tests use hand-written fakes. It never prints the report itself; it
// returns it, with progress lines on the Progress writer.
package lab
