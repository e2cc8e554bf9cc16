package comfylog

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParse(t *testing.T) {
	test := func(line string, want Event) {
		t.Helper()
		want.Line = line
		got := Parse(line)
		if diff := cmp.Diff(want, got, cmpopts.EquateApprox(1e-12, 0)); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", line, diff)
		}
	}
	// Startup.
	test("Total VRAM 81079 MB, total RAM 2051800 MB", Event{Kind: TotalVRAM, VRAMMB: 81079, RAMMB: 2051800})
	test("Set vram state to: NORMAL_VRAM", Event{Kind: VRAMState, Detail: "NORMAL_VRAM"})
	test("Device: cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync", Event{Kind: Device, Detail: "cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync"})
	test("Python version: 3.12.3 (main, Sep 11 2025) [GCC 13.3.0]", Event{Kind: PythonVersion, Version: "3.12.3", Detail: "3.12.3 (main, Sep 11 2025) [GCC 13.3.0]"})
	test("ComfyUI version: 0.21.0", Event{Kind: ComfyVersion, Version: "0.21.0"})
	test("ComfyUI frontend version: 1.42.15", Event{Kind: FrontendVersion, Version: "1.42.15"})
	test("pytorch version: 2.8.0+cu128", Event{Kind: PytorchVersion, Version: "2.8.0+cu128"})
	test("Using pytorch attention", Event{Kind: Attention, Detail: "pytorch"})
	test("Using sage attention", Event{Kind: Attention, Detail: "sage"})
	test("Using Flash Attention", Event{Kind: Attention, Detail: "Flash"})
	test("Using split optimization for attention", Event{Kind: Attention, Detail: "split"})
	test("Using sub quadratic optimization for attention, if you have memory or speed issues try using: --use-split-cross-attention", Event{Kind: Attention, Detail: "sub quadratic"})
	test("Using pytorch attention in VAE", Event{})
	test("DynamicVRAM support detected and enabled", Event{Kind: DynamicVRAMEnabled})
	test("Disabling smart memory management", Event{Kind: SmartMemoryDisabled})
	test("Using LRU cache", Event{Kind: CacheMode, Detail: "lru"})
	test("Using RAM pressure cache.", Event{Kind: CacheMode, Detail: "ram"})
	test("Disabling intermediate node cache.", Event{Kind: CacheMode, Detail: "none"})
	test("Prestartup times for custom nodes:", Event{Kind: PrestartupTimesHeader})
	test("Import times for custom nodes:", Event{Kind: ImportTimesHeader})
	test("   0.0 seconds: /root/ComfyUI/custom_nodes/websocket_image_save.py", Event{Kind: CustomNodeImport, Path: "/root/ComfyUI/custom_nodes/websocket_image_save.py"})
	test("  12.6 seconds: /root/ComfyUI/custom_nodes/ComfyUI-Manager", Event{Kind: CustomNodeImport, Seconds: 12.6, Path: "/root/ComfyUI/custom_nodes/ComfyUI-Manager"})
	test("   0.1 seconds (IMPORT FAILED): /root/ComfyUI/custom_nodes/Broken", Event{Kind: CustomNodeImportFailed, Seconds: 0.1, Path: "/root/ComfyUI/custom_nodes/Broken", Detail: "IMPORT FAILED"})
	test("   0.0 seconds (PRESTARTUP FAILED): /x/y", Event{Kind: CustomNodeImportFailed, Path: "/x/y", Detail: "PRESTARTUP FAILED"})
	test("   0.0 seconds:", Event{})
	test("Starting server", Event{Kind: StartingServer})
	test("Starting server now please", Event{})
	test("To see the GUI go to: http://0.0.0.0:8188", Event{Kind: GUIReady, Addr: "http://0.0.0.0:8188"})
	test("To see the GUI go to: http://[::]:8188", Event{Kind: GUIReady, Addr: "http://[::]:8188"})
	test("Port 8188 is already in use on address 0.0.0.0. Please close the other application or use a different port with --port.", Event{Kind: PortInUse, Addr: "0.0.0.0:8188"})
	test("Port 8188 is already in use on address ::. Please close it.", Event{Kind: PortInUse, Addr: "[::]:8188"})
	test("********** ERROR ***********", Event{Kind: ErrorBanner})
	test("model_type FLUX", Event{Kind: ModelType, Detail: "FLUX"})
	test("model weight dtype torch.float8_e4m3fn, manual cast: torch.bfloat16", Event{Kind: WeightDtype, Detail: "torch.float8_e4m3fn, manual cast: torch.bfloat16"})

	// Per prompt.
	test("got prompt", Event{Kind: GotPrompt})
	test("got prompt from somewhere", Event{})
	test("invalid prompt: {'type': 'prompt_no_outputs'}", Event{Kind: InvalidPrompt, Detail: "{'type': 'prompt_no_outputs'}"})
	test("Failed to validate prompt for output 9:", Event{Kind: ValidationFailed, Detail: "9"})
	test("Requested to load QwenImage", Event{Kind: RequestedToLoad, Model: "QwenImage"})
	test("Requested to load ", Event{})
	test("2 models unloaded.", Event{Kind: ModelsUnloaded, Count: 2})
	test("0 models unloaded.", Event{Kind: ModelsUnloaded})
	test("Prompt executed in 12.34 seconds", Event{Kind: PromptExecuted, Seconds: 12.34})
	test("Prompt executed in 0.00 seconds", Event{Kind: PromptExecuted})
	test("Prompt executed in 00:10:05", Event{Kind: PromptExecuted, Seconds: 605})
	test("Prompt executed in 1:02:03", Event{Kind: PromptExecuted, Seconds: 3723})
	test("Prompt executed in NaN seconds", Event{})
	test("Prompt executed in -1 seconds", Event{})
	test("Prompt executed in 1:2:3:4", Event{})
	test("!!! Exception during processing !!! CUDA out of memory.", Event{Kind: Exception, Detail: "CUDA out of memory."})
	test("!!! Exception during processing!!! boom", Event{Kind: Exception, Detail: "boom"})
	test("Got an OOM, unloading all loaded models.", Event{Kind: OOM})
	test("Processing interrupted", Event{Kind: Interrupted})
	test("Global interrupt (no prompt_id specified)", Event{Kind: InterruptRequested})
	test("Prompt abc is not currently running, skipping interrupt", Event{Kind: InterruptRequested, Detail: "skipped"})
	test("Traceback (most recent call last):", Event{Kind: Traceback})
}

