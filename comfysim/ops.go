package comfysim

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
)

// imageT is a ComfyUI IMAGE tensor: batch × height × width × channels, values in [0,1].
type imageT struct {
	B, H, W, C int
	Pix        []float32
}

// maskT is a ComfyUI MASK tensor: batch × height × width.
type maskT struct {
	B, H, W int
	Pix     []float32
}

// latentT stands in for a LATENT tensor. Its pixels are produced on decode from the seed
// and the conditioning, so a T2I result depends on both.
type latentT struct {
	B, W, H int // in pixels (the latent is W/8 × H/8 × 16 channels)
	Seed    uint64
	Mix     uint64 // hash of model, conditioning and sampler settings; 0 = empty latent
}

type modelT struct {
	Class string // the class named in "Requested to load <Class>"
	Name  string
	Hash  uint64
}

type clipT struct{ Name, Type string }

type vaeT struct{ Name string }

type condT struct{ Hash uint64 }

// maxTensorBytes bounds what one node may allocate; beyond it the node raises an OOM, as a
// GPU would, instead of exhausting the simulator's memory.
const maxTensorBytes = 1 << 30

func tensorFits(n ...int) bool {
	total := 4.0
	for _, x := range n {
		total *= float64(x)
	}
	return total <= maxTensorBytes
}

func newImage(b, h, w, c int) *imageT {
	return &imageT{B: b, H: h, W: w, C: c, Pix: make([]float32, b*h*w*c)}
}

func (im *imageT) at(b, y, x, c int) float32 { return im.Pix[((b*im.H+y)*im.W+x)*im.C+c] }

func (im *imageT) idx(b, y, x, c int) int { return ((b*im.H+y)*im.W+x)*im.C + c }

// emptyImage is EmptyImage: a solid colour (0xRRGGBB).
func emptyImage(w, h, batch int, col int64) *imageT {
	im := newImage(batch, h, w, 3)
	r := float32((col>>16)&0xff) / 255
	g := float32((col>>8)&0xff) / 255
	bl := float32(col&0xff) / 255
	for i := 0; i < len(im.Pix); i += 3 {
		im.Pix[i], im.Pix[i+1], im.Pix[i+2] = r, g, bl
	}
	return im
}

// gaussKernel mirrors ComfyUI's Blur.gaussian_kernel: size 2r+1, normalised.
func gaussKernel(radius int, sigma float64) []float32 {
	k := make([]float32, 2*radius+1)
	var sum float64
	vals := make([]float64, len(k))
	for i := range k {
		d := float64(i - radius)
		vals[i] = math.Exp(-(d * d) / (2 * sigma * sigma))
		sum += vals[i]
	}
	for i := range k {
		k[i] = float32(vals[i] / sum)
	}
	return k
}

// reflectIdx maps an index into [0,n) the way torch's reflect padding does.
func reflectIdx(i, n int) int {
	if n == 1 {
		return 0
	}
	for i < 0 || i >= n {
		if i < 0 {
			i = -i
		}
		if i >= n {
			i = 2*(n-1) - i
		}
	}
	return i
}

// blurImage is ImageBlur: a separable Gaussian with reflect padding.
func blurImage(src *imageT, radius int, sigma float64) *imageT {
	if radius <= 0 {
		return src
	}
	k := gaussKernel(radius, sigma)
	tmp := newImage(src.B, src.H, src.W, src.C)
	dst := newImage(src.B, src.H, src.W, src.C)
	for b := 0; b < src.B; b++ {
		for y := 0; y < src.H; y++ {
			for x := 0; x < src.W; x++ {
				for c := 0; c < src.C; c++ {
					var s float32
					for j, kv := range k {
						s += kv * src.at(b, y, reflectIdx(x+j-radius, src.W), c)
					}
					tmp.Pix[tmp.idx(b, y, x, c)] = s
				}
			}
		}
		for y := 0; y < src.H; y++ {
			for x := 0; x < src.W; x++ {
				for c := 0; c < src.C; c++ {
					var s float32
					for j, kv := range k {
						s += kv * tmp.at(b, reflectIdx(y+j-radius, src.H), x, c)
					}
					dst.Pix[dst.idx(b, y, x, c)] = s
				}
			}
		}
	}
	return dst
}

