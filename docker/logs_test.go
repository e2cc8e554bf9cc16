package docker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/pkg/stdcopy"
)

// muxStream builds the engine's multiplexed log stream, one frame per
// message, as the engine writes it (TestMuxStreamIsStdcopy checks the
// format against moby's own demultiplexer).
type muxStream struct {
	buf bytes.Buffer
}

func newMuxStream() *muxStream { return &muxStream{} }

const tsLayout = "2006-01-02T15:04:05.000000000Z07:00" // the engine's fixed-width RFC 3339

func (m *muxStream) add(stream string, ts time.Time, msg string) {
	kind := byte(stdcopy.Stdout)
	if stream == "stderr" {
		kind = byte(stdcopy.Stderr)
	}
	if !ts.IsZero() {
		msg = ts.UTC().Format(tsLayout) + " " + msg
	}
	var hdr [8]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(msg)))
	m.buf.Write(hdr[:])
	m.buf.WriteString(msg)
}

func TestMuxStreamIsStdcopy(t *testing.T) {
	m := newMuxStream()
	m.add("stdout", time.Time{}, "out1\n")
	m.add("stderr", time.Time{}, "err1\r")
	m.add("stdout", time.Time{}, "out2")
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, bytes.NewReader(m.buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out1\nout2" || errOut.String() != "err1\r" {
		t.Fatalf("stdcopy read stdout %q, stderr %q", out.String(), errOut.String())
	}
}

func collect(t *testing.T, r io.Reader) ([]LogLine, error) {
	t.Helper()
	var got []LogLine
	err := parseLogStream(r, func(l LogLine) { got = append(got, l) })
	return got, err
}

