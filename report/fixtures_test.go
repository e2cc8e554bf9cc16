package report

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata (not report.v1.golden.json)")

func u64(v uint64) *uint64 { return &v }

var t0 = time.Date(2026, 9, 10, 12, 0, 0, 0, time.UTC)

func warmRun(i int, e2e, server float64) Run {
	lag := e2e - server - 0.002
	return Run{
		Kind: "warm", Index: i, Seed: "18446744073709551610", PromptID: "p-" + string(rune('a'+i)),
		LatencyS: Seconds(e2e), E2ES: Seconds(e2e), ImageS: Seconds(e2e - 0.010), QueueS: Seconds(0.002),
		ServerS: Seconds(server), LagS: Seconds(lag),
		Nodes: map[string]NodeTiming{
			"3": {ClassType: "KSampler", DurationS: Seconds(server - 0.2)},
			"8": {ClassType: "VAEDecode", DurationS: Seconds(0.15)},
			"1": {ClassType: "UNETLoader", Cached: true},
		},
		Steps: 20, StepsPerS: Seconds(20 / (server - 0.2)), Valid: true, Status: "success",
		StartedAtS: 60 + float64(i)*3,
	}
}

// fullReport is a successful docker run with everything measured.
func fullReport() *Report {
	runs := []Run{
		warmRun(0, 2.512, 2.401), warmRun(1, 2.498, 2.390), warmRun(2, 3.120, 2.405),
		warmRun(3, 2.505, 2.398), warmRun(4, 2.530, 2.410), warmRun(5, 2.489, 2.385),
		warmRun(6, 2.501, 2.392),
	}
	runs[2].LagFlagged = true
	bad := warmRun(7, 0.021, 0.004)
	bad.Valid, bad.Invalid = false, "sampler node 3 (KSampler) was served from the cache"
	bad.Nodes["3"] = NodeTiming{ClassType: "KSampler", Cached: true}
	bad.StepsPerS = nil
	runs = append(runs, bad)
	warm := SummarizeWarm(runs, []Run{warmRun(0, 2.9, 2.5)})

	cold := &ColdStart{
		Phases: Phases{
			PullS: Seconds(41.25), CreateS: Seconds(0.118), StartS: Seconds(0.412),
			FirstLogS: Seconds(1.204), ListeningS: Seconds(8.73), ReadyS: Seconds(0.031),
			PreflightS: Seconds(0.094), FirstPromptS: Seconds(31.6), ModelLoadS: Seconds(22.4),
		},
		TotalS: Seconds(83.439),
		Timeline: []TimelineEntry{
			{Name: "pull", StartS: 0, EndS: 41.25, Source: SourceEngine},
			{Name: "create", StartS: 41.25, EndS: 41.368, Source: SourceEngine},
			{Name: "start", StartS: 41.368, EndS: 41.78, Source: SourceEngine},
			{Name: "first log", StartS: 41.78, EndS: 42.984, Source: SourceLogs},
			{Name: "listening", StartS: 42.984, EndS: 51.714, Source: SourceLogs},
			{Name: "ready", StartS: 51.714, EndS: 51.745, Source: SourceAPI},
			{Name: "preflight", StartS: 51.745, EndS: 51.839, Source: SourceAPI},
			{Name: "first prompt", StartS: 51.839, EndS: 83.439, Source: SourceAPI},
			{Name: "model load", StartS: 51.9, EndS: 74.3, Source: SourceLogs, Parent: "first prompt"},
		},
		FirstPrompt: func() *Run { r := warmRun(0, 31.6, 31.2); r.Index = -1; return &r }(),
	}
	second := ColdRun{Index: 1, Phases: cold.Phases, TotalS: Seconds(41.9), ReadyS: Seconds(10.1), FirstImageS: Seconds(40.2),
		ModelReadBytesPerS: Seconds(1.9e9)}
	second.Phases.PullS = nil
	second.Phases.FirstPromptS = Seconds(31.2)
	cold.Runs = []ColdRun{
		{Index: 0, Phases: cold.Phases, TotalS: cold.TotalS, Timeline: cold.Timeline, ReadyS: Seconds(51.745),
			FirstImageS: Seconds(83.1), FirstPrompt: cold.FirstPrompt, ModelReadBytesPerS: Seconds(1.8e9)},
		second,
		{Index: 2, Phases: Phases{CreateS: Seconds(0.1)}, Error: "start: port is already allocated"},
	}
	cold.Summary = SummarizeColdRuns(cold.Runs)
	warm.Metric = "e2e"
	r := &Report{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "qwenlab", Version: "0.1.0", GoVersion: "go1.26.8"},
		StartedAt:     t0,
		FinishedAt:    t0.Add(112500 * time.Millisecond),
		RunID:         "3f2a9c01d4e5",
		Scenario: Scenario{
			Name:           "qwen-image-t2i",
			WorkflowSHA256: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809",
			Params:         map[string]any{"width": 1328.0, "height": 1328.0, "steps": 20.0, "cfg": 2.5, "sampler": "euler"},
		},
		Target: Target{
			Kind: TargetDocker,
			Image: &ImageInfo{Ref: "ghcr.io/example/comfyui-qwen:0.3.64", ID: "sha256:9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0",
				Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Size: 9_876_543_210, Pulled: true},
			URL:            "http://127.0.0.1:40123",
			ComfyUIVersion: "0.3.64",
			Config: map[string]string{"gpus": "all", "init": "true", "runs": "8", "warmup": "1", "seed": "18446744073709551603",
				"env": "HF_TOKEN=<redacted>,PYTHONUNBUFFERED=1", "comfy_args": "--listen 0.0.0.0"},
		},
		Host: Host{
			OS: "linux", Arch: "amd64", Hostname: "gpu-box-1", CPUs: 16, MemTotal: 137_438_953_472, Kernel: "6.8.0-45-generic",
			Docker: &DockerInfo{ServerVersion: "28.3.1", APIVersion: "1.51", Runtimes: []string{"nvidia", "runc"}, DefaultRuntime: "runc"},
			GPUs: []GPUDevice{{Index: 0, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-5b4f3a2e-1d0c-4b9a-8f7e-6d5c4b3a2910",
				Driver: "570.133.20", CUDA: "12.8", VRAMTotalBytes: 85_520_809_984, PowerLimitW: 700, PCIeGen: 5, PCIeWidth: 16}},
		},
		ColdStart: cold,
		Warm:      warm,
		GPU: GPUSection{
			Available: true, VRAMPeakBytes: u64(61_203_283_968), PeakSource: "sampled",
			UtilMeanPct: Seconds(87.5), PowerMeanW: Seconds(512.3),
			Phases: map[string]GPUPhase{
				"startup": {VRAMPeakBytes: u64(40_000_000_000), VRAMMeanBytes: u64(20_000_000_000), UtilMeanPct: Seconds(12),
					UtilP95Pct: Seconds(40), PowerMeanW: Seconds(140), PowerMaxW: Seconds(300), EnergyJ: Seconds(11680), Samples: 834},
				"warm": {VRAMPeakBytes: u64(61_203_283_968), VRAMMeanBytes: u64(60_000_000_000), UtilMeanPct: Seconds(96),
					UtilP95Pct: Seconds(100), PowerMeanW: Seconds(655), PowerMaxW: Seconds(699), EnergyJ: Seconds(13100),
					EnergyPerImageJ: Seconds(1871.4), Samples: 200},
			},
			Series: []GPUSeries{{
				Index: 0, TS: []float64{0.1, 60.1}, VRAMUsedBytes: []uint64{512 << 20, 61_203_283_968},
				UtilPct: []float64{0, 99}, PowerW: []float64{71.2, 688.4},
			}},
			Samples: 1125,
		},
		Container: &ContainerStats{CPUPercentMean: 104.2, CPUPercentMax: 398.7, MemPeakBytes: 14_495_514_624},
		Logs: Logs{
			SlowSteps: []SlowStep{{Phase: "model_load", Kind: SlowBudget, DurationS: 22.4, BudgetS: 15,
				Before: "Requested to load QwenImage", After: "loaded completely 78843.6 38963.4 True"}},
			Tail:            []string{"Prompt executed in 2.40 seconds", "Prompt executed in 2.39 seconds"},
			File:            "qwenlab-3f2a9c01d4e5.log",
			PromptExecutedS: []float64{31.12, 2.4, 2.39},
			ImportFailures:  []string{"ComfyUI-Broken-Node"},
		},
		Teardown: Teardown{Removed: true, Leftovers: []string{}, StopS: Seconds(0.31), RemoveS: Seconds(0.042)},
		Missing:  map[string]string{"container.mem_limit_bytes": "no memory limit set"},
		Warnings: []string{
			"run 7: sampler node 3 (KSampler) was served from the cache; run left out",
			"run 2: delivery lag 0.71 s outside generation work",
		},
	}
	return r
}