// scaleImage is ImageScale (nearest-exact or bilinear sampling for every method; the
// "center" crop keeps the aspect ratio like comfy.utils.common_upscale).
func scaleImage(src *imageT, method string, w, h int, crop string) *imageT {
	if w == 0 && h == 0 {
		return src
	}
	if w == 0 {
		w = max(1, int(math.Round(float64(src.W)*float64(h)/float64(src.H))))
	}
	if h == 0 {
		h = max(1, int(math.Round(float64(src.H)*float64(w)/float64(src.W))))
	}
	x0, y0, sw, sh := 0.0, 0.0, float64(src.W), float64(src.H)
	if crop == "center" {
		oldAspect := sw / sh
		newAspect := float64(w) / float64(h)
		if oldAspect > newAspect {
			x0 = math.Round((sw - sw*(newAspect/oldAspect)) / 2)
			sw -= 2 * x0
		} else if oldAspect < newAspect {
			y0 = math.Round((sh - sh*(oldAspect/newAspect)) / 2)
			sh -= 2 * y0
		}
	}
	dst := newImage(src.B, h, w, src.C)
	for b := 0; b < src.B; b++ {
		for y := 0; y < h; y++ {
			fy := y0 + (float64(y)+0.5)*sh/float64(h) - 0.5
			for x := 0; x < w; x++ {
				fx := x0 + (float64(x)+0.5)*sw/float64(w) - 0.5
				for c := 0; c < src.C; c++ {
					var v float32
					if method == "nearest-exact" {
						sx := min(max(int(math.Floor(fx+0.5)), 0), src.W-1)
						sy := min(max(int(math.Floor(fy+0.5)), 0), src.H-1)
						v = src.at(b, sy, sx, c)
					} else {
						v = bilinear(src, b, fx, fy, c)
					}
					dst.Pix[dst.idx(b, y, x, c)] = v
				}
			}
		}
	}
	return dst
}

func bilinear(src *imageT, b int, fx, fy float64, c int) float32 {
	fx = min(max(fx, 0), float64(src.W-1))
	fy = min(max(fy, 0), float64(src.H-1))
	x0, y0 := int(fx), int(fy)
	x1, y1 := min(x0+1, src.W-1), min(y0+1, src.H-1)
	ax, ay := float32(fx-float64(x0)), float32(fy-float64(y0))
	top := src.at(b, y0, x0, c)*(1-ax) + src.at(b, y0, x1, c)*ax
	bot := src.at(b, y1, x0, c)*(1-ax) + src.at(b, y1, x1, c)*ax
	return top*(1-ay) + bot*ay
}

// cropImage is ImageCrop, clamping x and y to the last column/row as ComfyUI does.
func cropImage(src *imageT, w, h, x, y int) *imageT {
	x = min(x, src.W-1)
	y = min(y, src.H-1)
	toX := min(w+x, src.W)
	toY := min(h+y, src.H)
	dst := newImage(src.B, toY-y, toX-x, src.C)
	for b := 0; b < src.B; b++ {
		for yy := y; yy < toY; yy++ {
			for xx := x; xx < toX; xx++ {
				for c := 0; c < src.C; c++ {
					dst.Pix[dst.idx(b, yy-y, xx-x, c)] = src.at(b, yy, xx, c)
				}
			}
		}
	}
	return dst
}

// imageFromBatch is ImageFromBatch, clamping index and length to the batch.
func imageFromBatch(src *imageT, index, length int) *imageT {
	index = min(src.B-1, index)
	length = min(src.B-index, length)
	per := src.H * src.W * src.C
	dst := &imageT{B: length, H: src.H, W: src.W, C: src.C}
	dst.Pix = append([]float32(nil), src.Pix[index*per:(index+length)*per]...)
	return dst
}

var channelIndex = map[string]int{"red": 0, "green": 1, "blue": 2, "alpha": 3}

// imageToMask is ImageToMask; a channel the image lacks raises the IndexError torch raises.
func imageToMask(src *imageT, channel string) (*maskT, error) {
	ci := channelIndex[channel]
	if ci >= src.C {
		return nil, &nodeError{Type: "IndexError",
			Msg: "index " + itoa(ci) + " is out of bounds for dimension 3 with size " + itoa(src.C)}
	}
	m := &maskT{B: src.B, H: src.H, W: src.W, Pix: make([]float32, src.B*src.H*src.W)}
	for i := range m.Pix {
		m.Pix[i] = src.Pix[i*src.C+ci]
	}
	return m, nil
}

