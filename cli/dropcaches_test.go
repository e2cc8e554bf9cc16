package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/qwenlab/qwenlab/lab"
)

func TestDropCachesValidation(t *testing.T) {
	test := func(name string, c lab.Config, euid int, want string) {
		t.Helper()
		err := checkDropCaches(&c, euid)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v, want no error", name, err)
			}
			return
		}
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a usage error (exit 2) containing %q", name, err, want)
		}
	}
	test("off", lab.Config{}, 1000, "")
	test("root with models", lab.Config{DropCaches: true, ModelsDir: "/m"}, 0, "")
	test("not root", lab.Config{DropCaches: true, ModelsDir: "/m"}, 1000, "only root")
	test("no models", lab.Config{DropCaches: true}, 0, "needs --models")
}
