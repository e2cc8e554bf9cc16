package lab

import (
	"context"
	"net"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/qwenlab/qwenlab/comfy"
	"github.com/qwenlab/qwenlab/comfysim"
)

// startSim runs the real simulator in-process on 127.0.0.1 and returns its base URL.
func startSim(t testing.TB, cfg comfysim.Config) string {
	t.Helper()
	cfg.DemoModels = comfysim.QwenImageModels
	cfg.OutputDir = t.TempDir()
	s, err := comfysim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	return "http://" + ln.Addr().String()
}

func realDial(c Config) func(string) (Comfy, error) {
	return func(url string) (Comfy, error) {
		return comfy.NewClient(url, comfy.Options{ClientID: "qwenlab-test", IdleTimeout: c.PromptTimeout})
	}
}

// TestStallIsFlaggedAndServerTimeUnaffected is the simulator's gc.collect() stall (a pause in
// sending a prompt's last messages, at most once per --stall-every): the stalled runs are
// flagged, e2e shows the stalls, server_s does not.
func TestStallIsFlaggedAndServerTimeUnaffected(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~10 s")
	}
	url := startSim(t, comfysim.Config{StepTime: 8 * time.Millisecond, PostPromptStall: 500 * time.Millisecond, StallEvery: 2 * time.Second})
	cfg := testConfig()
	cfg.URL = url
	cfg.Runs = 12
	cfg.Warmup = 1
	cfg.Params = map[string]string{"width": "64", "height": "64"}
	rep, err := Bench(context.Background(), cfg, Deps{Dial: realDial(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	w := rep.Warm
	if w.Invalid != 0 || len(w.Runs) != 12 {
		t.Fatalf("runs %d invalid %d", len(w.Runs), w.Invalid)
	}
	flagged := 0
	for _, r := range w.Runs {
		if r.LagFlagged {
			flagged++
			if *r.LagS < 0.4 {
				t.Errorf("run %d flagged with lag %.3fs", r.Index, *r.LagS)
			}
		}
	}
	if flagged == 0 || flagged == 12 {
		t.Fatalf("%d of 12 runs flagged; the simulator stalls at most once per 2 s", flagged)
	}
	if w.LagFlagged != flagged || !hasWarning(rep.Warnings, "delivery lag") {
		t.Errorf("summary counts %d flagged, warnings %q", w.LagFlagged, rep.Warnings)
	}
	srv, e2e := w.Summaries["server_s"], w.Summaries["e2e_s"]
	// Had the 0.5 s stall leaked into the server's own time, the flagged runs' server_s would
	// sit ~0.5 s above the median. Judged on their mean against the median, not on the spread
	// of all runs, which a loaded machine (or -race) widens by itself.
	var flaggedSrv float64
	for _, r := range w.Runs {
		if r.LagFlagged {
			flaggedSrv += *r.ServerS / float64(flagged)
		}
	}
	if d := flaggedSrv - srv.MedianS; d > 0.3 {
		t.Errorf("the flagged runs' server_s is %.3fs above the median: the stall leaked into the server's own time", d)
	}
	if e2e.MaxS-srv.MaxS < 0.4 {
		t.Errorf("e2e max %.3fs vs server max %.3fs: the stall should show in e2e", e2e.MaxS, srv.MaxS)
	}
}

// BenchmarkReadinessDetection measures how long after a server starts listening waitReady
// notices it, without the log line (the HTTP probe's backoff alone). Target: median ≤ 50 ms.
func BenchmarkReadinessDetection(b *testing.B) {
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c, err := comfy.NewClient("http://"+addr, comfy.Options{})
		if err != nil {
			b.Fatal(err)
		}
		listening := make(chan time.Time, 1)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"system":{},"devices":[]}`)) })}
		go func() {
			time.Sleep(time.Duration(5+i%40) * time.Millisecond) // a server coming up at some moment
			l, err := net.Listen("tcp", addr)
			if err != nil {
				listening <- time.Time{}
				return
			}
			listening <- time.Now()
			srv.Serve(l)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = waitReady(ctx, c, nil)
		seen := time.Now()
		cancel()
		up := <-listening
		srv.Close()
		c.Close()
		if err != nil || up.IsZero() {
			b.Fatalf("not ready: %v", err)
		}
		lat = append(lat, seen.Sub(up))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "median-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
}