func TestParseLoadStat(t *testing.T) {
	test := func(line string, want Event) {
		t.Helper()
		want.Line = line
		if diff := cmp.Diff(want, Parse(line)); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", line, diff)
		}
	}
	// ≤ 0.3.67: numeric triple.
	test("loaded completely 9.5367431640625e+25 4777.53759765625 True", Event{Kind: LoadedCompletely, UsableMB: 9.5367431640625e+25, LoadedMB: 4777.53759765625, FullLoad: true})
	test("loaded completely 5000.0 4777.5 False", Event{Kind: LoadedCompletely, UsableMB: 5000, LoadedMB: 4777.5})
	test("loaded partially 5753.8 5750.5 12", Event{Kind: LoadedPartially, UsableMB: 5753.8, LoadedMB: 5750.5, Patches: 12})
	// 0.3.68 – 0.8.0.
	test("loaded completely; 1333.55 MB usable, 242.03 MB loaded, full load: True", Event{Kind: LoadedCompletely, UsableMB: 1333.55, LoadedMB: 242.03, FullLoad: true})
	test("loaded partially; 3876.34 MB usable, 3702.77 MB loaded, 5023.89 MB offloaded, 178.25 MB buffer reserved, lowvram patches: 7",
		Event{Kind: LoadedPartially, UsableMB: 3876.34, LoadedMB: 3702.77, OffloadedMB: 5023.89, BufferMB: 178.25, Patches: 7})
	// ≥ 0.8.1: usable omitted, two spaces.
	test("loaded completely;  4777.54 MB loaded, full load: True", Event{Kind: LoadedCompletely, LoadedMB: 4777.54, FullLoad: true})
	test("loaded completely;  4777.54 MB loaded, full load: False", Event{Kind: LoadedCompletely, LoadedMB: 4777.54})
	// ≥ 0.16 DynamicVRAM, with and without the patch count, one or two spaces.
	test("Model QwenImage prepared for dynamic VRAM loading. 19500MB Staged. 0 patches attached.", Event{Kind: DynamicVRAM, Model: "QwenImage", LoadedMB: 19500})
	test("Model WanVAE prepared for dynamic VRAM loading.  242MB Staged.", Event{Kind: DynamicVRAM, Model: "WanVAE", LoadedMB: 242})
	test("Model QwenImage prepared for dynamic VRAM loading. 19500MB Staged. 3 patches attached. Force pre-loaded 52 weights: 1234 KB.", Event{Kind: DynamicVRAM, Model: "QwenImage", LoadedMB: 19500, Patches: 3})
	test("Model two words prepared for dynamic VRAM loading.", Event{})
	// Lenient: garbage figures leave the numbers at zero but keep the kind.
	test("loaded completely; lots MB usable, full load: True", Event{Kind: LoadedCompletely, FullLoad: true})
	test("loaded completelyX", Event{})
}

