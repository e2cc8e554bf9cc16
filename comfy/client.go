package comfy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Options configure a Client. The zero value is usable.
type Options struct {
	HTTP        *http.Client  // nil: a default with sane timeouts
	ClientID    string        // "": random
	IdleTimeout time.Duration // no WebSocket message for this long while a prompt executes → interrupt it, TimeoutError (default 10 min)
	// QueueTimeout is how long a prompt may wait in the server's queue before it starts
	// executing; then it is deleted from the queue, TimeoutError (default 30 min). Waiting in
	// the queue is not silence: a pending prompt hears nothing but status broadcasts.
	QueueTimeout time.Duration
	// InterruptWait bounds the wait for the server to confirm that a prompt given up on has
	// stopped (execution_interrupted/error); ComfyUI notices an interrupt only between nodes
	// and at sampler steps (default 30 s).
	InterruptWait time.Duration
	// Notify receives live notes about waiting (queued behind other prompts, waiting for an
	// interrupt to take effect); nil drops them.
	Notify    func(string)
	ReadLimit int64 // largest WebSocket frame accepted (default 64 MiB)
	// Progress, when set, is called from Run as the prompt in flight moves: when a node
	// starts executing and on each sampler step.
	Progress func(Progress)
}

// Progress is where the prompt in flight is: the node executing and, for a sampler, its
// step (Step of Max; 0 of 0 before the first step).
type Progress struct {
	PromptID  string
	Node      string
	ClassType string
	Step, Max int
}

const (
	defaultIdle      = 10 * time.Minute
	defaultQueue     = 30 * time.Minute
	defaultIntrWait  = 30 * time.Second
	defaultReadLimit = 64 << 20
	readyTimeout     = 2 * time.Second
	maxBody          = 256 << 20 // largest HTTP reply read (object_info can be several MB)
	maxImage         = 1 << 30
)

// Client talks to one ComfyUI server. Its methods are safe for concurrent use; prompts run
// one at a time over one WebSocket, kept open across runs.
type Client struct {
	base      *url.URL      // without userinfo: it is shown and stored
	auth      *url.Userinfo // user:password of the URL, sent as basic auth on HTTP and /ws
	http      *http.Client
	clientID  string
	progress  func(Progress)
	idle      time.Duration
	queue     time.Duration
	intrWait  time.Duration
	notify    func(string)
	readLimit int64

	runMu sync.Mutex // one Run at a time

	mu     sync.Mutex // guards ws and closed
	ws     *wsConn
	closed bool
}

// NewClient returns a client for the server at baseURL (http://host:port, optionally with a
// path prefix). It does not connect. User information in the URL (http://user:pw@host, as a
// reverse proxy in front of ComfyUI asks for) is sent as HTTP basic authentication on every
// request and on the WebSocket handshake, and kept out of [Client.URL].
func NewClient(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("parse ComfyUI URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("parse ComfyUI URL %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("parse ComfyUI URL %q: no host", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	auth := u.User
	u.User = nil
	c := &Client{base: u, auth: auth, http: opts.HTTP, clientID: opts.ClientID, idle: opts.IdleTimeout,
		queue: opts.QueueTimeout, intrWait: opts.InterruptWait, notify: opts.Notify, readLimit: opts.ReadLimit, progress: opts.Progress}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	if c.clientID == "" {
		c.clientID = uuid.NewString()
	}
	if c.idle <= 0 {
		c.idle = defaultIdle
	}
	if c.queue <= 0 {
		c.queue = defaultQueue
	}
	if c.intrWait <= 0 {
		c.intrWait = defaultIntrWait
	}
	if c.notify == nil {
		c.notify = func(string) {}
	}
	if c.readLimit <= 0 {
		c.readLimit = defaultReadLimit
	}
	return c, nil
}

func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: 2 * time.Minute, // /object_info lists every model folder; validation of a big graph takes a while
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     false,
	}}
}

// authorize adds the URL's user information to h as basic authentication.
func (c *Client) authorize(h http.Header) {
	if c.auth == nil {
		return
	}
	pw, _ := c.auth.Password()
	r := http.Request{Header: h}
	r.SetBasicAuth(c.auth.Username(), pw)
}

// ClientID is the id this client sends as client_id and on /ws.
func (c *Client) ClientID() string { return c.clientID }

// URL is the server's base URL.
func (c *Client) URL() string { return c.base.String() }

func (c *Client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = ""
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do sends one request and returns status and body (at most limit bytes).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, limit int64) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path, q), rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.authorize(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read reply: %w", err)
	}
	if int64(len(data)) > limit {
		return resp.StatusCode, nil, fmt.Errorf("reply larger than %d bytes", limit)
	}
	return resp.StatusCode, data, nil
}

func statusError(status int, body []byte) error {
	text := oneLine(truncate(string(body), 300))
	if text == "" {
		return fmt.Errorf("HTTP %d", status)
	}
	return fmt.Errorf("HTTP %d: %s", status, text)
}

