package docker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/jsonstream"
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

// TestPullProgress: the progress Pull reports, message by message, from the daemon's stream
// as the SDK decodes it.
func TestPullProgress(t *testing.T) {
	c, _ := fakeDaemon(t, pullStream)
	var got []PullProgress
	if err := c.Pull(t.Context(), "busybox", func(p PullProgress) { got = append(got, p) }); err != nil {
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

// TestFollowErrors: a build's stream (decoded by jsonValues) ends at the first error the
// engine reports in it, or at broken JSON, after the messages before it.
func TestFollowErrors(t *testing.T) {
	test := func(name, in, wantErr string, wantMsgs int) {
		t.Helper()
		n := 0
		err := follow(t.Context(), jsonValues[jsonstream.Message](strings.NewReader(in)), func(jsonstream.Message) { n++ })
		if err == nil || !strings.Contains(err.Error(), wantErr) || n != wantMsgs {
			t.Errorf("%s: %d messages, err %v; want %d and an error containing %q", name, n, err, wantMsgs, wantErr)
		}
	}
	// Errors that arrive inside an HTTP 200 stream.
	test("errorDetail", `{"status":"Pulling from x/y","id":"1"}
{"errorDetail":{"message":"manifest for x/y:nope not found: manifest unknown"},"error":"manifest for x/y:nope not found"}
`, "manifest unknown", 1)
	test("build step failure", `{"stream":"Step 1/2 : FROM scratch\n"}{"errorDetail":{"code":1,"message":"COPY failed: no such file"}}`, "COPY failed", 1)
	test("no message", `{"errorDetail":{"code":500}}`, "code 500", 0)
	test("garbage", `{"status":"ok"} <html>`, "decode progress stream", 1)
	if err := follow(t.Context(), jsonValues[jsonstream.Message](strings.NewReader(pullStream)), nil); err != nil {
		t.Errorf("a whole stream: %v", err)
	}
}

// TestFollowCancelled: a stream cut because ctx ended reports ctx's error, not a decoding one.
func TestFollowCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := follow(ctx, jsonValues[jsonstream.Message](strings.NewReader(`{"status":"Downloading","id":"a","progressDetail":{"curr`)), nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func FuzzPullTracker(f *testing.F) {
	f.Add([]byte(pullStream))
	f.Add([]byte(`{"errorDetail":{"message":"x"}}`))
	f.Add([]byte(`{"status":"Downloading","id":"a","progressDetail":{"current":-5,"total":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tr pullTracker
		_ = follow(t.Context(), jsonValues[jsonstream.Message](strings.NewReader(string(data))), func(m jsonstream.Message) {
			p := tr.update(m)
			if p.LayersDone > p.Layers || p.Layers < 0 || p.Current < 0 || p.Total < 0 {
				t.Fatalf("inconsistent progress %+v", p)
			}
		})
	})
}
