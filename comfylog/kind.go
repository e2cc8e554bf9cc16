package comfylog

import "fmt"

// Kind says what a log line is.
type Kind int

// The kinds of log line. The first group follows ComfyUI's startup, the second a prompt.
const (
	Unknown                Kind = iota // any line not listed below
	TotalVRAM                          // "Total VRAM 81079 MB, total RAM 2051800 MB"
	VRAMState                          // "Set vram state to: NORMAL_VRAM"
	Device                             // "Device: cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync"
	PythonVersion                      // "Python version: 3.12.3 (main, ...)"
	ComfyVersion                       // "ComfyUI version: 0.21.0"
	ImportTimesHeader                  // "Import times for custom nodes:"
	CustomNodeImport                   // "   0.0 seconds: /root/ComfyUI/custom_nodes/x.py"
	CustomNodeImportFailed             // "   0.1 seconds (IMPORT FAILED): /root/ComfyUI/custom_nodes/x"
	StartingServer                     // "Starting server"
	GUIReady                           // "To see the GUI go to: http://0.0.0.0:8188"
	PortInUse                          // "Port 8188 is already in use on address 0.0.0.0. ..."
	GotPrompt                          // "got prompt"
	InvalidPrompt                      // "invalid prompt: {...}"
	RequestedToLoad                    // "Requested to load QwenImage"
	LoadedCompletely                   // "loaded completely ..." (every format)
	LoadedPartially                    // "loaded partially ..." (every format)
	DynamicVRAM                        // "Model QwenImage prepared for dynamic VRAM loading. 19500MB Staged. ..."
	ModelsUnloaded                     // "2 models unloaded."
	Progress                           // a tqdm bar: " 4%|▍ | 1/25 [00:01<00:30,  1.25s/it]"
	PromptExecuted                     // "Prompt executed in 12.34 seconds" or "... in 00:10:05"
	Exception                          // "!!! Exception during processing !!! <message>"
	OOM                                // "Got an OOM, unloading all loaded models."
	Interrupted                        // "Processing interrupted"
	ErrorBanner                        // "********** ERROR ***********" (e.g. frontend package missing)
	PytorchVersion                     // "pytorch version: 2.8.0+cu128"
	FrontendVersion                    // "ComfyUI frontend version: 1.28.7"
	Attention                          // "Using pytorch attention" (and the other backends)
	DynamicVRAMEnabled                 // "DynamicVRAM support detected and enabled"
	SmartMemoryDisabled                // "Disabling smart memory management"
	CacheMode                          // "Using LRU cache", "Disabling intermediate node cache.", "Using RAM pressure cache."
	PrestartupTimesHeader              // "Prestartup times for custom nodes:"
	ModelType                          // "model_type FLUX"
	WeightDtype                        // "model weight dtype torch.float8_e4m3fn, manual cast: torch.bfloat16"
	ValidationFailed                   // "Failed to validate prompt for output 9:"
	Traceback                          // "Traceback (most recent call last):"
	InterruptRequested                 // "Global interrupt (no prompt_id specified)", "Prompt X is not currently running, skipping interrupt"
	kindCount
)

var kindNames = [kindCount]string{
	"Unknown", "TotalVRAM", "VRAMState", "Device", "PythonVersion", "ComfyVersion",
	"ImportTimesHeader", "CustomNodeImport", "CustomNodeImportFailed", "StartingServer",
	"GUIReady", "PortInUse", "GotPrompt", "InvalidPrompt", "RequestedToLoad",
	"LoadedCompletely", "LoadedPartially", "DynamicVRAM", "ModelsUnloaded", "Progress",
	"PromptExecuted", "Exception", "OOM", "Interrupted", "ErrorBanner", "PytorchVersion",
	"FrontendVersion", "Attention", "DynamicVRAMEnabled", "SmartMemoryDisabled", "CacheMode",
	"PrestartupTimesHeader", "ModelType", "WeightDtype", "ValidationFailed", "Traceback",
	"InterruptRequested",
}

// String returns the kind's Go name, e.g. "RequestedToLoad".
func (k Kind) String() string {
	if k >= 0 && k < kindCount {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MarshalText writes the kind's name, so JSON shows "PromptExecuted" rather than 20.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a name written by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown log line kind %q", b)
}
