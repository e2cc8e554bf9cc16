package comfy_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/comfy/comfytest"
)

func TestNewClientRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8188", "ftp://x", "http://", "::"} {
		if _, err := comfy.NewClient(u, comfy.Options{}); err == nil {
			t.Errorf("NewClient(%q) succeeded", u)
		}
	}
	c, err := comfy.NewClient("http://127.0.0.1:8188/", comfy.Options{})
	if err != nil || len(c.ClientID()) != 36 || c.URL() != "http://127.0.0.1:8188" {
		t.Errorf("client %v id %q url %q", err, c.ClientID(), c.URL())
	}
}

func TestEndpoints(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{})
	// A base URL with a path prefix: ComfyUI serves every route under /api too.
	c := newClient(t, s.URL+"/api", comfy.Options{})
	ctx := ctxT(t)
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.SystemStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.System.ComfyUIVersion != "0.21.0" || st.System.OS != "linux" || len(st.System.Argv) != 2 || len(st.Devices) != 1 {
		t.Errorf("system stats = %+v", st)
	}
	if d := st.Devices[0]; d.Type != "cuda" || d.Index == nil || *d.Index != 0 || d.VRAMTotal != 85017755648 {
		t.Errorf("device = %+v", d)
	}
	info, err := c.ObjectInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info["SaveImage"].OutputNode || info["EmptyImage"].Required["color"].Max == nil {
		t.Errorf("object info = %+v", info)
	}
	if err := comfy.Preflight(workflow(t, twoNode), info); err != nil {
		t.Errorf("preflight against the fake: %v", err)
	}
	if _, ok, err := c.History(ctx, "unknown"); ok || err != nil {
		t.Errorf("History(unknown) = %v, %v", ok, err)
	}
	res, err := c.Run(ctx, workflow(t, twoNode))
	if err != nil {
		t.Fatal(err)
	}
	h, ok, err := c.History(ctx, res.PromptID)
	if err != nil || !ok {
		t.Fatalf("History = %v, %v", ok, err)
	}
	if h.PromptID != res.PromptID || h.Status.StatusStr != "success" || !h.Status.Completed || len(h.Outputs["2"]) != 1 || len(h.Status.Messages) != 3 {
		t.Errorf("history = %+v", h)
	}
	if err := c.Interrupt(ctx, "p-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Interrupt(ctx, ""); err == nil {
		t.Error("Interrupt without a prompt id was sent: it would stop another client's prompt")
	}
	if got := s.Interrupts(); strings.Join(got, ",") != "p-1" {
		t.Errorf("interrupts = %q", got)
	}
	if err := c.Free(ctx, true, false); err != nil {
		t.Fatal(err)
	}
	var free map[string]bool
	if fr := s.Frees(); len(fr) != 1 || json.Unmarshal([]byte(fr[0]), &free) != nil || !free["unload_models"] || free["free_memory"] {
		t.Errorf("free bodies = %q", fr)
	}
}

func TestSystemStatsCPUAndFloats(t *testing.T) {
	cpu := `{"system": {"os": "posix", "ram_total": 8.0e9, "ram_free": 4000000000, "comfyui_version": "0.3.64", "python_version": "3.11", "pytorch_version": "2.4", "embedded_python": false, "argv": []},
	 "devices": [{"name": "cpu", "type": "cpu", "index": null, "vram_total": 8000000000, "vram_free": 4.0e9, "torch_vram_total": 8000000000, "torch_vram_free": 4000000000}]}`
	s := comfytest.NewServer(t, comfytest.Script{SystemStats: []byte(cpu)})
	c := newClient(t, s.URL, comfy.Options{})
	st, err := c.SystemStats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.System.RAMTotal != 8000000000 || st.Devices[0].Index != nil || st.Devices[0].VRAMFree != 4000000000 || st.System.OS != "posix" {
		t.Errorf("stats = %+v", st)
	}
}

func TestObjectInfoBadReply(t *testing.T) {
	s := comfytest.NewServer(t, comfytest.Script{ObjectInfo: []byte(`[1, 2]`), SystemStats: []byte(`nope`)})
	c := newClient(t, s.URL, comfy.Options{})
	if _, err := c.ObjectInfo(ctxT(t)); err == nil || !strings.HasPrefix(err.Error(), "get /object_info: decode object_info") {
		t.Errorf("ObjectInfo err = %v", err)
	}
	if _, err := c.SystemStats(ctxT(t)); err == nil || !strings.HasPrefix(err.Error(), "get /system_stats") {
		t.Errorf("SystemStats err = %v", err)
	}
}
