package comfysim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzDecodeOrdered: the ordered decoder accepts exactly what encoding/json accepts and
// re-encodes to an equivalent value.
func FuzzDecodeOrdered(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":[1,2.5,"x"],"a":2}`, `[{"x":null}]`, `"s"`, `{"prompt":{"1":{"class_type":"EmptyImage"}}}`, `{`, `1e400`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeOrdered(data)
		if (err == nil) != json.Valid(data) {
			t.Fatalf("decodeOrdered err=%v but json.Valid=%v for %q", err, json.Valid(data), data)
		}
		if err != nil {
			return
		}
		out, err := marshalPy(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var a, b any
		if json.Unmarshal(data, &a) != nil {
			return // valid JSON whose numbers overflow float64 (Python reads them as inf)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("re-encoded JSON invalid: %s", out)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("round trip changed the value: %s -> %s", ja, jb)
		}
	})
}

// FuzzPostPrompt: any body gets one of ComfyUI's answers (200, 400 JSON, 500 text), never
// a panic or another status.
func FuzzPostPrompt(f *testing.F) {
	for _, s := range []string{
		`{"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}, "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "f"}}}}`,
		`{"prompt": {"1": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "f"}}}}`,
		`{"prompt": {"2": {"class_type": "SaveImage", "inputs": {"images": ["1", -1.5], "filename_prefix": 3}}, "1": {"class_type": "ImageScale", "inputs": {"image": [], "upscale_method": 1, "width": "9e9", "height": null, "crop": "center"}}}, "number": "x"}`,
		`{"prompt": []}`, `[]`, `{"prompt": {"1": 5}}`, `{"prompt": {}, "extra_data": 1, "client_id": "c"}`, `nope`,
	} {
		f.Add([]byte(s))
	}
	s, err := New(Config{OutputDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/prompt", bytes.NewReader(body)))
		switch rec.Code {
		case 200, 400:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%d with invalid JSON %q", rec.Code, rec.Body.Bytes())
			}
		case 500:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}