// failedReport is a docker run that failed waiting for readiness.
func failedReport() *Report {
	return &Report{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "qwenlab", Version: "0.1.0"},
		StartedAt:     t0,
		FinishedAt:    t0.Add(185 * time.Second),
		RunID:         "77aa00bb11cc",
		Scenario:      Scenario{Name: "qwen-image-t2i", WorkflowSHA256: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"},
		Target: Target{Kind: TargetDocker, URL: "http://127.0.0.1:40999",
			Image: &ImageInfo{Ref: "qwenlab/comfysim:dev", ID: "sha256:aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44", Size: 12_582_912, Simulator: true}},
		Host: Host{OS: "linux", Arch: "amd64", Hostname: "laptop", CPUs: 2, MemTotal: 8 << 30,
			Docker: &DockerInfo{ServerVersion: "20.10.24", APIVersion: "1.41", Runtimes: []string{"runc"}, DefaultRuntime: "runc"}},
		ColdStart: &ColdStart{
			Phases: Phases{CreateS: Seconds(0.089), StartS: Seconds(0.35), FirstLogS: Seconds(0.02)},
			TotalS: Seconds(180.459),
			Timeline: []TimelineEntry{
				{Name: "create", StartS: 0, EndS: 0.089, Source: SourceEngine},
				{Name: "start", StartS: 0.089, EndS: 0.439, Source: SourceEngine},
				{Name: "first log", StartS: 0.439, EndS: 0.459, Source: SourceLogs},
			},
		},
		GPU:      GPUSection{Available: false, Reason: "NVML not found (libnvidia-ml.so.1): GPU metrics skipped"},
		Logs:     Logs{Tail: []string{"Starting server", "Traceback (most recent call last):", "RuntimeError: boom"}},
		Teardown: Teardown{Removed: false, Leftovers: []string{"c0ffee123456"}, StopS: Seconds(10.2)},
		Missing: map[string]string{
			"cold_start.phases.pull_s": "image present",
			"warm":                     "run failed before warm runs",
		},
		Warnings: []string{"no --image: using the built-in simulator image"},
		Error: &ErrorInfo{Phase: "ready",
			Message: "wait for ready: container exited with code 1\n(see logs.tail)"},
	}
}

