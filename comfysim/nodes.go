package comfysim

import (
	"fmt"
	"math/big"
	"strconv"
)

// inputSpec is one input of a node class, as INPUT_TYPES declares it.
type inputSpec struct {
	name  string
	typ   string                 // INT FLOAT STRING BOOLEAN IMAGE ... or COMBO
	combo func(*Server) []string // the options of a combo
	opts  obj                    // the options dict; nil when the real node has none
}

// nodeDef is one node class: its /object_info facts and its implementation.
type nodeDef struct {
	class, display, category, description, module string
	output, outputName                            []string
	outputTooltips                                []string // nil: no output_tooltips key
	outputNode, v3                                bool
	required, optional                            []inputSpec
	hidden                                        []kv // name -> type string
	searchAliases                                 []string
	essentials                                    string
	run                                           func(rc *runCtx, in inputs) ([]any, obj, error)
}

func fixed(opts ...string) func(*Server) []string { return func(*Server) []string { return opts } }

var (
	upscaleMethods   = []string{"nearest-exact", "bilinear", "area", "bicubic", "lanczos"}
	cropMethods      = []string{"disabled", "center"}
	weightDtypes     = []string{"default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"}
	samplers0364     = []string{"euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis", "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc", "uni_pc_bh2"}
	schedulers       = []string{"simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal", "linear_quadratic", "kl_optimal"}
	clipTypes0364    = []string{"stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart", "cosmos", "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image", "hunyuan_image"}
	modelFolders0364 = []string{"checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision", "style_models", "embeddings", "diffusers", "vae_approx", "controlnet", "gligen", "upscale_models", "custom_nodes", "hypernetworks", "photomaker", "classifiers", "model_patches", "audio_encoders"}
)

func samplerNames(v string) []string {
	if v == v0364 {
		return samplers0364
	}
	out := make([]string, 0, len(samplers0364)+2)
	out = append(out, samplers0364[:6]...)
	out = append(out, "exp_heun_2_x0", "exp_heun_2_x0_sde")
	return append(out, samplers0364[6:]...)
}

func clipTypes(v string) []string {
	if v == v0364 {
		return clipTypes0364
	}
	return append(append([]string{}, clipTypes0364...), "flux2", "ovis", "longcat_image", "cogvideox")
}

func modelFolders(v string) []string {
	if v == v0364 {
		return modelFolders0364
	}
	out := append([]string{}, modelFolders0364[:14]...)
	out = append(out, "latent_upscale_models")
	out = append(out, modelFolders0364[14:]...)
	return append(out, "background_removal", "frame_interpolation", "optical_flow")
}

const maxResolution = 16384

