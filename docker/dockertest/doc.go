// Package dockertest holds test helpers around a real Docker Engine: a
// throwaway image registry (Distribution, Debian's docker-registry
// package) on the loopback interface, to push to and pull from.
//
// It is for tests only: every helper takes a testing.TB and undoes what it
// did in t.Cleanup. It must not be imported by non-test code, and it never
// listens beyond 127.0.0.1.
package dockertest
