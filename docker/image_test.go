package docker

import (
	"strings"
	"testing"
)

func TestCheckImageRef(t *testing.T) {
	for _, ok := range []string{
		"busybox", "comfyui:0.3.64", "ghcr.io/org/comfyui-qwen:0.3.64", "127.0.0.1:5000/q:t",
		"ghcr.io/org/comfyui@sha256:" + strings.Repeat("ab", 32),
		"sha256:" + strings.Repeat("0f", 32), // an image ID
		"0123456789ab",                       // a short image ID reads as a name; the engine resolves it
	} {
		if err := CheckImageRef(ok); err != nil {
			t.Errorf("CheckImageRef(%q) = %v, want nil", ok, err)
		}
	}
	for bad, why := range map[string]string{
		"Org/ComfyUI:1":            "must be lowercase",
		"comfyui:":                 "invalid reference format",
		"comfy ui":                 "invalid reference format",
		"ghcr.io/org/x@sha256:abc": "invalid reference format",
	} {
		err := CheckImageRef(bad)
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "NAME[:TAG][@DIGEST]") || !strings.Contains(err.Error(), bad) {
			t.Errorf("CheckImageRef(%q) = %v, want an error naming it, saying %q and how to write it", bad, err, why)
		}
	}
}

func TestRepoName(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io/example/comfyui-qwen:0.3.64":  "ghcr.io/example/comfyui-qwen",
		"127.0.0.1:5000/comfy:tag":             "127.0.0.1:5000/comfy",
		"127.0.0.1:5000/comfy":                 "127.0.0.1:5000/comfy",
		"127.0.0.1:5000/comfy@sha256:3":        "127.0.0.1:5000/comfy",
		"comfy":                                "comfy",
		"docker.io/library/busybox:latest":     "busybox",
		"library/busybox@sha256:" + hex64("1"): "busybox",
		"Not A Ref":                            "Not A Ref",
	} {
		if got := RepoName(in); got != want {
			t.Errorf("RepoName(%q) = %q, want %q", in, got, want)
		}
	}
}

func hex64(c string) string { return strings.Repeat(c, 64) }
