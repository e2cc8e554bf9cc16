package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/qwenlab/qwenlab/cli"
	"github.com/qwenlab/qwenlab/docker"
)

// TestMain makes this test binary double as qwenlab: testscript puts copies of it named
// "qwenlab" on the scripts' PATH, and the simulator image built from it runs "/qwenlab sim …",
// which dispatches here too (filepath.Base(os.Args[0]) == "qwenlab").
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"qwenlab": func() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) },
		"qexit":   qexit,
	})
}

// qexit is "qexit CODE ARGS...": it runs qwenlab ARGS in this process (signals reach
// qwenlab's own handler) and succeeds only if qwenlab's exit code is CODE. testscript itself
// only tells zero from non-zero; the exit codes are part of qwenlab's interface.
func qexit() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: qexit CODE ARGS...")
		os.Exit(2)
	}
	want, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "qexit: bad exit code %q\n", os.Args[1])
		os.Exit(2)
	}
	got := cli.Main(os.Args[2:], os.Stdout, os.Stderr)
	fmt.Fprintf(os.Stderr, "qexit: qwenlab exited with %d\n", got)
	if got != want {
		fmt.Fprintf(os.Stderr, "qexit: want exit code %d\n", want)
		os.Exit(1)
	}
	os.Exit(0)
}

// passEnv are the variables a script inherits from the test's environment (testscript starts
// from an empty one).
var passEnv = []string{"DOCKER_HOST", "DOCKER_API_VERSION", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "QWENLAB_REQUIRE_DOCKER", "QWENLAB_SIM_REPO"}

// simRepo keeps the scripts' simulator image apart from a user's cached qwenlab-sim image:
// building one removes older tags of its repository, and the test removes its own at the end.
const simRepo = "qwenlab-sim-clitest"

func TestScripts(t *testing.T) {
	dockerUp := dockerReachable(t)
	t.Setenv("QWENLAB_SIM_REPO", simRepo)
	simRef := ""
	if dockerUp {
		// Build the simulator image once, before the scripts run in parallel: every script's
		// qwenlab is a byte-identical copy of this binary, so they all find it by its hash.
		simRef = prebuildSimImage(t)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			fixtures, err := filepath.Abs("testdata/compare")
			if err != nil {
				return err
			}
			e.Setenv("FIXTURES", fixtures) // reports for compare
			for _, k := range passEnv {
				if v, ok := os.LookupEnv(k); ok {
					e.Setenv(k, v)
				}
			}
			e.Setenv("SIMIMAGE", simRef) // the simulator image, for scripts that name it (--compose)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "docker":
				return dockerUp, nil
			case "root":
				return os.Geteuid() == 0, nil
			case "socat", "sshd":
				return haveTool(cond), nil
			case "chromium":
				return chromiumAvailable()
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonq":       cmdJSONQ,
			"freeport":    cmdFreePort,
			"holdport":    cmdHoldPort,
			"authproxy":   cmdAuthProxy,
			"stubhttp":    cmdStubHTTP,
			"runid":       cmdRunID,
			"waitrun":     cmdWaitRun,
			"leftovers":   cmdLeftovers,
			"labelled":    cmdLabelled,
			"httpget":     cmdHTTPGet,
			"sleep":       cmdSleep,
			"tcpengine":   cmdTCPEngine,
			"sshengine":   cmdSSHEngine,
			"chromium":    cmdChromium,
			"engineproxy": cmdEngineProxy,
		},
	})
}

