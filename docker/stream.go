package docker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// streamMsg is one message of the daemon's JSON progress streams (pull,
// build). Only the fields qwenlab reads are declared.
type streamMsg struct {
	Stream   string `json:"stream"`
	Status   string `json:"status"`
	ID       string `json:"id"`
	Progress *struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Error string `json:"error"`
}

// decodeStream reads a JSON message stream to its end, calling fn for each
// message. An error reported inside the stream (errorDetail, which arrives
// in an HTTP 200 response) ends it with that error.
func decodeStream(r io.Reader, fn func(streamMsg)) error {
	dec := json.NewDecoder(r)
	for {
		var m streamMsg
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decode progress stream: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
		if fn != nil {
			fn(m)
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

func (t *pullTracker) update(m streamMsg) PullProgress {
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
