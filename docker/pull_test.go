package docker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/moby/moby/client"
)

// fakeDaemon serves the Engine API's image endpoints on loopback: POST /images/create (a
// pull) and POST /images/NAME/push answer HTTP 200 with the given progress stream.
func fakeDaemon(t *testing.T, stream string) (*Client, *[]string) {
	t.Helper()
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path+" auth="+r.Header.Get("X-Registry-Auth"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, stream)
	}))
	t.Cleanup(srv.Close)
	cli, err := client.New(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithAPIVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return &Client{cli: cli, apiVersion: "1.41"}, &seen
}

// TestPullStreamErrors: errors the daemon reports inside an HTTP 200 stream (bad tag,
// authentication, an unknown manifest) fail Pull and Push, after the progress before them.
func TestPullStreamErrors(t *testing.T) {
	test := func(name, stream, want string) {
		t.Helper()
		c, _ := fakeDaemon(t, stream)
		calls := 0
		err := c.Pull(context.Background(), "127.0.0.1:5000/x:y", func(PullProgress) { calls++ })
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "pull 127.0.0.1:5000/x:y: ") {
			t.Errorf("%s: pull gave %v, want an error naming the image and containing %q", name, err, want)
		}
		if strings.HasPrefix(stream, `{"status"`) && calls == 0 {
			t.Errorf("%s: the progress before the error was not reported", name)
		}
		if err := c.Push(context.Background(), "127.0.0.1:5000/x:y"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: push gave %v, want an error containing %q", name, err, want)
		}
	}
	test("manifest unknown", `{"status":"Pulling from x","id":"y"}
{"errorDetail":{"message":"manifest for 127.0.0.1:5000/x:y not found: manifest unknown: manifest unknown"},"error":"manifest for 127.0.0.1:5000/x:y not found: manifest unknown: manifest unknown"}
`, "manifest unknown")
	test("unauthorized", `{"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}`, "authentication required")
	test("truncated", `{"status":"Pulling from x","id":"y"}
{"status":"Downloading","id":"a","progressDetail":{"current":1`, "decode progress stream")
}

// TestPushSendsEmptyAuth: engines before 25.0 refuse a push without X-Registry-Auth.
func TestPushSendsEmptyAuth(t *testing.T) {
	c, seen := fakeDaemon(t, `{"status":"The push refers to repository [127.0.0.1:5000/x]"}
{"status":"Pushed","id":"abc"}
{"status":"y: digest: sha256:0123 size: 528"}
`)
	if err := c.Push(context.Background(), "127.0.0.1:5000/x:y"); err != nil {
		t.Fatal(err)
	}
	if len(*seen) != 1 || !strings.HasSuffix((*seen)[0], "/images/127.0.0.1:5000/x/push auth=e30=") {
		t.Errorf("requests %q, want one push with X-Registry-Auth e30= ({})", *seen)
	}
}