// dockerReachable pings the engine; with QWENLAB_REQUIRE_DOCKER=1 (CI) an unreachable engine
// fails the test instead of skipping the Docker scripts.
// Under -short the [docker] scripts skip: they start containers.
func dockerReachable(t *testing.T) bool {
	if testing.Short() {
		t.Log("-short: the [docker] scripts skip")
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dc, err := docker.New(ctx)
	if err != nil {
		if os.Getenv("QWENLAB_REQUIRE_DOCKER") == "1" {
			t.Fatalf("QWENLAB_REQUIRE_DOCKER=1 but the Docker engine is not reachable: %v", err)
		}
		t.Logf("no Docker engine, the [docker] scripts skip: %v", err)
		return false
	}
	dc.Close()
	return true
}

func prebuildSimImage(t *testing.T) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dc, err := docker.New(ctx)
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	defer dc.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("own executable: %v", err)
	}
	var progress bytes.Buffer
	ref, err := dc.SimImageIn(ctx, simRepo, exe, &progress)
	if err != nil {
		t.Fatalf("build the simulator image: %v\n%s", err, progress.String())
	}
	t.Cleanup(func() {
		dc, err := docker.New(context.Background())
		if err != nil {
			return
		}
		defer dc.Close()
		dc.RemoveImage(context.Background(), ref)
	})
	return ref
}

// engine opens a moby client for the helper commands; they check Docker independently of
// qwenlab's own docker package, so a bug there cannot hide a leftover.
func engine(ts *testscript.TestScript) *client.Client {
	cl, err := client.New(client.FromEnv)
	ts.Check(err)
	return cl
}

// cmdJSONQ: jsonq [-distinct] FILE PATH [WANT]
//
// FILE is a JSON file in $WORK, or "stdout"/"stderr" of the last command. PATH is dotted:
// object keys, array indexes, "*" for every element of an array (all must match) and a final
// "len" for the length of an array (or of an object without a "len" key). Without WANT the value must exist and not be
// null. WANT is compared with the value's text (strings unquoted, other values as JSON);
// "~RE" matches a regular expression instead. -distinct asserts the values PATH selects are
// pairwise different.
func cmdJSONQ(ts *testscript.TestScript, neg bool, args []string) {
	distinct := len(args) > 0 && args[0] == "-distinct"
	if distinct {
		args = args[1:]
	}
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: jsonq [-distinct] FILE PATH [WANT]")
	}
	var doc any
	dec := json.NewDecoder(strings.NewReader(ts.ReadFile(args[0])))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		ts.Fatalf("jsonq: %s is not JSON: %v", args[0], err)
	}
	if dec.More() {
		ts.Fatalf("jsonq: %s has more than one JSON value", args[0])
	}
	vals, err := jsonSelect(doc, strings.Split(args[1], "."))
	if err != nil {
		if neg {
			return
		}
		ts.Fatalf("jsonq %s %s: %v", args[0], args[1], err)
	}
	if len(vals) == 0 {
		ts.Fatalf("jsonq %s %s: selects nothing", args[0], args[1])
	}
	var failure string
	switch {
	case distinct:
		seen := map[string]int{}
		for i, v := range vals {
			s := jsonText(v)
			if j, ok := seen[s]; ok {
				failure = fmt.Sprintf("values %d and %d are both %s", j, i, s)
				break
			}
			seen[s] = i
		}
	case len(args) == 2:
		for i, v := range vals {
			if v == nil {
				failure = fmt.Sprintf("value %d is null", i)
				break
			}
		}
	default:
		want := args[2]
		var re *regexp.Regexp
		if rest, ok := strings.CutPrefix(want, "~"); ok {
			re, err = regexp.Compile(rest)
			if err != nil {
				ts.Fatalf("jsonq: bad regexp %q: %v", rest, err)
			}
		}
		for i, v := range vals {
			got := jsonText(v)
			if (re != nil && !re.MatchString(got)) || (re == nil && got != want) {
				failure = fmt.Sprintf("value %d is %s, want %s", i, got, want)
				break
			}
		}
	}
	switch {
	case failure != "" && !neg:
		ts.Fatalf("jsonq %s %s: %s", args[0], args[1], failure)
	case failure == "" && neg:
		ts.Fatalf("jsonq %s %s: unexpectedly matched", args[0], args[1])
	}
}

