package docker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/qwenlab/qwenlab/internal/shortid"
)

// LogLine is one line of a container's output.
type LogLine struct {
	Time   time.Time // the engine's timestamp of the write; zero if absent
	Stream string    // "stdout" or "stderr"
	Text   string    // without the timestamp and the line ending
	// Partial is set for a piece that ended in \r (a progress-bar update)
	// or without any line ending (the engine splits very long writes).
	Partial bool
}

// FollowLogs follows a container's stdout and stderr from its first byte,
// with the engine's timestamps, calling fn for each line, until ctx ends
// or the container exits (both a normal end: nil). The container must have
// been created without a TTY (as [Client.Create] does).
//
// fn runs on the caller's goroutine and should be fast; the stream is read
// continuously into memory on another goroutine, so a slow fn delays lines
// but never makes the engine (and so the container) block on us.
func (c *Client) FollowLogs(ctx context.Context, id string, fn func(LogLine)) error {
	rc, err := c.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("follow logs %s: %w", shortid.Of(id), c.engineErr(err))
	}
	q := newByteQueue()
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.fill(rc)
	}()
	err = parseLogStream(q, fn)
	rc.Close()
	<-done
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("follow logs %s: %w", shortid.Of(id), err)
	}
	return nil
}

// maxFrame bounds one multiplexed frame. The engine splits log messages at
// 16 KiB (plus the timestamp), so anything near this is corrupt.
const maxFrame = 16 << 20

// parseLogStream reads the engine's multiplexed log stream (8-byte frame
// headers: stream type, 3 zero bytes, big-endian payload size) to its end
// and splits every frame into lines. The engine writes each log message as
// one frame, timestamp first.
func parseLogStream(r io.Reader, fn func(LogLine)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [8]byte
	buf := make([]byte, 0, 32<<10)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return errors.New("log stream: truncated frame header")
			}
			return err
		}
		var stream string
		switch hdr[0] {
		case 0, 1: // stdin is never sent; treat it as stdout as stdcopy does
			stream = "stdout"
		case 2:
			stream = "stderr"
		case 3:
			stream = "system"
		default:
			return fmt.Errorf("log stream: unknown stream type %d: not a multiplexed stream (TTY container?)", hdr[0])
		}
		size := binary.BigEndian.Uint32(hdr[4:])
		if size > maxFrame {
			return fmt.Errorf("log stream: frame of %d bytes (stream %d) exceeds %d: not a multiplexed stream?", size, hdr[0], maxFrame)
		}
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(br, buf); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return errors.New("log stream: truncated frame")
			}
			return err
		}
		if stream == "system" {
			return fmt.Errorf("engine: %s", buf)
		}
		splitFrame(buf, stream, fn)
	}
}

// splitFrame splits one log message into lines: at \n (and \r\n), and at a
// lone \r, which ends a Partial piece (a progress bar redrawing itself).
// Text after the last line ending is a Partial piece too. Empty pieces
// before a \r are dropped; empty lines ending in \n are kept.
func splitFrame(p []byte, stream string, fn func(LogLine)) {
	ts, p := cutTimestamp(p)
	for len(p) > 0 {
		i := indexLineEnd(p)
		if i < 0 {
			fn(LogLine{Time: ts, Stream: stream, Text: string(p), Partial: true})
			return
		}
		if p[i] == '\n' {
			fn(LogLine{Time: ts, Stream: stream, Text: string(p[:i])})
			p = p[i+1:]
			continue
		}
		// p[i] == '\r'
		if i+1 < len(p) && p[i+1] == '\n' {
			fn(LogLine{Time: ts, Stream: stream, Text: string(p[:i])})
			p = p[i+2:]
			continue
		}
		if i > 0 {
			fn(LogLine{Time: ts, Stream: stream, Text: string(p[:i]), Partial: true})
		}
		p = p[i+1:]
	}
}

func indexLineEnd(p []byte) int {
	for i, b := range p {
		if b == '\n' || b == '\r' {
			return i
		}
	}
	return -1
}

// cutTimestamp removes the engine's "2006-01-02T15:04:05.000000000Z "
// prefix. Without a valid one, p is returned whole with the zero time.
func cutTimestamp(p []byte) (time.Time, []byte) {
	const maxLen = len("2006-01-02T15:04:05.000000000+00:00")
	if len(p) < len("2006-01-02T15:04:05Z") || p[4] != '-' || p[10] != 'T' {
		return time.Time{}, p
	}
	end := min(len(p), maxLen+1)
	for i := 0; i < end; i++ {
		if p[i] == ' ' {
			t, err := time.Parse(time.RFC3339Nano, string(p[:i]))
			if err != nil {
				return time.Time{}, p
			}
			return t, p[i+1:]
		}
	}
	return time.Time{}, p
}

// byteQueue is an unbounded in-memory pipe: fill copies a reader into it
// as fast as the reader yields, Read hands the bytes out in order.
type byteQueue struct {
	mu     sync.Mutex
	chunks [][]byte
	err    error
	notify chan struct{}
	cur    []byte
}

func newByteQueue() *byteQueue { return &byteQueue{notify: make(chan struct{}, 1)} }

func (q *byteQueue) fill(r io.Reader) {
	var slab []byte
	for {
		if len(slab) < 4<<10 {
			slab = make([]byte, 64<<10)
		}
		n, err := r.Read(slab)
		if n > 0 {
			q.mu.Lock()
			q.chunks = append(q.chunks, slab[:n:n])
			q.mu.Unlock()
			slab = slab[n:]
			q.wake()
		}
		if err != nil {
			q.mu.Lock()
			q.err = err
			q.mu.Unlock()
			q.wake()
			return
		}
	}
}

func (q *byteQueue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *byteQueue) Read(p []byte) (int, error) {
	for {
		if len(q.cur) > 0 {
			n := copy(p, q.cur)
			q.cur = q.cur[n:]
			return n, nil
		}
		q.mu.Lock()
		if len(q.chunks) > 0 {
			q.cur = q.chunks[0]
			q.chunks[0] = nil
			q.chunks = q.chunks[1:]
			q.mu.Unlock()
			continue
		}
		err := q.err
		q.mu.Unlock()
		if err != nil {
			return 0, err
		}
		<-q.notify
	}
}
