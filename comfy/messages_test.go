package comfy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Frames as ComfyUI sends them (key order from the 0.21.0 conformance transcript).
var sampleFrames = map[string]string{
	MsgStatus:               `{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "abc"}}`,
	MsgExecutionStart:       `{"type": "execution_start", "data": {"prompt_id": "p1", "timestamp": 1700000000123}}`,
	MsgExecutionCached:      `{"type": "execution_cached", "data": {"nodes": ["37", "38"], "prompt_id": "p1", "timestamp": 1700000000124}}`,
	MsgExecuting:            `{"type": "executing", "data": {"node": "3", "display_node": "3", "prompt_id": "p1"}}`,
	MsgProgress:             `{"type": "progress", "data": {"value": 1, "max": 25, "prompt_id": "p1", "node": "3"}}`,
	MsgProgressState:        `{"type": "progress_state", "data": {"prompt_id": "p1", "nodes": {"3": {"value": 1.0, "max": 25.0, "state": "running", "node_id": "3", "prompt_id": "p1", "display_node_id": "3", "parent_node_id": null, "real_node_id": "3"}}}}`,
	MsgExecuted:             `{"type": "executed", "data": {"node": "60", "display_node": "60", "output": {"images": [{"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}]}, "prompt_id": "p1"}}`,
	MsgExecutionSuccess:     `{"type": "execution_success", "data": {"prompt_id": "p1", "timestamp": 1700000009999}}`,
	MsgExecutionError:       `{"type": "execution_error", "data": {"prompt_id": "p1", "node_id": "2", "node_type": "ImageToMask", "executed": [], "exception_message": "index 3 is out of bounds\n", "exception_type": "IndexError", "traceback": ["a", "b"], "current_inputs": {"image": ["tensor"], "channel": ["alpha"]}, "current_outputs": ["1", "2"], "timestamp": 1700000000500}}`,
	MsgExecutionInterrupted: `{"type": "execution_interrupted", "data": {"prompt_id": "p1", "node_id": "3", "node_type": "ImageBlur", "executed": ["1", "2"], "timestamp": 1700000000600}}`,
	MsgFeatureFlags:         `{"type": "feature_flags", "data": {"supports_preview_metadata": true, "max_upload_size": 104857600, "extension": {"manager": {"supports_v4": true}}, "node_replacements": true, "assets": false}}`,
}

// TestMessagesRoundTrip decodes each sample into its struct and re-encodes it: the JSON must
// come out with the same keys in the same order (the simulator relies on this).
func TestMessagesRoundTrip(t *testing.T) {
	targets := map[string]func() any{
		MsgStatus:               func() any { return new(StatusMsg) },
		MsgExecutionStart:       func() any { return new(ExecutionStartMsg) },
		MsgExecutionCached:      func() any { return new(ExecutionCachedMsg) },
		MsgExecuting:            func() any { return new(ExecutingMsg) },
		MsgProgress:             func() any { return new(ProgressMsg) },
		MsgProgressState:        func() any { return new(ProgressStateMsg) },
		MsgExecuted:             func() any { return new(ExecutedMsg) },
		MsgExecutionSuccess:     func() any { return new(ExecutionSuccessMsg) },
		MsgExecutionError:       func() any { return new(ExecutionErrorMsg) },
		MsgExecutionInterrupted: func() any { return new(ExecutionInterruptedMsg) },
		MsgFeatureFlags:         func() any { return new(FeatureFlagsMsg) },
	}
	for typ, frame := range sampleFrames {
		m, err := DecodeMessage([]byte(frame))
		if err != nil || m.Type != typ {
			t.Fatalf("%s: %v (type %q)", typ, err, m.Type)
		}
		v := targets[typ]()
		if err := m.Decode(v); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(Message{Type: typ, Data: raw})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := compact(t, out), compact(t, []byte(frame)); got != want {
			t.Errorf("%s re-encoded as\n%s\nwant\n%s", typ, got, want)
		}
	}
}

// compact normalises white space and float spelling (1.0 → 1) but keeps key order.
func compact(t *testing.T, data []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(".0,", ",", ".0}", "}").Replace(b.String())
}

func TestExecutingFinal(t *testing.T) {
	m, err := DecodeMessage([]byte(`{"type": "executing", "data": {"node": null, "prompt_id": "p1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var e ExecutingMsg
	if err := m.Decode(&e); err != nil || e.Node != nil || e.PromptID != "p1" {
		t.Fatalf("%+v %v", e, err)
	}
	out, _ := json.Marshal(e)
	if string(out) != `{"node":null,"prompt_id":"p1"}` {
		t.Errorf("final executing encodes as %s", out)
	}
	var ex ExecutedMsg
	m, _ = DecodeMessage([]byte(sampleFrames[MsgExecuted]))
	if err := m.Decode(&ex); err != nil || len(ex.Images()) != 1 || ex.Images()[0].Filename != "ComfyUI_00001_.png" {
		t.Errorf("images = %+v, %v", ex.Images(), err)
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"data": {}}`, `{"type": 5}`, `{"type": "x"`, `null`} {
		if _, err := DecodeMessage([]byte(in)); err == nil {
			t.Errorf("DecodeMessage(%q) succeeded", in)
		}
	}
	m, err := DecodeMessage([]byte(`{"type": "logs"}`))
	if err != nil || m.Type != "logs" {
		t.Fatalf("unknown type without data: %+v %v", m, err)
	}
	if err := m.Decode(&StatusMsg{}); err == nil {
		t.Error("decoding absent data succeeded")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range sampleFrames {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"type": "executing", "data": {"node": null, "prompt_id": "p1"}}`))
	f.Add([]byte(`{"type": "x", "data": null}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			return
		}
		if m.Type == "" {
			t.Fatal("decoded a message without a type")
		}
		// Every typed decode must fail cleanly or succeed; none may panic.
		for _, v := range []any{&StatusMsg{}, &ExecutingMsg{}, &ProgressMsg{}, &ProgressStateMsg{}, &ExecutedMsg{}, &ExecutionErrorMsg{}, &FeatureFlagsMsg{}} {
			_ = m.Decode(v)
		}
		var ex ExecutedMsg
		if m.Decode(&ex) == nil {
			_ = ex.Images()
		}
		// A tracker fed the frame must not panic either.
		tr := &tracker{res: &Result{PromptID: "p1", Outputs: map[string][]ImageRef{}}, open: -1}
		tr.handle(frame{data: data})
	})
}
