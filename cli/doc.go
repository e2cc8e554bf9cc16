// Package cli owns qwenlab's command surface: subcommands, flags, validation of what the user
// typed (usage errors exit 2), wiring the real adapters (Docker, ComfyUI, NVML) into package
// lab, signals (first Ctrl-C tears down, second exits at once), writing the report and mapping
// errors to exit codes. main.go only calls Main.
//
// It holds no measurement logic: runs belong to lab, the report's shape to report.
package cli