// urlReport is a bench against an already running ComfyUI: no container, no cold start, few
// runs (no confidence interval).
func urlReport() *Report {
	runs := []Run{warmRun(0, 0.842, 0.801), warmRun(1, 0.851, 0.812), warmRun(2, 0.839, 0.800)}
	for i := range runs {
		runs[i].StepsPerS = nil
		runs[i].ImageS = nil
	}
	return &Report{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "qwenlab", Version: "0.1.0"},
		StartedAt:     t0,
		FinishedAt:    t0.Add(4 * time.Second),
		RunID:         "url-run-1",
		Scenario:      Scenario{Name: "sd15-tiny", WorkflowSHA256: "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100", Params: map[string]any{"steps": 4.0}},
		Target:        Target{Kind: TargetURL, URL: "http://127.0.0.1:8188", ComfyUIVersion: "0.21.0"},
		Host:          Host{OS: "darwin", Arch: "arm64", CPUs: 10},
		Warm:          SummarizeWarm(runs, nil),
		GPU:           GPUSection{Available: false, Reason: "url target: the GPU is on another host"},
		Missing:       map[string]string{"cold_start": "url target: the server was already running"},
		Warnings:      []string{},
	}
}

// golden compares got with testdata/name, rewriting it under -update. On a mismatch it writes
// testdata/name.got beside it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if string(got) != string(want) {
		gotPath := path + ".got"
		if err := os.WriteFile(gotPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s differs from golden; got written to %s (diff -u %s %s)", name, gotPath, path, gotPath)
		return
	}
	os.Remove(path + ".got")
}