func jsonSelect(v any, path []string) ([]any, error) {
	if len(path) == 0 || (len(path) == 1 && path[0] == "") {
		return []any{v}, nil
	}
	key, rest := path[0], path[1:]
	switch x := v.(type) {
	case map[string]any:
		child, ok := x[key]
		if !ok && key == "len" && len(rest) == 0 {
			return []any{json.Number(strconv.Itoa(len(x)))}, nil
		}
		if !ok {
			return nil, fmt.Errorf("no key %q", key)
		}
		return jsonSelect(child, rest)
	case []any:
		switch key {
		case "len":
			if len(rest) == 0 {
				return []any{json.Number(strconv.Itoa(len(x)))}, nil
			}
		case "*":
			var out []any
			for i, el := range x {
				vs, err := jsonSelect(el, rest)
				if err != nil {
					return nil, fmt.Errorf("element %d: %w", i, err)
				}
				out = append(out, vs...)
			}
			return out, nil
		}
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(x) {
			return nil, fmt.Errorf("no index %q in an array of %d", key, len(x))
		}
		return jsonSelect(x[i], rest)
	}
	return nil, fmt.Errorf("%q: %s is not an object or array", key, jsonText(v))
}

func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// cmdFreePort: freeport VAR sets $VAR to a TCP port on 127.0.0.1 that was free a moment ago.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ts.Check(ln.Close())
	ts.Setenv(args[0], strconv.Itoa(port))
}

// cmdHoldPort: holdport VAR listens on a free 127.0.0.1 port until the script ends and sets
// $VAR to it.
func cmdHoldPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Defer(func() { ln.Close() })
	ts.Setenv(args[0], strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}

