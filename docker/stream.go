package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"
)

// follow reads one of the daemon's JSON progress streams (pull, push, build) to its end,
// calling fn (may be nil) for each message. An error reported inside the stream
// (errorDetail, which arrives in an HTTP 200 response) ends it with that error, which
// keeps the daemon's code; a stream cut short ends it with a decoding error. When ctx
// ends first, the result is ctx's error.
func follow(ctx context.Context, msgs iter.Seq2[jsonstream.Message, error], fn func(jsonstream.Message)) error {
	for m, err := range msgs {
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("decode progress stream: %w", err)
		}
		if m.Error != nil {
			if m.Error.Message == "" {
				return fmt.Errorf("the engine reported an error (code %d) without a message", m.Error.Code)
			}
			return m.Error
		}
		if fn != nil {
			fn(m)
		}
	}
	return ctx.Err()
}

// jsonValues decodes the JSON values of a stream the SDK hands over as a plain body: a
// build's progress messages (pulls and pushes come with the SDK's own JSONMessages), stats.
// It ends at the end of r, or after the first error.
func jsonValues[T any](r io.Reader) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		dec := json.NewDecoder(r)
		for {
			var m T
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(m, err) || err != nil {
				return
			}
		}
	}
}

// PullProgress is a snapshot of an image pull.
type PullProgress struct {
	Layers     int    // layers seen so far
	LayersDone int    // layers pulled or already present
	Current    int64  // bytes downloaded, summed over layers
	Total      int64  // bytes to download, summed over layers whose size is known
	Status     string // the daemon's last status line, e.g. "Downloading" or "Digest: sha256:…"
}

type layerState struct {
	current, total int64
	done           bool
}

// pullTracker folds pull messages into a [PullProgress].
type pullTracker struct {
	layers map[string]*layerState
	order  []string
	status string
}

// layerStatus reports whether a status belongs to a single layer (as
// opposed to "Pulling from …", "Digest: …" or "Status: …").
func layerStatus(s string) (isLayer, done bool) {
	switch {
	case s == "Pull complete", s == "Already exists":
		return true, true
	case s == "Pulling fs layer", s == "Waiting", s == "Downloading",
		s == "Verifying Checksum", s == "Download complete", s == "Extracting",
		strings.HasPrefix(s, "Retrying"):
		return true, false
	}
	return false, false
}

func (t *pullTracker) update(m jsonstream.Message) PullProgress {
	if t.layers == nil {
		t.layers = make(map[string]*layerState)
	}
	if m.Status != "" {
		t.status = m.Status
		if m.ID != "" {
			if isLayer, done := layerStatus(m.Status); isLayer {
				l := t.layers[m.ID]
				if l == nil {
					l = &layerState{}
					t.layers[m.ID] = l
					t.order = append(t.order, m.ID)
				}
				if m.Status == "Downloading" && m.Progress != nil && m.Progress.Total >= 0 && m.Progress.Current >= 0 {
					l.current, l.total = m.Progress.Current, m.Progress.Total
				}
				if m.Status == "Download complete" {
					l.current = l.total
				}
				if done {
					l.done = true
					l.current = l.total
				}
			}
		}
	}
	p := PullProgress{Layers: len(t.order), Status: t.status}
	for _, id := range t.order {
		l := t.layers[id]
		if l.done {
			p.LayersDone++
		}
		p.Current = satAdd(p.Current, l.current)
		p.Total = satAdd(p.Total, l.total)
	}
	return p
}

// satAdd adds two non-negative sizes without overflowing.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
