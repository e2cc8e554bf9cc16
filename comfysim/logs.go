package comfysim

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// logger writes ComfyUI-style log lines (no timestamp, no level) to one writer.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) write(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, s)
}

func (s *Server) logf(format string, args ...any) {
	s.log.write(fmt.Sprintf(format, args...) + "\n")
}

// Load-stat line formats (--log-format).
const (
	LogFormat0364    = "0.3.64"
	LogFormat0368    = "0.3.68"
	LogFormat081     = "0.8.1"
	LogFormatDynamic = "dynamic"
)

// loadStatLine is the line model_patcher logs after a model is loaded, in the given format.
func loadStatLine(format, class string, mb float64) string {
	switch format {
	case LogFormat0364:
		return fmt.Sprintf("loaded completely %s %s True", pyFloatText(9.5367431640625e+25), pyFloatText(mb))
	case LogFormat0368:
		return fmt.Sprintf("loaded completely; %.2f MB usable, %.2f MB loaded, full load: True", 79500.0-mb/4, mb)
	case LogFormat081:
		return fmt.Sprintf("loaded completely;  %.2f MB loaded, full load: True", mb)
	default:
		return fmt.Sprintf("Model %s prepared for dynamic VRAM loading. %.0fMB Staged. 0 patches attached.", class, mb)
	}
}

// tqdm draws the sampler's progress bar on the log writer with \r updates.
type tqdm struct {
	s     *Server
	total int
	start time.Time
	done  bool
}

func newTqdm(s *Server, total int) *tqdm {
	t := &tqdm{s: s, total: total, start: time.Now()}
	t.draw(0)
	return t
}

var tqdmParts = []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}

func (t *tqdm) draw(n int) {
	const width = 10
	frac := float64(n) / float64(t.total)
	full := int(frac * width)
	bar := strings.Repeat("█", full)
	if full < width {
		bar += tqdmParts[int((frac*width-float64(full))*8)]
		bar += strings.Repeat(" ", width-full-1)
	}
	elapsed := time.Since(t.start)
	rate, remaining := "?it/s", "?"
	if n > 0 && elapsed > 0 {
		r := float64(n) / elapsed.Seconds()
		if r >= 1 {
			rate = fmt.Sprintf("%.2fit/s", r)
		} else {
			rate = fmt.Sprintf("%.2fs/it", 1/r)
		}
		remaining = clock(time.Duration(float64(t.total-n) / r * float64(time.Second)))
	}
	t.s.log.write(fmt.Sprintf("\r%3d%%|%s| %d/%d [%s<%s, %s]", int(frac*100), bar, n, t.total, clock(elapsed), remaining, rate))
}

func clock(d time.Duration) string {
	sec := int(d.Seconds())
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%02d:%02d", sec/60, sec%60)
}

func (t *tqdm) update(n int) { t.draw(n) }

func (t *tqdm) stop() {
	if !t.done {
		t.done = true
		t.s.log.write("\n")
	}
}

// executedIn formats "Prompt executed in ..." as main.py does.
func executedIn(d time.Duration) string {
	sec := d.Seconds()
	if sec > 600 {
		t := int(sec)
		return fmt.Sprintf("Prompt executed in %02d:%02d:%02d", t/3600, t/60%60, t%60)
	}
	return fmt.Sprintf("Prompt executed in %.2f seconds", sec)
}
