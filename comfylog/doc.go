// Package comfylog reads ComfyUI's console log: it turns one log line into a typed
// [Event] ([Parse]), follows a whole container log in order and keeps what a report needs
// ([Tracker]: startup marks, model loads, sampler progress, "Prompt executed in" figures,
// exceptions with their tracebacks, custom-node import failures, the last lines) and finds
// long silences while ComfyUI is busy ([Tracker.Gaps]).
//
// ComfyUI prints no timestamps; the times come with each [Line] from the Docker engine.
// The parser is lenient: the load-stat line has changed format several times (0.3.64,
// 0.3.68, 0.8.1, DynamicVRAM from 0.16), lines copied from ComfyUI-Manager or Desktop log
// files carry a timestamp or "name - LEVEL - " prefix, and tqdm bars arrive as "\r" updates.
// A line it does not know is [Unknown]; Parse never fails.
//
// This package must not talk to Docker or ComfyUI, read or write files, start goroutines,
// read the clock or redact secrets (the report package does that). It imports only the
// standard library, so the lab and its fakes can use it freely.
package comfylog
