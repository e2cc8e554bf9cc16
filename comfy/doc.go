// Package comfy is qwenlab's client for a ComfyUI server: it parses API-format workflows,
// decodes /object_info and checks a workflow against it before anything is timed (preflight),
// decodes the WebSocket messages ComfyUI sends, and runs prompts over HTTP + WebSocket the way
// a careful client must (socket open before the POST, own prompt_id, end on the final
// `executing` null, recovery through /history when the socket drops), recording client-side
// receipt times next to the server's own timestamps.
//
// It owns the wire formats and the prompt lifecycle. It must not decide what a measurement
// means (cache verdicts, statistics and reports belong to lab and report), start or stop
// containers, or talk to anything but the one ComfyUI base URL it was given. No websocket type
// crosses its exported API, so callers can fake a [Client] with plain structs; the simulator
// (comfysim) may reuse the message types in messages.go.
package comfy
