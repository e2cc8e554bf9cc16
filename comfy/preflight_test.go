package comfy

import (
	"errors"
	"strings"
	"testing"
)

func TestStaticCheck(t *testing.T) {
	w, err := ParseWorkflow([]byte(`{"3": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x.safetensors"}}, "6": {"class_type": "QwenT2IWrapper", "inputs": {"model": ["3", 0]}}, "9": {"class_type": "SaveImage", "inputs": {"images": ["6", 0]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	err = StaticCheck(w)
	var pe *PreflightError
	if !errors.As(err, &pe) || len(pe.Problems) != 1 || pe.Problems[0].NodeID != "6" || !strings.Contains(err.Error(), "qwen-image-t2i") {
		t.Fatalf("StaticCheck = %v", err)
	}
	w["6"] = Node{ClassType: "KSampler", Inputs: map[string]any{}}
	if err := StaticCheck(w); err != nil {
		t.Fatalf("a real node refused: %v", err)
	}
}