// nodeDefs returns the node classes of the simulated version, in /object_info order.
func nodeDefs(version string) []*nodeDef {
	v21 := version != v0364
	tip := func(t string) obj { return obj{{"tooltip", t}} }
	var advanced obj
	if v21 {
		advanced = obj{{"advanced", true}}
	}
	emptyDisplay := "EmptyImage"
	if v21 {
		emptyDisplay = "Empty Image"
	}
	seedMax := new(big.Int).SetUint64(^uint64(0))
	defs := []*nodeDef{
		{
			class: "KSampler", display: "KSampler", category: "sampling", module: "nodes",
			description: "Uses the provided model, positive and negative conditioning to denoise the latent image.",
			output:      []string{"LATENT"}, outputName: []string{"LATENT"},
			outputTooltips: []string{"The denoised latent."},
			searchAliases:  []string{"sampler", "sample", "generate", "denoise", "diffuse", "txt2img", "img2img"},
			required: []inputSpec{
				{name: "model", typ: "MODEL", opts: tip("The model used for denoising the input latent.")},
				{name: "seed", typ: "INT", opts: obj{{"default", 0}, {"min", 0}, {"max", seedMax}, {"control_after_generate", true}, {"tooltip", "The random seed used for creating the noise."}}},
				{name: "steps", typ: "INT", opts: obj{{"default", 20}, {"min", 1}, {"max", 10000}, {"tooltip", "The number of steps used in the denoising process."}}},
				{name: "cfg", typ: "FLOAT", opts: obj{{"default", pyFloat(8)}, {"min", pyFloat(0)}, {"max", pyFloat(100)}, {"step", pyFloat(0.1)}, {"round", pyFloat(0.01)}, {"tooltip", "The Classifier-Free Guidance scale balances creativity and adherence to the prompt. Higher values result in images more closely matching the prompt however too high values will negatively impact quality."}}},
				{name: "sampler_name", typ: "COMBO", combo: fixed(samplerNames(version)...), opts: tip("The algorithm used when sampling, this can affect the quality, speed, and style of the generated output.")},
				{name: "scheduler", typ: "COMBO", combo: fixed(schedulers...), opts: tip("The scheduler controls how noise is gradually removed to form the image.")},
				{name: "positive", typ: "CONDITIONING", opts: tip("The conditioning describing the attributes you want to include in the image.")},
				{name: "negative", typ: "CONDITIONING", opts: tip("The conditioning describing the attributes you want to exclude from the image.")},
				{name: "latent_image", typ: "LATENT", opts: tip("The latent image to denoise.")},
				{name: "denoise", typ: "FLOAT", opts: obj{{"default", pyFloat(1)}, {"min", pyFloat(0)}, {"max", pyFloat(1)}, {"step", pyFloat(0.01)}, {"tooltip", "The amount of denoising applied, lower values will maintain the structure of the initial image allowing for image to image sampling."}}},
			},
			run: runKSampler,
		},
		{
			class: "CheckpointLoaderSimple", display: "Load Checkpoint", category: "loaders", module: "nodes",
			description: "Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
			output:      []string{"MODEL", "CLIP", "VAE"}, outputName: []string{"MODEL", "CLIP", "VAE"},
			outputTooltips: []string{"The model used for denoising latents.", "The CLIP model used for encoding text prompts.", "The VAE model used for encoding and decoding images to and from latent space."},
			searchAliases:  []string{"load model", "checkpoint", "model loader", "load checkpoint", "ckpt", "model"},
			required: []inputSpec{
				{name: "ckpt_name", typ: "COMBO", combo: func(s *Server) []string { return s.modelFiles("checkpoints") }, opts: tip("The name of the checkpoint (model) to load.")},
			},
			run: runCheckpointLoader,
		},
		{
			class: "CLIPTextEncode", display: "CLIP Text Encode (Prompt)", category: "conditioning", module: "nodes",
			description: "Encodes a text prompt using a CLIP model into an embedding that can be used to guide the diffusion model towards generating specific images.",
			output:      []string{"CONDITIONING"}, outputName: []string{"CONDITIONING"},
			outputTooltips: []string{"A conditioning containing the embedded text used to guide the diffusion model."},
			searchAliases:  []string{"text", "prompt", "text prompt", "positive prompt", "negative prompt", "encode text", "text encoder", "encode prompt"},
			required: []inputSpec{
				{name: "text", typ: "STRING", opts: obj{{"multiline", true}, {"dynamicPrompts", true}, {"tooltip", "The text to be encoded."}}},
				{name: "clip", typ: "CLIP", opts: tip("The CLIP model used for encoding the text.")},
			},
			run: runCLIPTextEncode,
		},
		{
			class: "VAEDecode", display: "VAE Decode", category: "latent", module: "nodes",
			description: "Decodes latent images back into pixel space images.",
			output:      []string{"IMAGE"}, outputName: []string{"IMAGE"},
			outputTooltips: []string{"The decoded image."},
			searchAliases:  []string{"decode", "decode latent", "latent to image", "render latent"},
			required: []inputSpec{
				{name: "samples", typ: "LATENT", opts: tip("The latent to be decoded.")},
				{name: "vae", typ: "VAE", opts: tip("The VAE model used for decoding the latent.")},
			},
			run: runVAEDecode,
		},
		{
			class: "SaveImage", display: "Save Image", category: "image", module: "nodes", outputNode: true,
			description: "Saves the input images to your ComfyUI output directory.",
			output:      []string{}, outputName: []string{},
			searchAliases: []string{"save", "save image", "export image", "output image", "write image", "download"},
			essentials:    "Basics",
			required: []inputSpec{
				{name: "images", typ: "IMAGE", opts: tip("The images to save.")},
				{name: "filename_prefix", typ: "STRING", opts: obj{{"default", "ComfyUI"}, {"tooltip", "The prefix for the file to save. This may include formatting information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes."}}},
			},
			hidden: []kv{{"prompt", "PROMPT"}, {"extra_pnginfo", "EXTRA_PNGINFO"}},
			run:    runSaveImage,
		},
		{
			class: "ImageScale", display: "Upscale Image", category: "image/upscaling", module: "nodes",
			output: []string{"IMAGE"}, outputName: []string{"IMAGE"},
			searchAliases: []string{"resize", "resize image", "scale image", "image resize"},
			required: []inputSpec{
				{name: "image", typ: "IMAGE"},
				{name: "upscale_method", typ: "COMBO", combo: fixed(upscaleMethods...)},
				{name: "width", typ: "INT", opts: obj{{"default", 512}, {"min", 0}, {"max", maxResolution}, {"step", 1}}},
				{name: "height", typ: "INT", opts: obj{{"default", 512}, {"min", 0}, {"max", maxResolution}, {"step", 1}}},
				{name: "crop", typ: "COMBO", combo: fixed(cropMethods...)},
			},
			run: runImageScale,
		},
		{
			class: "EmptyImage", display: emptyDisplay, category: "image", module: "nodes",
			output: []string{"IMAGE"}, outputName: []string{"IMAGE"},
			required: []inputSpec{
				{name: "width", typ: "INT", opts: obj{{"default", 512}, {"min", 1}, {"max", maxResolution}, {"step", 1}}},
				{name: "height", typ: "INT", opts: obj{{"default", 512}, {"min", 1}, {"max", maxResolution}, {"step", 1}}},
				{name: "batch_size", typ: "INT", opts: obj{{"default", 1}, {"min", 1}, {"max", 4096}}},
				{name: "color", typ: "INT", opts: obj{{"default", 0}, {"min", 0}, {"max", 0xFFFFFF}, {"step", 1}, {"display", "color"}}},
			},
			run: runEmptyImage,
		},
		{
			class: "UNETLoader", display: "Load Diffusion Model", category: "advanced/loaders", module: "nodes",
			output: []string{"MODEL"}, outputName: []string{"MODEL"},
			required: []inputSpec{
				{name: "unet_name", typ: "COMBO", combo: func(s *Server) []string { return s.modelFiles("diffusion_models") }},
				{name: "weight_dtype", typ: "COMBO", combo: fixed(weightDtypes...), opts: advanced},
			},
			run: runUNETLoader,
		},
		{
			class: "CLIPLoader", display: "Load CLIP", category: "advanced/loaders", module: "nodes",
			description: "[Recipes]\n\nstable_diffusion: clip-l\nstable_cascade: clip-g\nsd3: t5 xxl/ clip-g / clip-l\nstable_audio: t5 base\nmochi: t5 xxl\ncosmos: old t5 xxl\nlumina2: gemma 2 2B\nwan: umt5 xxl\n hidream: llama-3.1 (Recommend) or t5\nomnigen2: qwen vl 2.5 3B",
			output:      []string{"CLIP"}, outputName: []string{"CLIP"},
			required: []inputSpec{
				{name: "clip_name", typ: "COMBO", combo: func(s *Server) []string { return s.modelFiles("text_encoders") }},
				{name: "type", typ: "COMBO", combo: fixed(clipTypes(version)...)},
			},
			optional: []inputSpec{
				{name: "device", typ: "COMBO", combo: fixed("default", "cpu"), opts: obj{{"advanced", true}}},
			},
			run: runCLIPLoader,
		},
		{
			class: "VAELoader", display: "Load VAE", category: "loaders", module: "nodes",
			output: []string{"VAE"}, outputName: []string{"VAE"},
			required: []inputSpec{
				{name: "vae_name", typ: "COMBO", combo: func(s *Server) []string { return append(s.modelFiles("vae"), "pixel_space") }},
			},
			run: runVAELoader,
		},
		{
			class: "ImageToMask", display: "Convert Image to Mask", category: "mask", module: "comfy_extras.nodes_mask",
			output: []string{"MASK"}, outputName: []string{"MASK"},
			required: []inputSpec{
				{name: "image", typ: "IMAGE"},
				{name: "channel", typ: "COMBO", combo: fixed("red", "green", "blue", "alpha")},
			},
			run: runImageToMask,
		},
		{
			class: "MaskToImage", display: "Convert Mask to Image", category: "mask", module: "comfy_extras.nodes_mask",
			output: []string{"IMAGE"}, outputName: []string{"IMAGE"},
			required: []inputSpec{{name: "mask", typ: "MASK"}},
			run:      runMaskToImage,
		},
		{
			class: "ImageBlur", display: "Image Blur", category: "image/postprocessing", module: "comfy_extras.nodes_post_processing",
			output: []string{"IMAGE"}, outputName: []string{"IMAGE"},
			required: []inputSpec{
				{name: "image", typ: "IMAGE"},
				{name: "blur_radius", typ: "INT", opts: obj{{"default", 1}, {"min", 1}, {"max", 31}, {"step", 1}}},
				{name: "sigma", typ: "FLOAT", opts: obj{{"default", pyFloat(1)}, {"min", pyFloat(0.1)}, {"max", pyFloat(10)}, {"step", pyFloat(0.1)}}},
			},
			run: runImageBlur,
		},
		{
			class: "ImageCrop", display: "Image Crop", category: "image/transform", module: "comfy_extras.nodes_images",
			output: []string{"IMAGE"}, outputName: []string{"IMAGE"},
			required: []inputSpec{
				{name: "image", typ: "IMAGE"},
				{name: "width", typ: "INT", opts: obj{{"default", 512}, {"min", 1}, {"max", maxResolution}, {"step", 1}}},
				{name: "height", typ: "INT", opts: obj{{"default", 512}, {"min", 1}, {"max", maxResolution}, {"step", 1}}},
				{name: "x", typ: "INT", opts: obj{{"default", 0}, {"min", 0}, {"max", maxResolution}, {"step", 1}}},
				{name: "y", typ: "INT", opts: obj{{"default", 0}, {"min", 0}, {"max", maxResolution}, {"step", 1}}},
			},
			run: runImageCrop,
		},
		{
			class: "ImageFromBatch", display: "ImageFromBatch", category: "image/batch", module: "comfy_extras.nodes_images",
			output: []string{"IMAGE"}, outputName: []string{"IMAGE"},
			required: []inputSpec{
				{name: "image", typ: "IMAGE"},
				{name: "batch_index", typ: "INT", opts: obj{{"default", 0}, {"min", 0}, {"max", 4095}}},
				{name: "length", typ: "INT", opts: obj{{"default", 1}, {"min", 1}, {"max", 4096}}},
			},
			run: runImageFromBatch,
		},
		{
			class: "EmptySD3LatentImage", display: "EmptySD3LatentImage", category: "latent/sd3", module: "comfy_extras.nodes_sd3", v3: true,
			output: []string{"LATENT"}, outputName: []string{"LATENT"},
			required: []inputSpec{
				{name: "width", typ: "INT", opts: obj{{"default", 1024}, {"min", 16}, {"max", maxResolution}, {"step", 16}}},
				{name: "height", typ: "INT", opts: obj{{"default", 1024}, {"min", 16}, {"max", maxResolution}, {"step", 16}}},
				{name: "batch_size", typ: "INT", opts: obj{{"default", 1}, {"min", 1}, {"max", 4096}, {"tooltip", "The number of latent images in the batch."}}},
			},
			run: runEmptySD3Latent,
		},
		{
			class: "ModelSamplingAuraFlow", display: "ModelSamplingAuraFlow", category: "advanced/model", module: "comfy_extras.nodes_model_advanced",
			output: []string{"MODEL"}, outputName: []string{"MODEL"},
			required: []inputSpec{
				{name: "model", typ: "MODEL"},
				{name: "shift", typ: "FLOAT", opts: obj{{"default", pyFloat(1.73)}, {"min", pyFloat(0)}, {"max", pyFloat(100)}, {"step", pyFloat(0.01)}}},
			},
			run: runModelSamplingAuraFlow,
		},
	}
	return defs
}