// Ready probes the server once: GET /system_stats answers 200 within a short timeout.
func (c *Client) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint("/system_stats", nil), nil)
	if err != nil {
		return fmt.Errorf("probe /system_stats: %w", err)
	}
	c.authorize(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("probe /system_stats: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe /system_stats: %w", &StatusError{Code: resp.StatusCode})
	}
	return nil
}

// StatusError is a reply with an HTTP status other than the one expected: the server is
// there, but did not do what ComfyUI does.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
}

// get fetches GET path and decodes a 200 answer with decode; an error names the path.
func get[T any](ctx context.Context, c *Client, path string, decode func([]byte) (T, error)) (T, error) {
	st, body, err := c.do(ctx, http.MethodGet, path, nil, nil, maxBody)
	if err == nil && st != http.StatusOK {
		err = statusError(st, body)
	}
	if err == nil {
		var v T
		if v, err = decode(body); err == nil {
			return v, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("get %s: %w", path, err)
}

// SystemStats fetches GET /system_stats.
func (c *Client) SystemStats(ctx context.Context) (SystemStats, error) {
	return get(ctx, c, "/system_stats", decodeSystemStats)
}

// ObjectInfo fetches and decodes GET /object_info (every node class).
func (c *Client) ObjectInfo(ctx context.Context) (ObjectInfo, error) {
	return get(ctx, c, "/object_info", DecodeObjectInfo)
}

// ObjectInfoFor fetches GET /object_info/{class} for each of classes, concurrently (at most
// 8 at once), and merges the answers: what a preflight needs of a 700-node server without
// reading all of it. A class the server does not know (it answers {}) is absent from the
// result.
func (c *Client) ObjectInfoFor(ctx context.Context, classes []string) (ObjectInfo, error) {
	uniq := slices.Compact(slices.Sorted(slices.Values(classes)))
	out := make(ObjectInfo, len(uniq))
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 8)
	)
	for _, class := range uniq {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			info, err := get(ctx, c, "/object_info/"+url.PathEscape(class), DecodeObjectInfo)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for k, v := range info {
				out[k] = v
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errs[0]
	}
	return out, nil
}

// History fetches GET /history/{id}. ok is false when the server answers {} (the prompt is
// unknown or still running).
func (c *Client) History(ctx context.Context, promptID string) (*HistoryEntry, bool, error) {
	st, body, err := c.do(ctx, http.MethodGet, "/history/"+url.PathEscape(promptID), nil, nil, maxBody)
	if err != nil {
		return nil, false, fmt.Errorf("get history %s: %w", promptID, err)
	}
	if st != http.StatusOK {
		return nil, false, fmt.Errorf("get history %s: %w", promptID, statusError(st, body))
	}
	h, ok, err := decodeHistory(body, promptID)
	if err != nil {
		return nil, false, fmt.Errorf("get history %s: %w", promptID, err)
	}
	return h, ok, nil
}

// Interrupt asks the server to stop promptID if it is running (POST /interrupt with its
// prompt_id). There is deliberately no way to send an interrupt without an id: on a shared
// server that stops whatever runs, possibly another user's prompt.
func (c *Client) Interrupt(ctx context.Context, promptID string) error {
	if promptID == "" {
		return errors.New("interrupt: no prompt id (a global interrupt could stop another client's prompt)")
	}
	body := map[string]string{"prompt_id": promptID}
	st, reply, err := c.do(ctx, http.MethodPost, "/interrupt", nil, body, 1<<20)
	if err != nil {
		return fmt.Errorf("interrupt %s: %w", promptID, err)
	}
	if st != http.StatusOK {
		return fmt.Errorf("interrupt %s: %w", promptID, statusError(st, reply))
	}
	return nil
}

// Free asks the server to unload models and/or free memory (POST /free). free_memory also
// clears ComfyUI's node cache. The server acts when it is idle.
func (c *Client) Free(ctx context.Context, unloadModels, freeMemory bool) error {
	body := map[string]bool{"unload_models": unloadModels, "free_memory": freeMemory}
	st, reply, err := c.do(ctx, http.MethodPost, "/free", nil, body, 1<<20)
	if err != nil {
		return fmt.Errorf("free: %w", err)
	}
	if st != http.StatusOK {
		return fmt.Errorf("free: %w", statusError(st, reply))
	}
	return nil
}

// View downloads an image (GET /view).
func (c *Client) View(ctx context.Context, img ImageRef) ([]byte, error) {
	if img.Filename == "" {
		return nil, errors.New("view image: no file name")
	}
	q := url.Values{"filename": {img.Filename}, "subfolder": {img.Subfolder}, "type": {img.Type}}
	if img.Type == "" {
		q.Set("type", "output")
	}
	st, body, err := c.do(ctx, http.MethodGet, "/view", q, nil, maxImage)
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", img.Filename, err)
	}
	if st != http.StatusOK {
		return nil, fmt.Errorf("view %s: %w", img.Filename, statusError(st, body))
	}
	return body, nil
}

// Close closes the WebSocket. A closed client cannot Run again.
func (c *Client) Close() error {
	c.mu.Lock()
	ws := c.ws
	c.ws = nil
	c.closed = true
	c.mu.Unlock()
	if ws != nil {
		ws.close()
	}
	return nil
}