func TestParseProgress(t *testing.T) {
	test := func(line string, want Event) {
		t.Helper()
		want.Line = line
		if diff := cmp.Diff(want, Parse(line), cmpopts.EquateApprox(1e-9, 0)); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", line, diff)
		}
	}
	test("  0%|          | 0/25 [00:00<?, ?it/s]", Event{Kind: Progress, Steps: 25})
	test("  4%|▍         | 1/25 [00:01<00:30,  1.25s/it]", Event{Kind: Progress, Step: 1, Steps: 25, ItPerS: 0.8, Elapsed: 1})
	test("100%|██████████| 25/25 [00:07<00:00,  3.30it/s]", Event{Kind: Progress, Step: 25, Steps: 25, ItPerS: 3.3, Elapsed: 7})
	test("100%|██████████| 20/20 [1:02:03<00:00, 186.15s/it]", Event{Kind: Progress, Step: 20, Steps: 20, ItPerS: 1 / 186.15, Elapsed: 3723})
	test("Loading checkpoint shards:  50%|█████     | 2/4 [00:02<00:02,  1.02s/it]", Event{Kind: Progress, Step: 2, Steps: 4, ItPerS: 1 / 1.02, Elapsed: 2, Detail: "Loading checkpoint shards"})
	test(" 40%|####      | 8/20 [00:03<00:05,  2.22it/s, loss=0.1]", Event{Kind: Progress, Step: 8, Steps: 20, ItPerS: 2.22, Elapsed: 3})
	// "\r" updates: the last one counts.
	test("\r  0%|          | 0/2 [00:00<?, ?it/s]\r 50%|█████     | 1/2 [00:01<00:01,  1.00s/it]\r", Event{Kind: Progress, Step: 1, Steps: 2, ItPerS: 1, Elapsed: 1})
	test("50%|", Event{})
	test("100%| no counts here", Event{})
	test("12345%|x| 1/2", Event{})
}

