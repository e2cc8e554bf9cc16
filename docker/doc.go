// Package docker is qwenlab's thin wrapper over the Docker Engine API
// (github.com/moby/moby/client): it creates and starts labelled containers
// with GPU device requests, loopback port bindings and read-only bind
// mounts, follows their logs (demultiplexed, timestamped, split into
// lines), inspects, waits for, stops and removes them, pulls, inspects,
// tags, pushes and removes images, lists and removes everything labelled [LabelRun], streams
// container stats and builds the simulator image.
//
// Its exported API uses only the plain structs declared here, never moby
// types, so package lab can test against hand-written fakes.
//
// It must not decide policy: what to run, when to pull, how long to wait
// or what to report belongs to package lab. It never creates privileged
// containers, never uses the host network and never adds capabilities.
// It imports no other qwenlab package.
package docker