func TestParseLogStream(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 23, 7, 24, 771131417, time.UTC)
	t1 := t0.Add(time.Millisecond)
	t2 := t0.Add(2 * time.Millisecond)
	m := newMuxStream()
	m.add("stdout", t0, "Starting server\n")
	m.add("stderr", t1, "\r  0%|          | 0/20\r 50%|#####     | 10/20\r100%|##########| 20/20\n")
	m.add("stdout", t2, "\n")
	m.add("stdout", t2, "windows line\r\n")
	m.add("stderr", t2, "a long line split by the engine") // no newline: a partial message
	m.add("stderr", t2, " and its rest\n")
	m.add("stdout", time.Time{}, "no timestamp here\n")
	m.add("stdout", t2, "two\nlines\n")
	m.add("stdout", t2, "To see the GUI go to: http://0.0.0.0:8188") // last, unterminated

	got, err := collect(t, &m.buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []LogLine{
		{Time: t0, Stream: "stdout", Text: "Starting server"},
		{Time: t1, Stream: "stderr", Text: "  0%|          | 0/20", Partial: true},
		{Time: t1, Stream: "stderr", Text: " 50%|#####     | 10/20", Partial: true},
		{Time: t1, Stream: "stderr", Text: "100%|##########| 20/20"},
		{Time: t2, Stream: "stdout", Text: ""},
		{Time: t2, Stream: "stdout", Text: "windows line"},
		{Time: t2, Stream: "stderr", Text: "a long line split by the engine", Partial: true},
		{Time: t2, Stream: "stderr", Text: " and its rest"},
		{Stream: "stdout", Text: "no timestamp here"},
		{Time: t2, Stream: "stdout", Text: "two"},
		{Time: t2, Stream: "stdout", Text: "lines"},
		{Time: t2, Stream: "stdout", Text: "To see the GUI go to: http://0.0.0.0:8188", Partial: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestCutTimestamp(t *testing.T) {
	test := func(in string, wantTime time.Time, wantRest string) {
		t.Helper()
		ts, rest := cutTimestamp([]byte(in))
		if !ts.Equal(wantTime) || string(rest) != wantRest {
			t.Errorf("cutTimestamp(%q) = %v, %q; want %v, %q", in, ts, rest, wantTime, wantRest)
		}
	}
	test("2026-11-26T23:07:24.771131417Z hello", time.Date(2026, 11, 26, 23, 7, 24, 771131417, time.UTC), "hello")
	test("2026-11-26T23:07:24Z x", time.Date(2026, 11, 26, 23, 7, 24, 0, time.UTC), "x")
	test("2026-11-26T23:07:24.5+01:00 y", time.Date(2026, 11, 26, 22, 7, 24, 5e8, time.UTC), "y")
	test("2026-13-26T23:07:24.771131417Z bad month", time.Time{}, "2026-13-26T23:07:24.771131417Z bad month")
	test("hello world, this is not a timestamp", time.Time{}, "hello world, this is not a timestamp")
	test("short", time.Time{}, "short")
	test("2026-11-26T23:07:24.771131417Z", time.Time{}, "2026-11-26T23:07:24.771131417Z") // no space
}

func TestParseLogStreamErrors(t *testing.T) {
	test := func(name string, data []byte, wantErr string) {
		t.Helper()
		_, err := collect(t, bytes.NewReader(data))
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, wantErr)
		}
	}
	m := newMuxStream()
	m.add("stdout", time.Now(), "hello\n")
	full := m.buf.Bytes()
	test("truncated header", full[:5], "truncated frame header")
	test("truncated payload", full[:len(full)-2], "truncated frame")
	test("tty stream", []byte("plain text from a TTY container\n"), "unknown stream type")
	test("huge frame", []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, "exceeds")
	sys := append([]byte{3, 0, 0, 0, 0, 0, 0, 4}, "boom"...)
	test("system error", sys, "engine: boom")

	if got, err := collect(t, bytes.NewReader(nil)); err != nil || len(got) != 0 {
		t.Errorf("empty stream: %v, %v; want no lines, nil", got, err)
	}
}

// slowReader hands out a stream a few bytes at a time, to cross frame
// boundaries at every position.
type slowReader struct {
	data []byte
	n    int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n, len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

func TestParseLogStreamShortReads(t *testing.T) {
	m := newMuxStream()
	for i := range 50 {
		m.add([]string{"stdout", "stderr"}[i%2], time.Unix(int64(i), 0), fmt.Sprintf("line %d\r\n", i))
	}
	data := m.buf.Bytes()
	whole, err := collect(t, bytes.NewReader(data))
	if err != nil || len(whole) != 50 {
		t.Fatalf("whole: %d lines, %v", len(whole), err)
	}
	for _, n := range []int{1, 3, 7, 8, 9} {
		got, err := collect(t, &slowReader{data: data, n: n})
		if err != nil {
			t.Fatalf("reads of %d bytes: %v", n, err)
		}
		if diff := cmp.Diff(whole, got); diff != "" {
			t.Errorf("reads of %d bytes differ (-whole +got):\n%s", n, diff)
		}
	}
}

// TestByteQueueNeverBlocksWriter checks that the engine's side is drained
// even while the consumer does not read at all.
func TestByteQueueNeverBlocksWriter(t *testing.T) {
	pr, pw := io.Pipe()
	q := newByteQueue()
	go q.fill(pr)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	wrote := make(chan error, 1)
	go func() {
		_, err := pw.Write(payload) // io.Pipe blocks until every byte is read
		pw.Close()
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writer blocked although the queue should absorb the stream")
	}
	got, err := io.ReadAll(q)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes, want the %d written, in order", len(got), len(payload))
	}
}

func FuzzParseLogStream(f *testing.F) {
	m := newMuxStream()
	m.add("stdout", time.Unix(1, 5).UTC(), "hello\n")
	m.add("stderr", time.Unix(2, 0).UTC(), "\r 10%\r 20%\r\n")
	m.add("stdout", time.Time{}, "partial")
	f.Add(m.buf.Bytes())
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 3, 'a', '\r', 'b'})
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 1, 'x'})
	f.Add([]byte("not a stream"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var n int
		_ = parseLogStream(bytes.NewReader(data), func(l LogLine) {
			n++
			if strings.ContainsAny(l.Text, "\n") {
				t.Fatalf("line %q contains a newline", l.Text)
			}
			if l.Stream != "stdout" && l.Stream != "stderr" {
				t.Fatalf("stream %q", l.Stream)
			}
		})
		if n > len(data) {
			t.Fatalf("%d lines from %d bytes", n, len(data))
		}
	})
}

func BenchmarkFollowLogs(b *testing.B) {
	m := newMuxStream()
	const lines = 10000
	ts := time.Date(2026, 11, 26, 23, 7, 24, 771131417, time.UTC)
	for i := range lines {
		m.add("stdout", ts.Add(time.Duration(i)*time.Microsecond),
			fmt.Sprintf("got prompt %d: Requested to load QwenImage; loaded completely 9730.2 MB usable\n", i))
	}
	data := m.buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		q := newByteQueue()
		go q.fill(bytes.NewReader(data))
		if err := parseLogStream(q, func(LogLine) { n++ }); err != nil {
			b.Fatal(err)
		}
	}
	if n != lines*b.N {
		b.Fatalf("%d lines, want %d", n, lines*b.N)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}
