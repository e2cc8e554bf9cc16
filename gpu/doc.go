// Package gpu owns everything qwenlab learns from NVIDIA's management library (NVML):
// the GPU inventory written into a report, per-device samples (VRAM, utilisation,
// power, clocks, temperature, energy, per-process memory), a background sampler with
// bounded memory, per-process VRAM peaks from NVML accounting, and the pure summaries
// and plot series computed from samples.
//
// NVML is reached through github.com/NVIDIA/go-nvml, which needs cgo; the NVML code is
// built only with cgo, and a build without cgo gets a stub whose [Open] reports
// [ErrUnavailable]. With cgo the library is loaded at [Open], so one binary runs on
// hosts with and without an NVIDIA driver.
//
// The package must not:
//   - call any NVML function before a successful nvmlInit, or after [Monitor.Close]
//     (an unresolved NVML symbol kills the process, it cannot be recovered);
//   - call an NVML function newer than the oldest supported driver without checking
//     for its symbol first;
//   - let an NVML type cross its exported API (callers test against hand-written fakes);
//   - fail a whole sample because one field is not supported on a device: that field is
//     left at zero and marked absent in [Sample.Missing];
//   - import other qwenlab packages, touch Docker, or read the wall clock for anything
//     but sample receipt times.
package gpu
