// Package compose reads the one benchmark container qwenlab starts from a Compose file
// (github.com/compose-spec/compose-go/v2: interpolation, .env, profiles) into qwenlab's own
// terms, and reports every attribute that does not fit one benchmark container instead of
// ignoring it. It also ships comfyui-qwen.yaml, a Compose file for ComfyUI + Qwen-Image.
package compose