// cmdAuthProxy: authproxy VAR TARGET USER:PASSWORD serves, until the script ends, a reverse
// proxy to TARGET (a base URL) on a free 127.0.0.1 port that asks for HTTP basic
// authentication on every request, the WebSocket handshake included, as the proxies people
// put in front of ComfyUI do; $VAR is set to its port. Refused requests are counted in
// $WORK/authproxy.refused.
func cmdAuthProxy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: authproxy VAR TARGET USER:PASSWORD")
	}
	target, err := url.Parse(args[1])
	ts.Check(err)
	user, pw, _ := strings.Cut(args[2], ":")
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	refused := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pw {
			mu.Lock()
			refused++
			os.WriteFile(ts.MkAbs("authproxy.refused"), []byte(strconv.Itoa(refused)+"\n"), 0o644)
			mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="comfyui"`)
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
		r.Header.Del("Authorization")
		proxy.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	ts.Setenv(args[0], strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}

// cmdStubHTTP: stubhttp VAR STATUS BODY serves STATUS and BODY for every path on a free
// 127.0.0.1 port until the script ends (a web server that is not ComfyUI); $VAR is its port.
func cmdStubHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: stubhttp VAR STATUS BODY")
	}
	code, err := strconv.Atoi(args[1])
	ts.Check(err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, args[2])
	})}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	ts.Setenv(args[0], strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}

var runLine = regexp.MustCompile(`(?m)^(?:\d\d:\d\d:\d\d )?qwenlab: run ([0-9a-f]+)$`)

// cmdRunID: runid VAR sets $VAR to the run ID the last qwenlab command printed on stderr.
func cmdRunID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: runid VAR")
	}
	m := runLine.FindStringSubmatch(ts.ReadFile("stderr"))
	if m == nil {
		ts.Fatalf("runid: no 'qwenlab: run ID' line on stderr")
	}
	ts.Setenv(args[0], m[1])
	removeAtEnd(ts, m[1])
}

// removeAtEnd removes whatever run id left in Docker when the script ends, passed or failed,
// so a failing script leaves nothing behind either.
func removeAtEnd(ts *testscript.TestScript, id string) {
	ts.Defer(func() {
		cl, err := client.New(client.FromEnv)
		if err != nil {
			return
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		f := make(client.Filters).Add("label", docker.LabelRun+"="+id)
		if cs, err := cl.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f}); err == nil {
			for _, c := range cs.Items {
				cl.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			}
		}
		if ns, err := cl.NetworkList(ctx, client.NetworkListOptions{Filters: f}); err == nil {
			for _, n := range ns.Items {
				cl.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
			}
		}
		if vs, err := cl.VolumeList(ctx, client.VolumeListOptions{Filters: f}); err == nil {
			for _, v := range vs.Items {
				cl.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true})
			}
		}
	})
}

// cmdWaitRun: waitrun PORT VAR [TIMEOUT] waits until a running container labelled
// qwenlab.run publishes host port PORT and sets $VAR to its run ID.
func cmdWaitRun(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: waitrun PORT VAR [TIMEOUT]")
	}
	port, err := strconv.Atoi(args[0])
	ts.Check(err)
	timeout := 60 * time.Second
	if len(args) == 3 {
		timeout, err = time.ParseDuration(args[2])
		ts.Check(err)
	}
	cl := engine(ts)
	defer cl.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		list, err := cl.ContainerList(ctx, client.ContainerListOptions{Filters: make(client.Filters).Add("label", docker.LabelRun)})
		cancel()
		ts.Check(err)
		for _, c := range list.Items {
			for _, p := range c.Ports {
				if int(p.PublicPort) == port && c.State == "running" {
					ts.Setenv(args[1], c.Labels[docker.LabelRun])
					removeAtEnd(ts, c.Labels[docker.LabelRun])
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("waitrun: no running qwenlab container on port %d after %s", port, timeout)
}

// labelledResources lists the containers, networks and volumes labelled qwenlab.run=ID.
func labelledResources(ts *testscript.TestScript, id string) []string {
	if id == "" {
		ts.Fatalf("empty run ID")
	}
	cl := engine(ts)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := make(client.Filters).Add("label", docker.LabelRun+"="+id)
	var out []string
	cs, err := cl.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	ts.Check(err)
	for _, c := range cs.Items {
		out = append(out, fmt.Sprintf("container %s %v (%s)", c.ID[:12], c.Names, c.State))
	}
	ns, err := cl.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	ts.Check(err)
	for _, n := range ns.Items {
		out = append(out, "network "+n.Name)
	}
	vs, err := cl.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	ts.Check(err)
	for _, v := range vs.Items {
		out = append(out, "volume "+v.Name)
	}
	return out
}

// cmdLeftovers: leftovers ID... asserts nothing labelled qwenlab.run=ID is left in Docker
// (containers, running or not, networks, volumes). It is scoped to the script's own runs:
// other scripts and packages run beside it on the same engine.
func cmdLeftovers(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: leftovers RUNID...")
	}
	for _, id := range args {
		if left := labelledResources(ts, id); len(left) > 0 {
			ts.Fatalf("run %s left behind:\n  %s", id, strings.Join(left, "\n  "))
		}
	}
}

// cmdLabelled: labelled ID asserts something labelled qwenlab.run=ID exists (with !: nothing).
func cmdLabelled(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: labelled RUNID")
	}
	left := labelledResources(ts, args[0])
	switch {
	case neg && len(left) > 0:
		ts.Fatalf("run %s still has:\n  %s", args[0], strings.Join(left, "\n  "))
	case !neg && len(left) == 0:
		ts.Fatalf("nothing labelled %s=%s", docker.LabelRun, args[0])
	}
	ts.Logf("run %s: %s", args[0], strings.Join(left, "; "))
}

// cmdHTTPGet: httpget URL [TIMEOUT] retries a GET until it answers 200; the body becomes
// stdout.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: httpget URL [TIMEOUT]")
	}
	timeout := 20 * time.Second
	if len(args) == 2 {
		var err error
		timeout, err = time.ParseDuration(args[1])
		ts.Check(err)
	}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		body, err := httpGet(args[0])
		if err == nil {
			if neg {
				ts.Fatalf("httpget %s: answered", args[0])
			}
			fmt.Fprint(ts.Stdout(), body)
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	if !neg {
		ts.Fatalf("httpget %s: %v", args[0], last)
	}
}

func httpGet(url string) (string, error) {
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		return "", fmt.Errorf("only http://127.0.0.1:PORT/… (loopback) is allowed, not %q", url)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(b), nil
}

// cmdSleep: sleep DUR.
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}
