package report

import (
	"io"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces a secret value.
const Redacted = "<redacted>"

// IsSecretName reports whether an environment variable's value must not appear in reports
// or logs: its name contains TOKEN, KEY, SECRET or PASSWORD, in any case.
func IsSecretName(name string) bool {
	u := strings.ToUpper(name)
	for _, w := range []string{"TOKEN", "KEY", "SECRET", "PASSWORD"} {
		if strings.Contains(u, w) {
			return true
		}
	}
	return false
}

// Redact returns a copy of env ("NAME=value" entries, as Docker takes them) in which the
// value of every secret variable ([IsSecretName]) is replaced by "<redacted>". Entries without
// "=" carry no value and are kept as they are. env is not modified.
func Redact(env []string) []string {
	if env == nil {
		return nil
	}
	out := make([]string, len(env))
	for i, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		if ok && IsSecretName(name) {
			kv = name + "=" + Redacted
		}
		out[i] = kv
	}
	return out
}

// SecretValues returns the non-empty values of the secret variables in env, for
// [RedactString].
func SecretValues(env []string) []string {
	var out []string
	for _, kv := range env {
		name, v, ok := strings.Cut(kv, "=")
		if ok && v != "" && IsSecretName(name) {
			out = append(out, v)
		}
	}
	return out
}

// RedactString replaces every occurrence of each non-empty secret in s by "<redacted>".
// Longer secrets are replaced first, so a secret that contains another is hidden whole.
func RedactString(s string, secrets []string) string {
	ss := make([]string, 0, len(secrets))
	for _, v := range secrets {
		if v != "" {
			ss = append(ss, v)
		}
	}
	s = redactAssignments(s)
	if len(ss) == 0 {
		return s
	}
	slices.SortStableFunc(ss, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(ss))
	for _, v := range ss {
		pairs = append(pairs, v, Redacted)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// secretAssignment is NAME=value where NAME is a secret's name, as a
// container prints its environment: the value is hidden even when qwenlab never knew it (an
// image's own ENV).
var secretAssignment = regexp.MustCompile(`(?i)\b([A-Z0-9_]*(?:TOKEN|KEY|SECRET|PASSWORD)[A-Z0-9_]*)(=)([^\s"',;]+)`)

func redactAssignments(s string) string {
	if !strings.Contains(s, "=") {
		return s
	}
	return secretAssignment.ReplaceAllStringFunc(s, func(m string) string {
		sub := secretAssignment.FindStringSubmatch(m)
		if sub[3] == Redacted {
			return m
		}
		return sub[1] + sub[2] + Redacted
	})
}

// NewRedactWriter returns a writer that passes everything to w with [RedactString] applied
// to each Write: qwenlab wraps its stdout and stderr in one, so no secret reaches the
// terminal, whichever part of qwenlab prints it. Each Write must hold whole lines (as
// fmt.Fprintf calls do), so that no secret is split across two.
func NewRedactWriter(w io.Writer, secrets []string) io.Writer {
	return &redactWriter{w: w, secrets: secrets}
}

type redactWriter struct {
	w       io.Writer
	secrets []string
}

func (r *redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, RedactString(string(p), r.secrets)); err != nil {
		return 0, err
	}
	return len(p), nil
}
