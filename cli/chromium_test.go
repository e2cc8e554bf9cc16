package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/net/html"
)

// The HTML report is checked in a real browser: Debian's chromium, headless (.ci/run installs
// it). QWENLAB_REQUIRE_CHROMIUM=1 (CI) turns a missing browser into a failure instead of a
// skip; QWENLAB_UPDATE_SCREENSHOT=1 copies the screenshot to docs/report.png for the README.

// chromiumPath returns the browser's executable, or "" when there is none.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// chromiumAvailable is the [chromium] condition of the scripts.
func chromiumAvailable() (bool, error) {
	if chromiumPath() != "" {
		return true, nil
	}
	if os.Getenv("QWENLAB_REQUIRE_CHROMIUM") == "1" {
		return false, fmt.Errorf("QWENLAB_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt-get install chromium)")
	}
	return false, nil
}

// headless runs chromium on page with one action (--screenshot=FILE or --dump-dom) and a net
// log, and returns its stdout and the net log. Everything the browser might fetch on its own
// is switched off, names resolve to nothing and the proxy is a closed port on loopback, so
// no packet leaves the machine even if the page tried; the net log still records the try.
func headless(ctx context.Context, page, netlog string, action ...string) ([]byte, error) {
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--disable-domain-reliability", "--no-pings",
		"--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
		"--user-data-dir=" + filepath.Join(filepath.Dir(netlog), "chromium-profile"),
		"--log-net-log=" + netlog, "--net-log-capture-mode=Everything",
		"--window-size=1100,1500", "--force-device-scale-factor=1",
	}
	args = append(args, action...)
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, chromiumPath(), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(netlog)) // its profile stays in the test's folder
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("chromium %s: %v\n%s", strings.Join(action, " "), err, tail(stderr.String(), 2000))
	}
	return stdout.Bytes(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// pageRequests returns the URLs the page itself asked for, from a chromium net log: the URL
// requests whose network isolation key is the page's (file://). The browser's own
// background requests carry other keys and are not the page's doing.
func pageRequests(netlog string) ([]string, error) {
	data, err := os.ReadFile(netlog)
	if err != nil {
		return nil, fmt.Errorf("read the net log: %w", err)
	}
	// Chromium may be killed before it closes the JSON; close it ourselves.
	data = bytes.TrimSpace(data)
	if !bytes.HasSuffix(data, []byte("}")) || bytes.HasSuffix(data, []byte("},")) {
		data = append(bytes.TrimSuffix(data, []byte(",")), []byte("]}")...)
	}
	var log struct {
		Constants struct {
			LogEventTypes map[string]int `json:"logEventTypes"`
		} `json:"constants"`
		Events []struct {
			Type   int            `json:"type"`
			Params map[string]any `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(data, &log); err != nil {
		return nil, fmt.Errorf("decode the net log: %w", err)
	}
	start, ok := log.Constants.LogEventTypes["URL_REQUEST_START_JOB"]
	if !ok {
		return nil, fmt.Errorf("the net log names no URL_REQUEST_START_JOB event type")
	}
	var urls []string
	for _, e := range log.Events {
		if e.Type != start {
			continue
		}
		url, _ := e.Params["url"].(string)
		nik, _ := e.Params["network_isolation_key"].(string)
		site, _ := e.Params["site_for_cookies"].(string)
		if url == "" || strings.HasPrefix(url, "file:") || strings.HasPrefix(url, "data:") {
			continue
		}
		if strings.Contains(nik, "file://") || strings.Contains(site, "file://") {
			urls = append(urls, url)
		}
	}
	return urls, nil
}

// cmdChromium: chromium PAGE COLD_STARTS RUNS
//
// Opens $WORK/PAGE in headless chromium twice: once for a screenshot (which must not be
// blank) and once for the DOM after loading (which must hold the cold-start timeline's bars,
// COLD_STARTS blocks of them, and one point per warm run, RUNS in all). Neither load may
// request anything over the network.
func cmdChromium(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: chromium PAGE COLD_STARTS RUNS")
	}
	cold, err1 := strconv.Atoi(args[1])
	runs, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil {
		ts.Fatalf("chromium: COLD_STARTS and RUNS must be numbers")
	}
	page := ts.MkAbs(args[0])
	work := ts.MkAbs("chromium")
	ts.Check(os.MkdirAll(work, 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	shot := filepath.Join(work, "report.png")
	if _, err := headless(ctx, page, filepath.Join(work, "net-shot.json"), "--screenshot="+shot); err != nil {
		ts.Fatalf("%v", err)
	}
	checkScreenshot(ts, shot)
	dom, err := headless(ctx, page, filepath.Join(work, "net-dom.json"), "--dump-dom")
	if err != nil {
		ts.Fatalf("%v", err)
	}
	checkDOM(ts, dom, cold, runs)
	for _, nl := range []string{"net-shot.json", "net-dom.json"} {
		reqs, err := pageRequests(filepath.Join(work, nl))
		ts.Check(err)
		if len(reqs) > 0 {
			ts.Fatalf("the page made network requests: %q", reqs)
		}
	}
	if os.Getenv("QWENLAB_UPDATE_SCREENSHOT") == "1" {
		// The test runs in the package folder: the README's picture is ../docs/report.png.
		b, err := os.ReadFile(shot)
		ts.Check(err)
		ts.Check(os.MkdirAll(filepath.Join("..", "docs"), 0o755))
		ts.Check(os.WriteFile(filepath.Join("..", "docs", "report.png"), b, 0o644))
		ts.Logf("screenshot written to docs/report.png")
	}
}

// checkScreenshot fails unless the PNG is a page with content: most of a report is white
// background, but the charts and text must give a fair share of other pixels and colours.
func checkScreenshot(ts *testscript.TestScript, path string) {
	f, err := os.Open(path)
	ts.Check(err)
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		ts.Fatalf("screenshot %s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() < 800 || b.Dy() < 800 {
		ts.Fatalf("screenshot is %dx%d, want at least 800x800", b.Dx(), b.Dy())
	}
	colours := map[[3]uint32]bool{}
	nonWhite, total := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			total++
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				nonWhite++
			}
			if len(colours) < 1000 {
				colours[[3]uint32{r >> 12, g >> 12, bl >> 12}] = true
			}
		}
	}
	if frac := float64(nonWhite) / float64(total); frac < 0.03 || len(colours) < 20 {
		ts.Fatalf("screenshot looks blank: %.1f %% non-white pixels, %d colours", frac*100, len(colours))
	}
	ts.Logf("screenshot %dx%d: %.1f %% non-white, %d+ colours", b.Dx(), b.Dy(), float64(nonWhite)/float64(total)*100, len(colours))
}

// checkDOM looks at the page as chromium built it.
func checkDOM(ts *testscript.TestScript, dom []byte, cold, runs int) {
	doc, err := html.Parse(bytes.NewReader(dom))
	ts.Check(err)
	var blocks, points, scripts int
	barsPerBlock := map[string]int{}
	seenRuns := map[string]bool{}
	var walk func(n *html.Node, block string)
	walk = func(n *html.Node, block string) {
		if n.Type == html.ElementNode {
			class := strings.Fields(attrOf(n, "class"))
			has := func(c string) bool {
				for _, x := range class {
					if x == c {
						return true
					}
				}
				return false
			}
			switch {
			case n.Data == "script":
				scripts++
			case n.Data == "g" && has("cold-start"):
				blocks++
				block = attrOf(n, "data-cold-start")
			case n.Data == "rect" && has("bar"):
				if attrOf(n, "data-phase") == "" {
					ts.Fatalf("a timeline bar without data-phase")
				}
				barsPerBlock[block]++
			case n.Data == "circle" && has("pt-e2e"):
				points++
				seenRuns[attrOf(n, "data-run")] = true
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, block)
		}
	}
	walk(doc, "")
	if scripts > 0 {
		ts.Fatalf("the page has %d script elements", scripts)
	}
	if blocks != cold {
		ts.Fatalf("%d cold starts in the timeline, want %d", blocks, cold)
	}
	for i := 0; i < cold; i++ {
		// create, start, first log, listening, ready, preflight, first prompt at least.
		if n := barsPerBlock[strconv.Itoa(i)]; n < 7 {
			ts.Fatalf("cold start %d has %d timeline bars, want its phases and model loads (≥ 7)", i+1, n)
		}
	}
	if points != runs || len(seenRuns) != runs {
		ts.Fatalf("%d warm-run points (%d distinct runs), want one per run: %d", points, len(seenRuns), runs)
	}
	ts.Logf("DOM: %d cold starts with %v bars, %d warm-run points", blocks, barsPerBlock, points)
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// TestChromiumNetLogCatchesRequests proves the no-network check can fail: a page that loads
// an image and a stylesheet from elsewhere is caught (the proxy on a closed loopback port
// keeps the tries on this machine).
func TestChromiumNetLogCatchesRequests(t *testing.T) {
	ok, err := chromiumAvailable()
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "fetches.html")
	os.WriteFile(page, []byte(`<!DOCTYPE html><html><body><p>x</p><img src="http://127.0.0.1:9/a.png"><link rel="stylesheet" href="https://fonts.example/x.css"></body></html>`), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	netlog := filepath.Join(dir, "net.json")
	if _, err := headless(ctx, page, netlog, "--dump-dom"); err != nil {
		t.Fatal(err)
	}
	reqs, err := pageRequests(netlog)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(reqs, " ")
	if !strings.Contains(joined, "127.0.0.1:9/a.png") || !strings.Contains(joined, "fonts.example/x.css") {
		t.Errorf("page requests %q: want the image and the stylesheet", reqs)
	}
}
