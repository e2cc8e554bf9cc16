package comfysim

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

const (
	v0364 = "0.3.64"
	v0210 = "0.21.0"

	maxHistory    = 10000
	maxUploadSize = 100 * 1024 * 1024
)

// Server is one simulated ComfyUI server: HTTP + WebSocket front, prompt queue and a
// single worker that executes prompts, as ComfyUI's prompt_worker thread does.
type Server struct {
	cfg      Config
	log      *logger
	defs     map[string]*nodeDef
	defOrder []*nodeDef
	hub      *hub
	outDir   string
	inDir    string
	tempDir  string
	ownDir   string // removed by Close when the simulator created it
	faults   faults
	exit     func(int)
	handler  http.Handler

	rngMu sync.Mutex
	rng   *mrand.Rand

	interrupt atomic.Bool
	dropDone  atomic.Bool

	ctx       context.Context
	cancel    context.CancelFunc
	workerWG  sync.WaitGroup
	closeOnce sync.Once

	mu               sync.Mutex
	number           int64
	seq              int
	pending          []*queueItem
	running          *queueItem
	historyOrder     []string
	history          map[string]obj
	cache            map[string]*cacheEntry
	loaded           map[string]float64 // model class -> MB loaded in VRAM
	currentClient    string
	hasCurrentClient bool
	lastNode         string
	freeUnload       bool
	freeMemory       bool
	wake             chan struct{}
	lastStall        time.Time
}

// New builds a server from cfg and starts its prompt worker. Call Close (or let Serve's
// context end) to stop it.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	f, err := parseFaults(cfg.Faults)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: &logger{w: cfg.Log}, hub: newHub(), faults: f, exit: os.Exit,
		defs: map[string]*nodeDef{}, history: map[string]obj{}, cache: map[string]*cacheEntry{},
		loaded: map[string]float64{}, wake: make(chan struct{}, 1),
		rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 0x51)),
	}
	for _, d := range append(nodeDefs(cfg.ComfyVersion), fillerDefs(cfg.ComfyVersion, cfg.ExtraNodes)...) {
		s.defs[d.class] = d
		s.defOrder = append(s.defOrder, d)
	}
	base, err := os.MkdirTemp("", "comfysim-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	s.ownDir = base
	s.outDir = cfg.OutputDir
	if s.outDir == "" {
		s.outDir = filepath.Join(base, "output")
	}
	if s.outDir, err = filepath.Abs(s.outDir); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	s.inDir, s.tempDir = filepath.Join(base, "input"), filepath.Join(base, "temp")
	for _, d := range []string{s.outDir, s.inDir, s.tempDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			_ = os.RemoveAll(base)
			return nil, fmt.Errorf("create directory: %w", err)
		}
	}
	s.handler = s.routes()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.workerWG.Add(1)
	go s.worker()
	return s, nil
}

// OutputDir is the directory SaveImage writes into.
func (s *Server) OutputDir() string { return s.outDir }

// Handler serves every route of the simulated server (for httptest in other packages).
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the worker, closes every WebSocket and removes the directories the simulator
// created itself (not a --output-directory it was given).
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.workerWG.Wait()
		s.hub.closeAll()
		_ = os.RemoveAll(s.ownDir)
	})
	return nil
}

// Serve answers on ln until ctx is done, then shuts down and closes the server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	case err := <-errc:
		_ = s.Close()
		return fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.hub.closeAll()
	_ = hs.Shutdown(sctx)
	_ = s.Close()
	return nil
}

// sleep waits d, jittered by cfg.Jitter, unless the server is shutting down.
func (s *Server) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if s.cfg.Jitter > 0 {
		s.rngMu.Lock()
		f := 1 + s.cfg.Jitter*(2*s.rng.Float64()-1)
		s.rngMu.Unlock()
		d = time.Duration(float64(d) * max(f, 0))
	}
	return sleepCtx(ctx, d)
}

// sleepCtx waits d unless ctx ends first; it returns ctx's error then (or at once for d <= 0
// on an ended context).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
