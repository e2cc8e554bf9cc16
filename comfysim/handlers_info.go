package comfysim

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Handlers that describe the server: the index page, /features, /embeddings, /models,
// /object_info, /system_stats and /view.

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>ComfyUI</title></head><body>ComfyUI simulator (qwenlab comfysim)</body></html>\n")
}

func (s *Server) features() obj {
	f := obj{{"supports_preview_metadata", true}, {"max_upload_size", maxUploadSize}}
	if s.cfg.ComfyVersion != v0364 {
		f = append(f, kv{"extension", obj{{"manager", obj{{"supports_v4", true}}}}},
			kv{"node_replacements", true}, kv{"assets", false})
	}
	return f
}

func (s *Server) handleFeatures(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.features())
}

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, []string{})
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, modelFolders(s.cfg.ComfyVersion))
}

func (s *Server) handleModelFolder(w http.ResponseWriter, r *http.Request) {
	folder := r.PathValue("folder")
	if !contains(modelFolders(s.cfg.ComfyVersion), folder) {
		w.WriteHeader(404)
		return
	}
	writeJSON(w, 200, s.modelFiles(folder))
}

// folderDirs maps a model folder to the directories under --models it reads, as
// folder_paths does (legacy names included).
func folderDirs(folder string) []string {
	switch folder {
	case "diffusion_models":
		return []string{"diffusion_models", "unet"}
	case "text_encoders":
		return []string{"text_encoders", "clip"}
	case "checkpoints", "vae":
		return []string{folder}
	}
	return []string{folder}
}

var modelExtensions = []string{".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft", ".gguf"}

// modelFiles lists the model files of a folder (relative paths with /, sorted), reading
// --models each time; a missing directory gives an empty list.
func (s *Server) modelFiles(folder string) []string {
	files := []string{}
	seen := map[string]bool{}
	for _, m := range s.cfg.DemoModels {
		dir, rel, ok := strings.Cut(m, "/")
		if ok && contains(folderDirs(folder), dir) && !seen[rel] {
			seen[rel] = true
			files = append(files, rel)
		}
	}
	if s.cfg.ModelsDir == "" {
		sort.Strings(files)
		return files
	}
	for _, sub := range folderDirs(folder) {
		root := filepath.Join(s.cfg.ModelsDir, sub)
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if !hasModelExt(p) {
				return nil
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return nil
			}
			rel = filepath.ToSlash(rel)
			if !seen[rel] {
				seen[rel] = true
				files = append(files, rel)
			}
			return nil
		})
	}
	sort.Strings(files)
	return files
}

func hasModelExt(p string) bool {
	ext := strings.ToLower(filepath.Ext(p))
	return contains(modelExtensions, ext)
}

func (s *Server) handleObjectInfo(w http.ResponseWriter, r *http.Request) {
	out := obj{}
	for _, d := range s.defOrder {
		out = append(out, kv{d.class, s.nodeInfo(d)})
	}
	writeJSON(w, 200, out)
}

func (s *Server) handleObjectInfoClass(w http.ResponseWriter, r *http.Request) {
	out := obj{}
	if d := s.defs[r.PathValue("class")]; d != nil {
		out = obj{{d.class, s.nodeInfo(d)}}
	}
	writeJSON(w, 200, out)
}

func (s *Server) handleSystemStats(w http.ResponseWriter, r *http.Request) {
	const gib = 1 << 30
	vramTotal := int64(81079) * (1 << 20)
	s.mu.Lock()
	var used float64
	for _, mb := range s.loaded {
		used += mb
	}
	s.mu.Unlock()
	reserved := int64(used * (1 << 20))
	osName, frontend, templates, python := "posix", "1.27.10", "0.1.94", "3.12.3 (main, Aug 14 2025, 17:47:21) [GCC 13.3.0]"
	if s.cfg.ComfyVersion != v0364 {
		osName, frontend, templates, python = "linux", "1.42.11", "0.9.47", "3.12.11 (main, Jun  4 2025, 08:56:18) [GCC 12.2.0]"
	}
	host, port := s.cfg.Listen, strconv.Itoa(s.cfg.Port)
	writeJSON(w, 200, obj{
		{"system", obj{{"os", osName}, {"ram_total", int64(2003) * gib}, {"ram_free", int64(1900) * gib},
			{"comfyui_version", s.cfg.ComfyVersion}, {"required_frontend_version", frontend},
			{"installed_templates_version", nil}, {"required_templates_version", templates},
			{"python_version", python}, {"pytorch_version", "2.8.0+cu128"}, {"embedded_python", false},
			{"argv", []string{"main.py", "--listen", host, "--port", port}}}},
		{"devices", []any{obj{{"name", "cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync"}, {"type", "cuda"}, {"index", 0},
			{"vram_total", vramTotal}, {"vram_free", vramTotal - reserved}, {"torch_vram_total", reserved}, {"torch_vram_free", 0}}}},
	})
}

// handleView serves an image with ComfyUI's /view rules: 400 for an empty name, a leading
// "/" or "..", or an unknown type; 403 when the subfolder escapes the folder; 404 otherwise.
func (s *Server) handleView(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("filename") {
		w.WriteHeader(404)
		return
	}
	filename := q.Get("filename")
	var dir string
	for suffix, d := range map[string]string{" [output]": s.outDir, " [input]": s.inDir, " [temp]": s.tempDir} {
		if strings.HasSuffix(filename, suffix) {
			filename, dir = strings.TrimSuffix(filename, suffix), d
		}
	}
	if filename == "" || filename[0] == '/' || strings.Contains(filename, "..") {
		w.WriteHeader(400)
		return
	}
	if dir == "" {
		switch typ := q.Get("type"); typ {
		case "", "output":
			dir = s.outDir
		case "input":
			dir = s.inDir
		case "temp":
			dir = s.tempDir
		default:
			w.WriteHeader(400)
			return
		}
	}
	if q.Has("subfolder") {
		full := filepath.Join(dir, q.Get("subfolder"))
		if filepath.IsAbs(q.Get("subfolder")) {
			full = filepath.Clean(q.Get("subfolder"))
		}
		if commonPath(full, dir) != dir {
			w.WriteHeader(403)
			return
		}
		dir = full
	}
	name := filepath.Base(filename)
	file := filepath.Join(dir, name)
	fi, err := os.Stat(file)
	if err != nil || !fi.Mode().IsRegular() {
		w.WriteHeader(404)
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		w.WriteHeader(404)
		return
	}
	ctype := "application/octet-stream"
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png":
		ctype = "image/png"
	case ".jpg", ".jpeg":
		ctype = "image/jpeg"
	case ".webp":
		ctype = "image/webp"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf("filename=\"%s\"", name))
	_, _ = w.Write(data)
}
