package lab

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/qwenlab/qwenlab/docker"
	"github.com/qwenlab/qwenlab/report"
)

// logFile is --save-logs: every container log line of every cold start, redacted, in one
// file truncated when the run starts. The first write error stops the writing and is kept, so
// the report can say the file is incomplete instead of pointing at it.
type logFile struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	err error
}

func (l *logFile) write(line docker.LogLine, secrets []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	if _, err := fmt.Fprintf(l.w, "%s %s %s\n", line.Time.UTC().Format(time.RFC3339Nano), line.Stream, report.RedactString(line.Text, secrets)); err != nil {
		l.err = fmt.Errorf("write: %w", err)
	}
}

func (l *logFile) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.w.Flush(); err != nil && l.err == nil {
		l.err = fmt.Errorf("write: %w", err)
	}
	if err := l.f.Close(); err != nil && l.err == nil {
		l.err = fmt.Errorf("close: %w", err)
	}
	return l.err
}

// logSaver returns the function that writes every log line to --save-logs (redacted); nil
// without --save-logs or when the file cannot be opened (then the run warns and the report
// keeps the whole log tail instead).
func (r *run) logSaver() func(docker.LogLine) {
	if r.cfg.SaveLogs == "" || r.logsErr != "" {
		return nil
	}
	if r.logs == nil {
		f, err := os.OpenFile(r.cfg.SaveLogs, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			r.logsFailed(err)
			return nil
		}
		r.logs = &logFile{f: f, w: bufio.NewWriter(f)}
		r.closers = append(r.closers, func() {
			if err := r.logs.close(); err != nil {
				r.logsFailed(err)
			}
		})
	}
	return func(l docker.LogLine) { r.logs.write(l, r.secrets) }
}

// logsFailed records that --save-logs did not get every line.
func (r *run) logsFailed(err error) {
	r.logsErr = report.RedactString(err.Error(), r.secrets)
	r.warnf("--save-logs %s: %s: the file is incomplete; the report keeps the whole log tail instead", r.cfg.SaveLogs, r.logsErr)
}