// renderInput writes one input the way /object_info shows it (V1 list or V3 "COMBO" form).
func (s *Server) renderInput(d *nodeDef, in *inputSpec) []any {
	if in.typ == "COMBO" {
		opts := in.combo(s)
		if d.v3 {
			o := obj{{"options", opts}, {"multiselect", false}}
			o = append(o, in.opts...)
			return []any{"COMBO", o}
		}
		if in.opts == nil {
			return []any{opts}
		}
		return []any{opts, in.opts}
	}
	if in.opts == nil {
		return []any{in.typ}
	}
	return []any{in.typ, in.opts}
}

// nodeInfo renders one class for /object_info with the key order of the simulated version.
func (s *Server) nodeInfo(d *nodeDef) obj {
	v21 := s.cfg.ComfyVersion != v0364
	input := obj{}
	order := obj{}
	section := func(name string, specs []inputSpec) {
		if len(specs) == 0 {
			return
		}
		sec := obj{}
		names := []string{}
		for i := range specs {
			sec = append(sec, kv{specs[i].name, s.renderInput(d, &specs[i])})
			names = append(names, specs[i].name)
		}
		input = append(input, kv{name, sec})
		order = append(order, kv{name, names})
	}
	section("required", d.required)
	section("optional", d.optional)
	if len(d.hidden) > 0 {
		input = append(input, kv{"hidden", obj(d.hidden)})
		names := []string{}
		for _, h := range d.hidden {
			names = append(names, h.K)
		}
		order = append(order, kv{"hidden", names})
	}
	isList := make([]bool, len(d.output))
	info := obj{{"input", input}, {"input_order", order}}
	if v21 {
		info = append(info, kv{"is_input_list", false})
	}
	info = append(info, kv{"output", d.output}, kv{"output_is_list", isList}, kv{"output_name", d.outputName})
	if d.v3 {
		info = append(info, kv{"output_tooltips", nilIfEmpty(d.outputTooltips)})
	}
	info = append(info,
		kv{"name", d.class}, kv{"display_name", d.display}, kv{"description", d.description},
		kv{"python_module", d.module}, kv{"category", d.category}, kv{"output_node", d.outputNode})
	if v21 {
		info = append(info, kv{"has_intermediate_output", false})
	}
	if d.v3 {
		info = append(info, kv{"deprecated", false}, kv{"experimental", false}, kv{"api_node", false})
		if v21 {
			info = append(info, kv{"search_aliases", nonNil(d.searchAliases)}, kv{"essentials_category", nil})
		}
		return info
	}
	if d.outputTooltips != nil {
		info = append(info, kv{"output_tooltips", d.outputTooltips})
	}
	if v21 {
		info = append(info, kv{"search_aliases", nonNil(d.searchAliases)})
		if d.essentials != "" {
			info = append(info, kv{"essentials_category", d.essentials})
		}
	}
	return info
}

