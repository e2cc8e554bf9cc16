//go:build !cgo

package gpu

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestStubUnavailable(t *testing.T) {
	m, err := Open()
	if m != nil || !errors.Is(err, ErrUnavailable) || Reason(err) != "built without cgo" {
		t.Fatalf("Open = %v, %v; want nil and ErrUnavailable (built without cgo)", m, err)
	}
	if err.Error() != "GPU metrics unavailable: built without cgo" {
		t.Errorf("err = %q", err)
	}
	if _, err := m.Sample(nil); err == nil {
		t.Error("Sample on the stub: no error")
	}
	if _, err := m.Inventory(); err == nil {
		t.Error("Inventory on the stub: no error")
	}
	if p, ok := m.ProcessPeaks([]uint32{1}); ok || p != nil {
		t.Error("ProcessPeaks on the stub: ok")
	}
	if got := m.StartSampler(context.Background(), time.Millisecond, nil).Stop(); len(got) != 0 {
		t.Errorf("stub sampler collected %d samples", len(got))
	}
	if err := m.Close(); err != nil {
		t.Error(err)
	}
}
