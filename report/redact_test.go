package report

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIsSecretName(t *testing.T) {
	for _, n := range []string{"HF_TOKEN", "hf_token", "OPENAI_API_KEY", "ApiKey", "KEYRING", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "password"} {
		if !IsSecretName(n) {
			t.Errorf("%s is not secret", n)
		}
	}
	for _, n := range []string{"PATH", "HOME", "CUDA_VISIBLE_DEVICES", "PASSWD", "TOKE", ""} {
		if IsSecretName(n) {
			t.Errorf("%s is secret", n)
		}
	}
}

func TestRedact(t *testing.T) {
	in := []string{"HF_TOKEN=hf_abc123", "PATH=/usr/bin", "api_key=k=v=w", "MY_SECRET=", "PASSWORD", "CUDA_VISIBLE_DEVICES=0,1", "Db_Password=hunter2"}
	orig := slices.Clone(in)
	got := Redact(in)
	want := []string{"HF_TOKEN=<redacted>", "PATH=/usr/bin", "api_key=<redacted>", "MY_SECRET=<redacted>", "PASSWORD", "CUDA_VISIBLE_DEVICES=0,1", "Db_Password=<redacted>"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Redact (-want +got):\n%s", d)
	}
	if !slices.Equal(in, orig) {
		t.Errorf("Redact modified its input: %q", in)
	}
	if Redact(nil) != nil {
		t.Error("Redact(nil) != nil")
	}
	if d := cmp.Diff([]string{"hf_abc123", "k=v=w", "hunter2"}, SecretValues(in)); d != "" {
		t.Errorf("SecretValues (-want +got):\n%s", d)
	}
}

func TestRedactString(t *testing.T) {
	test := func(s string, secrets []string, want string) {
		t.Helper()
		if got := RedactString(s, secrets); got != want {
			t.Errorf("RedactString(%q, %q) = %q, want %q", s, secrets, got, want)
		}
	}
	test("token hf_abc used twice: hf_abc", []string{"hf_abc"}, "token <redacted> used twice: <redacted>")
	test("nothing here", []string{"zzz"}, "nothing here")
	test("keep all", nil, "keep all")
	test("empty secrets are ignored", []string{""}, "empty secrets are ignored")
	// The longer secret wins, so no tail of it is left visible.
	test("pw=abcdef", []string{"abc", "abcdef"}, "pw=<redacted>")
	test("a=abc b=abcdef", []string{"abc", "abcdef"}, "a=<redacted> b=<redacted>")
	// Replacement is one pass: the marker itself is not scanned again.
	test("x red x", []string{"red", "x"}, "<redacted> <redacted> <redacted>")
}

// A container that prints its environment shows secrets qwenlab may never have been given
// (an image's own ENV): NAME=value with a secret's name is hidden too.
func TestRedactStringAssignments(t *testing.T) {
	got := RedactString("HF_TOKEN=hf_abc PATH=/usr/bin db_password=pw1 MY_API_KEY=k2, steps=20", nil)
	want := "HF_TOKEN=<redacted> PATH=/usr/bin db_password=<redacted> MY_API_KEY=<redacted>, steps=20"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestRedactWriter(t *testing.T) {
	var b strings.Builder
	w := NewRedactWriter(&b, []string{"s3cret"})
	n, err := fmt.Fprintf(w, "open http://admin:s3cret@host failed\n")
	if err != nil || n != len("open http://admin:s3cret@host failed\n") {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if got := b.String(); got != "open http://admin:<redacted>@host failed\n" {
		t.Errorf("got %q", got)
	}
}
