package docker

import (
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
)

// GPUKind is the form of a GPU request.
type GPUKind string

// GPU request kinds.
const (
	GPUNone    GPUKind = "none"    // no GPU
	GPUAll     GPUKind = "all"     // every GPU (nvidia driver)
	GPUCount   GPUKind = "count"   // the first N GPUs (nvidia driver)
	GPUDevices GPUKind = "devices" // GPUs by index or UUID (nvidia driver)
	GPUCDI     GPUKind = "cdi"     // CDI device names such as nvidia.com/gpu=all
)

// GPURequest is a parsed --gpus value.
type GPURequest struct {
	Kind      GPUKind
	Count     int      // for Kind "count"
	DeviceIDs []string // for Kinds "devices" and "cdi"
}

// String renders r in the --gpus syntax that [ParseGPUs] accepts.
func (r GPURequest) String() string {
	switch r.Kind {
	case GPUAll:
		return "all"
	case GPUCount:
		return strconv.Itoa(r.Count)
	case GPUDevices:
		return "device=" + strings.Join(r.DeviceIDs, ",")
	case GPUCDI:
		return "cdi:" + strings.Join(r.DeviceIDs, ",")
	}
	return "none"
}

const gpuForms = `all, none, N, count=N, count=all, device=ID[,ID...] (index or GPU-UUID), or cdi:NAME[,NAME...] (e.g. cdi:nvidia.com/gpu=all)`

// ParseGPUs parses Docker's --gpus syntax: "all", "none" (or ""), "N",
// "count=N", "count=all", "device=0,2", "device=GPU-<uuid>" (optionally
// quoted as the docker CLI needs: `"device=0,2"`), and, for CDI,
// "cdi:nvidia.com/gpu=all". The docker CLI's "capabilities=" and
// "driver=nvidia" fields are accepted and ignored (qwenlab always asks for
// gpu,compute,utility from the nvidia driver).
func ParseGPUs(s string) (GPURequest, error) {
	bad := func(why string) (GPURequest, error) {
		return GPURequest{}, fmt.Errorf("invalid --gpus value %q: %s; accepted: %s", s, why, gpuForms)
	}
	v := strings.TrimSpace(s)
	switch v {
	case "", "none":
		return GPURequest{Kind: GPUNone}, nil
	case "all":
		return GPURequest{Kind: GPUAll}, nil
	}
	if rest, ok := strings.CutPrefix(v, "cdi:"); ok {
		ids, err := splitIDs(rest, true)
		if err != nil {
			return bad(err.Error())
		}
		for _, id := range ids {
			// A CDI device name is vendor/class=name.
			kind, name, ok := strings.Cut(id, "=")
			if !ok || name == "" || !strings.Contains(kind, "/") || strings.HasPrefix(kind, "/") || strings.HasSuffix(kind, "/") {
				return bad(fmt.Sprintf("%q is not a CDI device name (vendor.com/class=name)", id))
			}
		}
		return GPURequest{Kind: GPUCDI, DeviceIDs: ids}, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		return countRequest(n, bad)
	}
	// The docker CLI's CSV form: fields separated by commas, a field with
	// commas in double quotes. "device=0,2" unquoted is accepted as well.
	r := csv.NewReader(strings.NewReader(v))
	r.FieldsPerRecord = -1
	fields, err := r.Read()
	if err != nil {
		return bad("not valid comma-separated fields")
	}
	if _, err := r.Read(); err == nil {
		return bad("more than one line")
	}
	var req GPURequest
	seen := map[string]bool{}
	for i := 0; i < len(fields); i++ {
		f := strings.TrimSpace(fields[i])
		key, val, ok := strings.Cut(f, "=")
		if !ok {
			if f == "all" && !seen["count"] && !seen["device"] {
				seen["count"] = true
				req = GPURequest{Kind: GPUAll}
				continue
			}
			return bad(fmt.Sprintf("unknown field %q", f))
		}
		key = strings.ToLower(strings.TrimSpace(key))
		if seen[key] {
			return bad(fmt.Sprintf("%s given twice", key))
		}
		seen[key] = true
		switch key {
		case "count":
			if seen["device"] {
				return bad("count and device cannot be combined")
			}
			if strings.TrimSpace(val) == "all" {
				req = GPURequest{Kind: GPUAll}
				continue
			}
			n, err := strconv.Atoi(strings.TrimSpace(val))
			if err != nil {
				return bad(fmt.Sprintf("count %q is not a number or all", val))
			}
			if req, err = countRequest(n, bad); err != nil {
				return req, err
			}
		case "device":
			if seen["count"] {
				return bad("count and device cannot be combined")
			}
			// Unquoted device=0,2: the following bare fields are more IDs.
			for i+1 < len(fields) && !strings.Contains(fields[i+1], "=") {
				i++
				val += "," + fields[i]
			}
			ids, err := splitIDs(val, false)
			if err != nil {
				return bad(err.Error())
			}
			req = GPURequest{Kind: GPUDevices, DeviceIDs: ids}
		case "driver":
			if d := strings.TrimSpace(val); d != "nvidia" {
				return bad(fmt.Sprintf("driver %q is not supported (only nvidia; use cdi:NAME for CDI)", d))
			}
		case "capabilities":
			// Accepted for compatibility with the docker CLI; qwenlab
			// always requests gpu,compute,utility.
		default:
			return bad(fmt.Sprintf("unknown field %q", key))
		}
	}
	if req.Kind == "" {
		return bad("no count or device given")
	}
	return req, nil
}

