// Package report owns qwenlab's versioned, machine-readable report: the wire type
// ([Report], schema version [SchemaVersion]), its statistics ([Summarize], [Compare], built on
// golang.org/x/perf/benchmath), deterministic encoding ([Marshal]), strict decoding with clear
// errors ([Decode], [Read]), the atomic write ([Write]), redaction of secrets ([Redact],
// [RedactString]) and the short human summary ([RenderSummary]).
//
// The report is the product: durations are seconds as numbers (base units, as benchfmt keeps
// them), bytes are integers, raw samples are kept beside their summaries, and a measurement
// that was not taken is null (a nil pointer) with a reason — never 0.
//
// This package is a leaf. It must not import lab, docker, comfy, gpu or scenarios, must not
// read the clock, the environment or the network, and must not expose SDK types (moby,
// websocket, NVML). Package lab fills a [Report] from what a run measured; this package only
// describes, encodes, checks and renders it.
//
// Note: renaming or removing a JSON field, or changing its meaning, needs a bump of
// [SchemaVersion] and a golden file of the old version that [Decode] still reads. Adding a
// field does not: readers ignore fields they do not know, and testdata/report.v1.golden.json
// is decoded with DisallowUnknownFields against the current type to prove nothing was lost.
package report
