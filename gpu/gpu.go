package gpu

import (
	"errors"
	"strings"
	"time"
)

// ErrUnavailable is matched (errors.Is) by every error [Open] returns when GPU metrics
// cannot be had on this host or build. The error's text carries the human reason.
var ErrUnavailable = errors.New("GPU metrics unavailable")

// UnavailableError is the error [Open] returns when NVML cannot be used. It matches
// [ErrUnavailable].
type UnavailableError struct {
	// Reason says why, for a person: "built without cgo",
	// "NVML not found: no NVIDIA driver on this host (libnvidia-ml.so.1)", ...
	Reason string
}

func (e *UnavailableError) Error() string { return ErrUnavailable.Error() + ": " + e.Reason }

// Is reports whether target is [ErrUnavailable].
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Reason returns the human reason carried by an [UnavailableError] in err's chain, or
// err's text for any other error, or "" for nil.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue.Reason
	}
	return err.Error()
}

// Device is one GPU as NVML reports it. Fields NVML does not support on the device are
// left at zero ("" for strings).
type Device struct {
	Index int
	Name  string
	UUID  string
	// Driver is the driver version ("550.54.15"); CUDA is the highest CUDA version the
	// driver supports ("12.4"). Both are the same for every device of a host.
	Driver string
	CUDA   string
	// VRAMTotal is the device memory, in bytes.
	VRAMTotal uint64
	// PowerLimitW is the enforced power limit, in watts.
	PowerLimitW float64
	// PCIeGen and PCIeWidth are the current link generation and width (the link may
	// train down while idle); PCIeMaxGen and PCIeMaxWidth are what the device and
	// board allow.
	PCIeGen, PCIeWidth       int
	PCIeMaxGen, PCIeMaxWidth int
	// Accounting reports whether NVML accounting mode is enabled, which makes
	// [Monitor.ProcessPeaks] exact.
	Accounting bool
}

// Field names one measured quantity of a [Sample]; a set of them is a bit mask.
type Field uint16

// The fields of a Sample that a device may or may not support.
const (
	FieldVRAM   Field = 1 << iota // VRAMUsed
	FieldUtil                     // UtilGPU and UtilMem
	FieldPower                    // PowerW
	FieldClock                    // SMClockMHz
	FieldTemp                     // TempC
	FieldEnergy                   // EnergyMJ
	FieldProcs                    // ProcVRAM
	fieldEnd
)

// AllFields is every Field.
const AllFields = fieldEnd - 1

var fieldNames = [...]string{"vram", "util", "power", "clock", "temp", "energy", "procs"}

// Has reports whether every field of g is in f.
func (f Field) Has(g Field) bool { return f&g == g }

// String lists the fields, "vram|util|power"; "none" for the empty set.
func (f Field) String() string {
	if f == 0 {
		return "none"
	}
	var parts []string
	for i, n := range fieldNames {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if f&^AllFields != 0 {
		parts = append(parts, "?")
	}
	return strings.Join(parts, "|")
}

// Sample is one reading of one device. A sample built by hand (a fake) with Missing
// left zero counts as complete.
type Sample struct {
	// T is when the reading was received (time.Now, so it carries a monotonic reading).
	T     time.Time
	Index int
	// VRAMUsed is the device memory in use, in bytes.
	VRAMUsed uint64
	// ProcVRAM maps the host PIDs of the processes NVML lists on the device (compute and
	// graphics) to the device memory each uses, in bytes. Processes whose usage NVML
	// cannot report (no permission) are left out. Nil where the list is not supported.
	ProcVRAM map[uint32]uint64
	// UtilGPU and UtilMem are the GPU and memory-controller utilisation, in percent.
	UtilGPU, UtilMem float64
	// PowerW is the power draw, in watts.
	PowerW float64
	// SMClockMHz is the SM clock, in MHz.
	SMClockMHz int
	// TempC is the GPU temperature, in degrees Celsius.
	TempC int
	// EnergyMJ is the device's total-energy counter since the driver loaded, in
	// millijoules; 0 if unsupported.
	EnergyMJ uint64
	// Readings is how many readings this sample stands for where a [Sampler] merged
	// neighbours to bound its memory (0 or 1: one reading). Means weight by it.
	Readings int
	// Missing lists the measurements above that the device did not supply (not
	// supported, or no permission); they are zero and must be read as absent, not as 0.
	// The zero value means every measurement is there.
	Missing Field
}