// maskToImage is MaskToImage: the mask repeated into three channels.
func maskToImage(m *maskT) *imageT {
	im := newImage(m.B, m.H, m.W, 3)
	for i, v := range m.Pix {
		im.Pix[3*i], im.Pix[3*i+1], im.Pix[3*i+2] = v, v, v
	}
	return im
}

// splitmix64 is the deterministic mixer behind every simulated "model output".
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hashString(s string) uint64 {
	h := uint64(1469598103934665603)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return splitmix64(h)
}

// decodeLatent is VAEDecode: a seeded, smooth pattern of W×H pixels per batch item. An
// empty (never sampled) latent decodes to mid grey, as zeros do through a real VAE.
func decodeLatent(l *latentT) *imageT {
	im := newImage(l.B, l.H, l.W, 3)
	for b := 0; b < l.B; b++ {
		if l.Mix == 0 {
			for i := b * l.H * l.W * 3; i < (b+1)*l.H*l.W*3; i++ {
				im.Pix[i] = 0.5
			}
			continue
		}
		s := splitmix64(l.Seed ^ l.Mix ^ uint64(b)*0x9e3779b97f4a7c15)
		var fr [3][4]float64
		for c := 0; c < 3; c++ {
			for j := 0; j < 4; j++ {
				s = splitmix64(s)
				fr[c][j] = float64(s>>11) / (1 << 53)
			}
		}
		for y := 0; y < l.H; y++ {
			v := float64(y) / float64(max(l.H, 1))
			for x := 0; x < l.W; x++ {
				u := float64(x) / float64(max(l.W, 1))
				for c := 0; c < 3; c++ {
					f := fr[c]
					val := 0.5 + 0.25*math.Sin(2*math.Pi*(u*(1+5*f[0])+f[2])) +
						0.25*math.Cos(2*math.Pi*(v*(1+5*f[1])+f[3]+u*f[0]))
					im.Pix[im.idx(b, y, x, c)] = float32(val)
				}
			}
		}
	}
	return im
}

// encodePNG writes one batch item as an 8-bit RGB(A) PNG with tEXt chunks (key, value pairs),
// as SaveImage does with the prompt metadata.
func encodePNG(im *imageT, b int, text []kv) ([]byte, error) {
	var img image.Image
	if im.C == 4 {
		rgba := image.NewNRGBA(image.Rect(0, 0, im.W, im.H))
		for y := 0; y < im.H; y++ {
			for x := 0; x < im.W; x++ {
				rgba.SetNRGBA(x, y, color.NRGBA{to8(im.at(b, y, x, 0)), to8(im.at(b, y, x, 1)), to8(im.at(b, y, x, 2)), to8(im.at(b, y, x, 3))})
			}
		}
		img = rgba
	} else {
		rgb := image.NewRGBA(image.Rect(0, 0, im.W, im.H))
		for y := 0; y < im.H; y++ {
			for x := 0; x < im.W; x++ {
				var r, g, bl uint8
				r = to8(im.at(b, y, x, 0))
				if im.C >= 3 {
					g, bl = to8(im.at(b, y, x, 1)), to8(im.at(b, y, x, 2))
				} else {
					g, bl = r, r
				}
				rgb.SetRGBA(x, y, color.RGBA{r, g, bl, 255})
			}
		}
		img = rgb
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return insertText(buf.Bytes(), text), nil
}

func to8(v float32) uint8 {
	return uint8(min(max(float64(v)*255, 0), 255) + 0.5)
}

// insertText adds tEXt chunks right after IHDR (8-byte signature + 25-byte IHDR chunk).
func insertText(p []byte, text []kv) []byte {
	if len(text) == 0 || len(p) < 33 {
		return p
	}
	var chunks bytes.Buffer
	for _, t := range text {
		data := append([]byte(t.K+"\x00"), []byte(t.V.(string))...)
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[:4], uint32(len(data)))
		copy(hdr[4:], "tEXt")
		chunks.Write(hdr[:])
		chunks.Write(data)
		crc := crc32.NewIEEE()
		crc.Write(hdr[4:])
		crc.Write(data)
		var c [4]byte
		binary.BigEndian.PutUint32(c[:], crc.Sum32())
		chunks.Write(c[:])
	}
	out := make([]byte, 0, len(p)+chunks.Len())
	out = append(out, p[:33]...)
	out = append(out, chunks.Bytes()...)
	return append(out, p[33:]...)
}
