package docker

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
)

// SimRepo is the repository of the simulator images.
const SimRepo = "qwenlab-sim"

// SimPort is the port the simulator image listens on.
const SimPort = 8188

const simDockerfile = `FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/qwenlab","sim"]
CMD ["--listen","0.0.0.0","--port","8188","--models","/models"]
EXPOSE 8188
LABEL qwenlab.sim=1
`

// SimImage builds (or reuses) the ComfyUI simulator image from the qwenlab
// executable exe (normally os.Executable()) and returns its reference,
// "qwenlab-sim:<first 12 hex digits of the build context's sha256>".
//
// The image is FROM scratch: no base image, no registry. A dynamically
// linked exe brings its interpreter and shared libraries, copied from this
// host at the same paths. Build output goes to progress (may be nil).
// After a new image is built, older qwenlab-sim tags are removed unless a
// container uses them.
func (c *Client) SimImage(ctx context.Context, exe string, progress io.Writer) (string, error) {
	return c.SimImageIn(ctx, cmp.Or(c.simRepo, SimRepo), exe, progress)
}

// SimImageIn is [Client.SimImage] with the images in repository repo
// instead of [SimRepo], so that tests can build and remove their own
// without touching the images other runs use.
func (c *Client) SimImageIn(ctx context.Context, repo, exe string, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	deps, err := elfDeps(exe)
	if err != nil {
		return "", fmt.Errorf("sim image: %w", err)
	}
	tarball, err := simContext(exe, deps)
	if err != nil {
		return "", fmt.Errorf("sim image: %w", err)
	}
	sum := sha256.Sum256(tarball)
	ref := repo + ":" + hex.EncodeToString(sum[:])[:12]
	if _, err := c.cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("sim image: inspect %s: %w", ref, err)
	}
	fmt.Fprintf(progress, "building simulator image %s (%d MB context, %d shared libraries)\n", ref, len(tarball)>>20, max(len(deps)-1, 0))
	res, err := c.cli.ImageBuild(ctx, bytes.NewReader(tarball), client.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{LabelSim: "1"},
		Version:     build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("sim image: build %s: %w", ref, err)
	}
	// The builder's step-by-step output is kept back and shown only when the build fails.
	var steps []string
	err = decodeStream(res.Body, func(m streamMsg) {
		if m.Stream != "" {
			steps = append(steps, strings.TrimRight(m.Stream, "\n"))
			if len(steps) > 40 {
				steps = steps[1:]
			}
		}
	})
	res.Body.Close()
	if err != nil {
		return "", fmt.Errorf("sim image: build %s: %w; builder output:\n%s", ref, err, strings.Join(steps, "\n"))
	}
	if _, err := c.cli.ImageInspect(ctx, ref); err != nil {
		return "", fmt.Errorf("sim image: build %s: image missing afterwards: %w", ref, err)
	}
	c.removeOldSims(ctx, repo, ref, progress)
	return ref, nil
}

// removeOldSims untags every image of repo but keep. A tag a container
// still uses cannot be removed; it is left alone.
func (c *Client) removeOldSims(ctx context.Context, repo, keep string, progress io.Writer) {
	list, err := c.cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", repo)})
	if err != nil {
		fmt.Fprintf(progress, "list old simulator images: %v\n", err)
		return
	}
	for _, im := range list.Items {
		for _, tag := range im.RepoTags {
			if !strings.HasPrefix(tag, repo+":") || tag == keep {
				continue
			}
			if _, err := c.cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
				if !cerrdefs.IsNotFound(err) {
					fmt.Fprintf(progress, "kept old simulator image %s: %v\n", tag, err)
				}
				continue
			}
			fmt.Fprintf(progress, "removed old simulator image %s\n", tag)
		}
	}
}

// simContext builds the image's build context: a Dockerfile and rootfs/
// holding /qwenlab, its shared libraries at their host paths and an empty
// world-writable /tmp. Entries are sorted with fixed metadata, so the same
// inputs give the same bytes (the tag is their hash).
func simContext(exe string, deps []string) ([]byte, error) {
	type entry struct {
		name string
		src  string // host file; "" for a directory
		mode int64
	}
	entries := map[string]entry{}
	addDirs := func(p string) {
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = entry{name: d, mode: 0o755}
			}
		}
	}
	entries["/qwenlab"] = entry{name: "/qwenlab", src: exe, mode: 0o755}
	for _, d := range deps {
		if !path.IsAbs(d) {
			return nil, fmt.Errorf("library path %q is not absolute", d)
		}
		d = path.Clean(d)
		entries[d] = entry{name: d, src: d, mode: 0o755}
		addDirs(d)
	}
	entries["/tmp"] = entry{name: "/tmp", mode: 0o1777}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0).UTC()
	hdr := func(h *tar.Header) error {
		h.ModTime, h.Uid, h.Gid, h.Format = epoch, 0, 0, tar.FormatPAX
		return tw.WriteHeader(h)
	}
	if err := hdr(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(simDockerfile)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(tw, simDockerfile); err != nil {
		return nil, err
	}
	if err := hdr(&tar.Header{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
		return nil, err
	}
	for _, n := range names {
		e := entries[n]
		name := "rootfs" + n
		if e.src == "" {
			if err := hdr(&tar.Header{Name: name + "/", Mode: e.mode, Typeflag: tar.TypeDir}); err != nil {
				return nil, err
			}
			continue
		}
		data, err := os.ReadFile(e.src) // follows symlinks: the file lands at the searched path
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", e.src, err)
		}
		if err := hdr(&tar.Header{Name: name, Mode: e.mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