func TestParsePrefixes(t *testing.T) {
	test := func(line string, kind Kind) {
		t.Helper()
		if got := Parse(line); got.Kind != kind {
			t.Errorf("Parse(%q).Kind = %v, want %v", line, got.Kind, kind)
		}
	}
	test("[2025-10-11 09:00:30.000] got prompt", GotPrompt)
	test("[2025-10-11 09:00:06.021]    1.9 seconds: /root/ComfyUI/custom_nodes/ComfyUI-Manager", CustomNodeImport)
	test("2025-10-11T09:00:02.810Z - Total VRAM 81079 MB, total RAM 2051800 MB", TotalVRAM)
	test("2026-11-26T23:07:24.771131417Z Prompt executed in 1.00 seconds", PromptExecuted)
	test("2025-10-11 09:00:06,400 - root - INFO - Starting server", StartingServer)
	test("2025-10-11 09:00:06,400 - comfy.model_management - WARNING - 2 models unloaded.", ModelsUnloaded)
	test("INFO:root:got prompt", GotPrompt)
	test("[INFO] Requested to load QwenImage", RequestedToLoad)
	test("[info] Processing interrupted", Interrupted)
	test("comfyui-1  | Prompt executed in 12.30 seconds", PromptExecuted)
	test("comfyui-1  |    0.0 seconds: /x.py", CustomNodeImport)
	test("comfyui-1  |  45%|████▌     | 9/20 [00:05<00:06,  1.75it/s]", Progress)
	// Not a prefix: must stay unknown.
	test(`    logging.info("got prompt")`, Unknown)
	test(`    logging.info("Prompt executed in {:.2f} seconds".format(t))`, Unknown)
	test("[Prompt Server] web root: /x", Unknown)
	test("WARNING: You need pytorch with cu130 or higher to use optimized CUDA operations.", Unknown)
	test("INFO  [alembic.runtime.migration] Context impl SQLiteImpl.", Unknown)
	test("mygot prompt", Unknown)
	test("", Unknown)
	test("\n", Unknown)
	test("   ", Unknown)
}

func TestKindString(t *testing.T) {
	seen := map[string]bool{}
	for k := Unknown; k < kindCount; k++ {
		s := k.String()
		if s == "" || seen[s] {
			t.Errorf("Kind(%d).String() = %q: empty or repeated", k, s)
		}
		seen[s] = true
		var back Kind
		if err := back.UnmarshalText([]byte(s)); err != nil || back != k {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", s, back, err, k)
		}
	}
	if got := Kind(999).String(); got != "Kind(999)" {
		t.Errorf("Kind(999).String() = %q", got)
	}
	var k Kind
	if err := k.UnmarshalText([]byte("Nope")); err == nil {
		t.Error("UnmarshalText(Nope): no error")
	}
}

func TestEventString(t *testing.T) {
	got := Parse("loaded completely; 1333.55 MB usable, 242.03 MB loaded, full load: True").String()
	want := "LoadedCompletely loaded_mb=242.03 usable_mb=1333.55 full_load=true"
	if got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// checkEvent holds for every event Parse returns, whatever the input.
func checkEvent(t *testing.T, line string, ev Event) {
	t.Helper()
	if ev.Line != line {
		t.Fatalf("Line = %q, want the input %q", ev.Line, line)
	}
	if ev.Kind < Unknown || ev.Kind >= kindCount {
		t.Fatalf("Parse(%q): kind %d out of range", line, ev.Kind)
	}
	for _, f := range []float64{ev.LoadedMB, ev.UsableMB, ev.OffloadedMB, ev.BufferMB, ev.Seconds, ev.ItPerS, ev.Elapsed, ev.VRAMMB, ev.RAMMB} {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			t.Fatalf("Parse(%q) = %+v: a figure is negative or not finite", line, ev)
		}
	}
	if ev.Step < 0 || ev.Steps < 0 || ev.Patches < 0 || ev.Count < 0 {
		t.Fatalf("Parse(%q) = %+v: a count is negative", line, ev)
	}
	if ev.Kind == Unknown && ev != (Event{Line: line}) {
		t.Fatalf("Parse(%q) = %+v: Unknown with fields set", line, ev)
	}
}
