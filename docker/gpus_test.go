package docker

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
)

func TestParseGPUs(t *testing.T) {
	test := func(in string, want GPURequest) {
		t.Helper()
		got, err := ParseGPUs(in)
		if err != nil {
			t.Errorf("ParseGPUs(%q): %v", in, err)
			return
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ParseGPUs(%q) (-want +got):\n%s", in, diff)
		}
		// The String form parses back to the same request.
		again, err := ParseGPUs(got.String())
		if err != nil || !cmp.Equal(again, got) {
			t.Errorf("ParseGPUs(%q).String() = %q does not round-trip: %+v, %v", in, got.String(), again, err)
		}
	}
	test("", GPURequest{Kind: "none"})
	test("none", GPURequest{Kind: "none"})
	test(" all ", GPURequest{Kind: "all"})
	test("0", GPURequest{Kind: "none"})
	test("-1", GPURequest{Kind: "all"})
	test("2", GPURequest{Kind: "count", Count: 2})
	test("count=2", GPURequest{Kind: "count", Count: 2})
	test(`"count=2"`, GPURequest{Kind: "count", Count: 2})
	test("count=all", GPURequest{Kind: "all"})
	test("device=0", GPURequest{Kind: "devices", DeviceIDs: []string{"0"}})
	test("device=0,2", GPURequest{Kind: "devices", DeviceIDs: []string{"0", "2"}})
	test(`"device=0,2"`, GPURequest{Kind: "devices", DeviceIDs: []string{"0", "2"}})
	test(`"device=1,0",capabilities=gpu`, GPURequest{Kind: "devices", DeviceIDs: []string{"1", "0"}})
	test("device=GPU-3a23c669-1f69-c64e-cf85-44e9b07e7a2a",
		GPURequest{Kind: "devices", DeviceIDs: []string{"GPU-3a23c669-1f69-c64e-cf85-44e9b07e7a2a"}})
	test("driver=nvidia,count=1", GPURequest{Kind: "count", Count: 1})
	test("cdi:nvidia.com/gpu=all", GPURequest{Kind: "cdi", DeviceIDs: []string{"nvidia.com/gpu=all"}})
	test("cdi:nvidia.com/gpu=0,nvidia.com/gpu=1", GPURequest{Kind: "cdi", DeviceIDs: []string{"nvidia.com/gpu=0", "nvidia.com/gpu=1"}})
}

func TestParseGPUsBad(t *testing.T) {
	for _, in := range []string{
		"some", "-2", "count=two", "count=", "device=", "device=0,,1", "count=1,device=0",
		"device=0,count=1", "foo=bar", "driver=amd,count=1", "cdi:", "cdi:gpu", "cdi:nvidia.com/gpu",
		"cdi:/gpu=0", "count=1,count=2", "capabilities=gpu", `"device=0`, "a\nb",
	} {
		_, err := ParseGPUs(in)
		if err == nil {
			t.Errorf("ParseGPUs(%q) succeeded, want an error", in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, strings.TrimSpace(in)) && !strings.Contains(msg, `\n`) {
			t.Errorf("ParseGPUs(%q) error %q does not name the value", in, msg)
		}
		if !strings.Contains(msg, "accepted: all, none, N") {
			t.Errorf("ParseGPUs(%q) error %q does not list the accepted forms", in, msg)
		}
	}
}

func TestDeviceRequests(t *testing.T) {
	caps := [][]string{{"gpu", "compute", "utility"}}
	test := func(gpus string, want []container.DeviceRequest) {
		t.Helper()
		r, err := ParseGPUs(gpus)
		if err != nil {
			t.Fatal(err)
		}
		got, err := deviceRequests(r)
		if err != nil {
			t.Fatalf("deviceRequests(%s): %v", gpus, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("deviceRequests(%s) (-want +got):\n%s", gpus, diff)
		}
	}
	test("none", nil)
	test("all", []container.DeviceRequest{{Driver: "nvidia", Count: -1, Capabilities: caps}})
	test("3", []container.DeviceRequest{{Driver: "nvidia", Count: 3, Capabilities: caps}})
	test("device=0,2", []container.DeviceRequest{{Driver: "nvidia", DeviceIDs: []string{"0", "2"}, Capabilities: caps}})
	test("cdi:nvidia.com/gpu=all", []container.DeviceRequest{{Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=all"}}})

	for _, bad := range []GPURequest{{Kind: "count"}, {Kind: "devices"}, {Kind: "cdi"}, {Kind: "some"}} {
		if _, err := deviceRequests(bad); err == nil {
			t.Errorf("deviceRequests(%+v) succeeded, want an error", bad)
		}
	}
}

func FuzzParseGPUs(f *testing.F) {
	for _, s := range []string{"all", "none", "2", "count=2", `"device=0,2"`, "device=GPU-abc", "cdi:nvidia.com/gpu=all", "count=1,device=0", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseGPUs(s)
		if err != nil {
			return
		}
		reqs, err := deviceRequests(r)
		if err != nil {
			t.Fatalf("ParseGPUs(%q) = %+v, which deviceRequests refuses: %v", s, r, err)
		}
		if (r.Kind == "none") != (len(reqs) == 0) {
			t.Fatalf("ParseGPUs(%q) = %+v gives %d device requests", s, r, len(reqs))
		}
		again, err := ParseGPUs(r.String())
		if err != nil || !cmp.Equal(again, r) {
			t.Fatalf("ParseGPUs(%q) = %+v; String %q parses to %+v, %v", s, r, r.String(), again, err)
		}
	})
}
