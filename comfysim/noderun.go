package comfysim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func (in inputs) int(name string) int64 {
	switch v := in[name].(type) {
	case *big.Int:
		if v.IsInt64() {
			return v.Int64()
		}
		if v.Sign() < 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	case json.Number:
		i, _ := numberInt(v)
		return i
	}
	return 0
}

func (in inputs) u64(name string) uint64 {
	if v, ok := in[name].(*big.Int); ok {
		if v.Sign() < 0 {
			return 0
		}
		return new(big.Int).And(v, new(big.Int).SetUint64(^uint64(0))).Uint64()
	}
	return uint64(in.int(name))
}

func (in inputs) float(name string) float64 {
	f, _ := toFloat(in[name])
	if n, ok := in[name].(json.Number); ok {
		f, _ = strconv.ParseFloat(string(n), 64)
	}
	return f
}

func (in inputs) str(name string) string {
	if s, ok := in[name].(string); ok {
		return s
	}
	return pyStrValue(in[name])
}

func attrError(v any, attr string) *pyExc {
	return &pyExc{"AttributeError", fmt.Sprintf("'%s' object has no attribute '%s'", pyTypeName(v), attr)}
}

func (in inputs) image(name string) (*imageT, error) {
	if im, ok := in[name].(*imageT); ok {
		return im, nil
	}
	return nil, attrError(in[name], "shape")
}

// small positive dimension helper: ints from validated inputs, at least 1.
func dim(v int64) int {
	if v < 1 {
		return 1
	}
	if v > maxResolution*4096 {
		return maxResolution * 4096
	}
	return int(v)
}

// pixelWork is the simulated cost of an image operation: PixelTime per megapixel.
func (rc *runCtx) pixelWork(pixels int) error {
	return rc.work(time.Duration(float64(rc.s.cfg.PixelTime) * float64(pixels) / 1e6))
}

func runEmptyImage(rc *runCtx, in inputs) ([]any, obj, error) {
	w, h, b := dim(in.int("width")), dim(in.int("height")), dim(in.int("batch_size"))
	if !tensorFits(w, h, b, 3) {
		return nil, nil, oomError()
	}
	return []any{emptyImage(w, h, b, in.int("color"))}, nil, rc.pixelWork(0)
}

func runImageBlur(rc *runCtx, in inputs) ([]any, obj, error) {
	im, err := in.image("image")
	if err != nil {
		return nil, nil, err
	}
	out := blurImage(im, int(min(max(in.int("blur_radius"), 0), 31)), max(in.float("sigma"), 1e-3))
	return []any{out}, nil, rc.pixelWork(im.B * im.W * im.H)
}

func runImageScale(rc *runCtx, in inputs) ([]any, obj, error) {
	im, err := in.image("image")
	if err != nil {
		return nil, nil, err
	}
	w, h := int(max(in.int("width"), 0)), int(max(in.int("height"), 0))
	if !tensorFits(max(w, 1), max(h, 1), im.B, im.C) {
		return nil, nil, oomError()
	}
	out := scaleImage(im, in.str("upscale_method"), w, h, in.str("crop"))
	return []any{out}, nil, rc.pixelWork(out.B * out.W * out.H)
}

func runImageCrop(rc *runCtx, in inputs) ([]any, obj, error) {
	im, err := in.image("image")
	if err != nil {
		return nil, nil, err
	}
	out := cropImage(im, dim(in.int("width")), dim(in.int("height")), int(max(in.int("x"), 0)), int(max(in.int("y"), 0)))
	return []any{out}, nil, rc.pixelWork(0)
}

func runImageFromBatch(rc *runCtx, in inputs) ([]any, obj, error) {
	im, err := in.image("image")
	if err != nil {
		return nil, nil, err
	}
	return []any{imageFromBatch(im, int(max(in.int("batch_index"), 0)), dim(in.int("length")))}, nil, rc.pixelWork(0)
}

func runImageToMask(rc *runCtx, in inputs) ([]any, obj, error) {
	im, err := in.image("image")
	if err != nil {
		return nil, nil, err
	}
	m, err := imageToMask(im, in.str("channel"))
	if err != nil {
		return nil, nil, err
	}
	return []any{m}, nil, rc.pixelWork(0)
}

func runMaskToImage(rc *runCtx, in inputs) ([]any, obj, error) {
	m, ok := in["mask"].(*maskT)
	if !ok {
		return nil, nil, attrError(in["mask"], "reshape")
	}
	return []any{maskToImage(m)}, nil, rc.pixelWork(0)
}

// Model sizes in MB for the load-stat lines, and the share of --load-time each load takes.
const (
	mbQwenImage = 19520.119140625
	mbQwenTE    = 8950.03271484375
	mbWanVAE    = 242.02829360961914
)

func modelClassFor(name string) (string, float64) {
	if strings.Contains(strings.ToLower(name), "qwen") {
		return "QwenImage", mbQwenImage
	}
	return "Flux", 11350.0673828125
}