func nilIfEmpty(s []string) any {
	if s == nil {
		return nil
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }

// fillerDefs are n node classes that only make /object_info as large as a real install's:
// each has the inputs of a typical sampler-like node. They cannot run.
func fillerDefs(version string, n int) []*nodeDef {
	out := make([]*nodeDef, 0, n)
	for i := range n {
		out = append(out, &nodeDef{
			class: fmt.Sprintf("SimFiller%03d", i), display: fmt.Sprintf("Filler %d", i), category: "simulator/filler", module: "comfysim.filler",
			output: []string{"LATENT"}, outputName: []string{"LATENT"},
			required: []inputSpec{
				{name: "model", typ: "MODEL"},
				{name: "latent", typ: "LATENT"},
				{name: "steps", typ: "INT", opts: obj{{"default", 20}, {"min", 1}, {"max", 10000}}},
				{name: "cfg", typ: "FLOAT", opts: obj{{"default", pyFloat(8)}, {"min", pyFloat(0)}, {"max", pyFloat(100)}, {"step", pyFloat(0.1)}}},
				{name: "sampler_name", typ: "COMBO", combo: fixed(samplerNames(version)...)},
				{name: "scheduler", typ: "COMBO", combo: fixed(schedulers...)},
			},
			run: func(*runCtx, inputs) ([]any, obj, error) {
				return nil, nil, fmt.Errorf("a simulator filler node cannot run")
			},
		})
	}
	return out
}