func countRequest(n int, bad func(string) (GPURequest, error)) (GPURequest, error) {
	switch {
	case n < -1:
		return bad("negative count")
	case n == -1:
		return GPURequest{Kind: GPUAll}, nil
	case n == 0:
		return GPURequest{Kind: GPUNone}, nil
	}
	return GPURequest{Kind: GPUCount, Count: n}, nil
}

// splitIDs splits a comma-separated device list. IDs are GPU indexes,
// UUIDs (GPU-…, MIG-…) or, with cdi, CDI names (vendor.com/class=name).
func splitIDs(s string, cdi bool) ([]string, error) {
	var ids []string
	for _, id := range strings.Split(s, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			return nil, fmt.Errorf("empty device id")
		}
		for _, r := range id {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
				strings.ContainsRune("-_.:/", r) || cdi && r == '='
			if !ok {
				return nil, fmt.Errorf("device id %q contains %q", id, r)
			}
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// gpuCapabilities is what qwenlab asks the nvidia driver for.
var gpuCapabilities = []string{"gpu", "compute", "utility"}

// deviceRequests maps a GPU request onto the Engine's device requests.
func deviceRequests(r GPURequest) ([]container.DeviceRequest, error) {
	caps := func() [][]string { return [][]string{slices.Clone(gpuCapabilities)} }
	switch r.Kind {
	case "", GPUNone:
		return nil, nil
	case GPUAll:
		return []container.DeviceRequest{{Driver: "nvidia", Count: -1, Capabilities: caps()}}, nil
	case GPUCount:
		if r.Count <= 0 {
			return nil, fmt.Errorf("gpu count %d: must be positive", r.Count)
		}
		return []container.DeviceRequest{{Driver: "nvidia", Count: r.Count, Capabilities: caps()}}, nil
	case GPUDevices:
		if len(r.DeviceIDs) == 0 {
			return nil, fmt.Errorf("gpu devices: no device ids")
		}
		return []container.DeviceRequest{{Driver: "nvidia", DeviceIDs: slices.Clone(r.DeviceIDs), Capabilities: caps()}}, nil
	case GPUCDI:
		if len(r.DeviceIDs) == 0 {
			return nil, fmt.Errorf("gpu cdi: no device names")
		}
		return []container.DeviceRequest{{Driver: "cdi", DeviceIDs: slices.Clone(r.DeviceIDs)}}, nil
	}
	return nil, fmt.Errorf("gpu request kind %q: unknown (want none, all, count, devices or cdi)", r.Kind)
}