func runUNETLoader(rc *runCtx, in inputs) ([]any, obj, error) {
	name := in.str("unet_name")
	class, _ := modelClassFor(name)
	dtype := "torch.bfloat16"
	if strings.Contains(name, "fp8") || strings.HasPrefix(in.str("weight_dtype"), "fp8") {
		dtype = "torch.float8_e4m3fn"
	}
	if err := rc.work(rc.s.cfg.LoadTime / 10); err != nil {
		return nil, nil, err
	}
	rc.s.logf("model weight dtype %s, manual cast: torch.bfloat16", dtype)
	rc.s.logf("model_type FLUX")
	return []any{&modelT{Class: class, Name: name, Hash: hashString("unet|" + name + "|" + in.str("weight_dtype"))}}, nil, nil
}

func runCheckpointLoader(rc *runCtx, in inputs) ([]any, obj, error) {
	name := in.str("ckpt_name")
	class, _ := modelClassFor(name)
	if err := rc.work(rc.s.cfg.LoadTime / 5); err != nil {
		return nil, nil, err
	}
	rc.s.logf("model weight dtype torch.bfloat16, manual cast: None")
	rc.s.logf("model_type FLUX")
	return []any{&modelT{Class: class, Name: name, Hash: hashString("ckpt|" + name)}, &clipT{Name: name, Type: "qwen_image"}, &vaeT{Name: name}}, nil, nil
}

func runCLIPLoader(rc *runCtx, in inputs) ([]any, obj, error) {
	if err := rc.work(rc.s.cfg.LoadTime / 20); err != nil {
		return nil, nil, err
	}
	rc.s.logf("CLIP/text encoder model load device: cuda:0, offload device: cpu, current: cpu, dtype: torch.float16")
	return []any{&clipT{Name: in.str("clip_name"), Type: in.str("type")}}, nil, nil
}

func runVAELoader(rc *runCtx, in inputs) ([]any, obj, error) {
	if err := rc.work(rc.s.cfg.LoadTime / 50); err != nil {
		return nil, nil, err
	}
	rc.s.logf("VAE load device: cuda:0, offload device: cpu, dtype: torch.bfloat16")
	return []any{&vaeT{Name: in.str("vae_name")}}, nil, nil
}

func runModelSamplingAuraFlow(rc *runCtx, in inputs) ([]any, obj, error) {
	m, ok := in["model"].(*modelT)
	if !ok {
		return nil, nil, attrError(in["model"], "clone")
	}
	c := *m
	c.Hash = splitmix64(m.Hash ^ hashString("shift|"+strconv.FormatFloat(in.float("shift"), 'g', -1, 64)))
	return []any{&c}, nil, nil
}

func teClass(c *clipT) string {
	if c.Type == "qwen_image" || strings.Contains(strings.ToLower(c.Name), "qwen") {
		return "QwenImageTEModel_"
	}
	return "SD1ClipModel"
}

func runCLIPTextEncode(rc *runCtx, in inputs) ([]any, obj, error) {
	c, ok := in["clip"].(*clipT)
	if !ok {
		return nil, nil, &pyExc{"RuntimeError", "ERROR: clip input is invalid: None\n\nIf the clip is from a checkpoint loader node your checkpoint does not contain a valid clip or text encoder model."}
	}
	if err := rc.load(teClass(c), mbQwenTE, 0.5); err != nil {
		return nil, nil, err
	}
	if err := rc.work(rc.s.cfg.StepTime / 2); err != nil {
		return nil, nil, err
	}
	return []any{&condT{Hash: hashString(c.Name + "|" + in.str("text"))}}, nil, nil
}

func runEmptySD3Latent(rc *runCtx, in inputs) ([]any, obj, error) {
	w, h, b := dim(in.int("width")), dim(in.int("height")), dim(in.int("batch_size"))
	return []any{&latentT{B: b, W: w / 8 * 8, H: h / 8 * 8}}, nil, nil
}

func runKSampler(rc *runCtx, in inputs) ([]any, obj, error) {
	m, ok := in["model"].(*modelT)
	if !ok {
		return nil, nil, attrError(in["model"], "model")
	}
	lat, ok := in["latent_image"].(*latentT)
	if !ok {
		return nil, nil, &pyExc{"TypeError", fmt.Sprintf("'%s' object is not subscriptable", pyTypeName(in["latent_image"]))}
	}
	pos, ok1 := in["positive"].(*condT)
	neg, ok2 := in["negative"].(*condT)
	if !ok1 || !ok2 {
		return nil, nil, &pyExc{"TypeError", "'NoneType' object is not iterable"}
	}
	if !tensorFits(lat.B, lat.W, lat.H, 3) {
		return nil, nil, oomError()
	}
	_, mb := modelClassFor(m.Name)
	if err := rc.load(m.Class, mb, 1); err != nil {
		return nil, nil, err
	}
	steps := int(max(in.int("steps"), 1))
	bar := newTqdm(rc.s, steps)
	for i := 1; i <= steps; i++ {
		if rc.s.interrupt.Load() {
			bar.stop()
			return nil, nil, errInterrupted
		}
		if err := rc.work(rc.s.cfg.StepTime); err != nil {
			return nil, nil, err
		}
		if err := rc.step(i, steps); err != nil {
			return nil, nil, err
		}
		bar.update(i)
	}
	bar.stop()
	mix := splitmix64(m.Hash ^ pos.Hash*3 ^ neg.Hash*5 ^ hashString(fmt.Sprintf("%v|%v|%v|%v|%v", in.float("cfg"),
		in.str("sampler_name"), in.str("scheduler"), steps, in.float("denoise"))))
	if mix == 0 {
		mix = 1
	}
	out := *lat
	out.Seed, out.Mix = in.u64("seed"), mix
	return []any{&out}, nil, nil
}

