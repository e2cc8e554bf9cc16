package docker

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A pull of a two-layer image as the daemon streams it.
const pullStream = `{"status":"Pulling from library/busybox","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Already exists","progressDetail":{},"id":"bbb"}
{"status":"Downloading","progressDetail":{"current":100,"total":1000},"progress":"[>   ]","id":"aaa"}
{"status":"Downloading","progressDetail":{"current":600,"total":1000},"progress":"[==> ]","id":"aaa"}
{"status":"Verifying Checksum","progressDetail":{},"id":"aaa"}
{"status":"Download complete","progressDetail":{},"id":"aaa"}
{"status":"Extracting","progressDetail":{"current":32768,"total":1000},"id":"aaa"}
{"status":"Pull complete","progressDetail":{},"id":"aaa"}
{"status":"Digest: sha256:0123"}
{"status":"Status: Downloaded newer image for busybox:latest"}
`

func TestPullProgress(t *testing.T) {
	var tr pullTracker
	var got []PullProgress
	if err := decodeStream(strings.NewReader(pullStream), func(m streamMsg) { got = append(got, tr.update(m)) }); err != nil {
		t.Fatal(err)
	}
	want := []PullProgress{
		{Status: "Pulling from library/busybox"},
		{Layers: 1, Status: "Pulling fs layer"},
		{Layers: 2, LayersDone: 1, Status: "Already exists"},
		{Layers: 2, LayersDone: 1, Current: 100, Total: 1000, Status: "Downloading"},
		{Layers: 2, LayersDone: 1, Current: 600, Total: 1000, Status: "Downloading"},
		{Layers: 2, LayersDone: 1, Current: 600, Total: 1000, Status: "Verifying Checksum"},
		{Layers: 2, LayersDone: 1, Current: 1000, Total: 1000, Status: "Download complete"},
		{Layers: 2, LayersDone: 1, Current: 1000, Total: 1000, Status: "Extracting"},
		{Layers: 2, LayersDone: 2, Current: 1000, Total: 1000, Status: "Pull complete"},
		{Layers: 2, LayersDone: 2, Current: 1000, Total: 1000, Status: "Digest: sha256:0123"},
		{Layers: 2, LayersDone: 2, Current: 1000, Total: 1000, Status: "Status: Downloaded newer image for busybox:latest"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
}

func TestDecodeStreamErrors(t *testing.T) {
	test := func(name, in, wantErr string, wantMsgs int) {
		t.Helper()
		n := 0
		err := decodeStream(strings.NewReader(in), func(streamMsg) { n++ })
		if err == nil || !strings.Contains(err.Error(), wantErr) || n != wantMsgs {
			t.Errorf("%s: %d messages, err %v; want %d and an error containing %q", name, n, err, wantMsgs, wantErr)
		}
	}
	// Errors that arrive inside an HTTP 200 stream.
	test("errorDetail", `{"status":"Pulling from x/y","id":"1"}
{"errorDetail":{"message":"manifest for x/y:nope not found: manifest unknown"},"error":"manifest for x/y:nope not found"}
`, "manifest unknown", 1)
	test("error only", `{"error":"unauthorized: authentication required"}`, "unauthorized", 0)
	test("build step failure", `{"stream":"Step 1/2 : FROM scratch\n"}{"errorDetail":{"code":1,"message":"COPY failed: no such file"}}`, "COPY failed", 1)
	test("garbage", `{"status":"ok"} <html>`, "decode progress stream", 1)
}

func FuzzDecodeStream(f *testing.F) {
	f.Add([]byte(pullStream))
	f.Add([]byte(`{"errorDetail":{"message":"x"}}`))
	f.Add([]byte(`{"status":"Downloading","id":"a","progressDetail":{"current":-5,"total":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tr pullTracker
		_ = decodeStream(strings.NewReader(string(data)), func(m streamMsg) {
			p := tr.update(m)
			if p.LayersDone > p.Layers || p.Layers < 0 || p.Current < 0 || p.Total < 0 {
				t.Fatalf("inconsistent progress %+v", p)
			}
		})
	})
}
