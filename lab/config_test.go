package lab

import (
	"errors"
	"strings"
	"testing"
)

// TestValidateImage: an image the engine would refuse (from --image or a compose file) is a
// usage error naming --image, before Docker is touched.
func TestValidateImage(t *testing.T) {
	c := Defaults()
	c.Image = "ghcr.io/org/comfyui:0.3.64"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate(%q) = %v", c.Image, err)
	}
	c.Image = "ghcr.io/Org/comfyui:0.3.64"
	err := c.Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Flag != "image" || !strings.Contains(err.Error(), "must be lowercase") {
		t.Errorf("Validate(%q) = %v, want a --image error saying the name must be lower case", c.Image, err)
	}
}