func runVAEDecode(rc *runCtx, in inputs) ([]any, obj, error) {
	lat, ok := in["samples"].(*latentT)
	if !ok {
		return nil, nil, &pyExc{"TypeError", fmt.Sprintf("'%s' object is not subscriptable", pyTypeName(in["samples"]))}
	}
	if _, ok := in["vae"].(*vaeT); !ok {
		return nil, nil, attrError(in["vae"], "decode")
	}
	if !tensorFits(lat.B, lat.W, lat.H, 3) {
		return nil, nil, oomError()
	}
	if err := rc.load("WanVAE", mbWanVAE, 0.05); err != nil {
		return nil, nil, err
	}
	if err := rc.work(rc.s.cfg.DecodeTime); err != nil {
		return nil, nil, err
	}
	return []any{decodeLatent(lat)}, nil, nil
}

// runSaveImage writes one PNG per batch item as <prefix>_<counter:05>_.png, continuing the
// highest counter already in the folder, like folder_paths.get_save_image_path.
func runSaveImage(rc *runCtx, in inputs) ([]any, obj, error) {
	im, err := in.image("images")
	if err != nil {
		return nil, nil, err
	}
	outDir := rc.s.outDir
	prefix := in.str("filename_prefix")
	subfolder, filename := filepath.Split(filepath.FromSlash(prefix))
	subfolder = strings.TrimSuffix(subfolder, string(filepath.Separator))
	full := filepath.Join(outDir, subfolder)
	absFull, _ := filepath.Abs(full)
	if common := commonPath(outDir, absFull); common != outDir {
		msg := "**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: " + absFull +
			"\n         output_dir: " + outDir + "\n         commonpath: " + common
		rc.s.logf("%s", msg)
		return nil, nil, &pyExc{"Exception", msg}
	}
	if err := os.MkdirAll(full, 0o755); err != nil {
		return nil, nil, &pyExc{"OSError", err.Error()}
	}
	counter := nextCounter(full, filename)
	var text []kv
	if p, ok := in["prompt"].(obj); ok {
		j, _ := json.Marshal(p)
		text = append(text, kv{"prompt", string(j)})
	}
	if x, ok := in["extra_pnginfo"].(obj); ok {
		for _, m := range x {
			j, _ := json.Marshal(m.V)
			text = append(text, kv{m.K, string(j)})
		}
	}
	var images []any
	for b := 0; b < im.B; b++ {
		name := strings.ReplaceAll(filename, "%batch_num%", strconv.Itoa(b))
		file := fmt.Sprintf("%s_%05d_.png", name, counter)
		data, err := encodePNG(im, b, text)
		if err != nil {
			return nil, nil, &pyExc{"OSError", err.Error()}
		}
		if err := os.WriteFile(filepath.Join(full, file), data, 0o644); err != nil {
			return nil, nil, &pyExc{"OSError", err.Error()}
		}
		images = append(images, obj{{"filename", file}, {"subfolder", filepath.ToSlash(subfolder)}, {"type", "output"}})
		counter++
	}
	if err := rc.work(rc.s.cfg.SaveTime); err != nil {
		return nil, nil, err
	}
	return []any{}, obj{{"images", images}}, nil
}

func commonPath(a, b string) string {
	as := strings.Split(filepath.Clean(a), string(filepath.Separator))
	bs := strings.Split(filepath.Clean(b), string(filepath.Separator))
	n := 0
	for n < len(as) && n < len(bs) && as[n] == bs[n] {
		n++
	}
	p := strings.Join(as[:n], string(filepath.Separator))
	if p == "" {
		return string(filepath.Separator)
	}
	return p
}

func nextCounter(dir, filename string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 1
	}
	best := 0
	for _, e := range entries {
		n := e.Name()
		if len(n) <= len(filename)+1 || n[:len(filename)] != filename || n[len(filename)] != '_' {
			continue
		}
		digits, _, _ := strings.Cut(n[len(filename)+1:], "_")
		if c, err := strconv.Atoi(digits); err == nil && c > best {
			best = c
		}
	}
	return best + 1
}
