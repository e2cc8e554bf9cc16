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
	"path/filepath"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/qwenlab/qwenlab/internal/shortid"
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
// Builds on one host take turns (a lock file in the temporary folder), and
// afterwards older simulator images are removed only when no container uses
// them and none was built or reused within the last hour (see removeOldSims).
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
	ref, tarball, deps, err := simBuildContext(repo, exe)
	if err != nil {
		return "", err
	}
	// One build at a time on this host: two qwenlab processes building the same tag at once
	// would leave the loser's image dangling, and a prune could race a build.
	if unlock, err := lockFile(simBuildLock()); err == nil {
		defer unlock()
	} else { // e.g. another user's lock file: build anyway; the tag check below still holds
		fmt.Fprintf(progress, "building without the build lock: %v\n", err)
	}
	if _, err := c.cli.ImageInspect(ctx, ref); err == nil {
		// Reused: tag it again so its last-tag time says it is in use (see removeOldSims).
		_, _ = c.cli.ImageTag(ctx, client.ImageTagOptions{Source: ref, Target: ref})
		c.removeOldSims(ctx, repo, ref, progress)
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
	err = follow(ctx, jsonValues[jsonstream.Message](res.Body), func(m jsonstream.Message) {
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

// SimImageRef is the reference [Client.SimImageIn] would build or reuse for exe in repo,
// computed on this host without asking the engine: with [Client.ImageInspect] it tells
// whether the simulator image is there already (a dry run builds nothing).
func SimImageRef(repo, exe string) (string, error) {
	ref, _, _, err := simBuildContext(repo, exe)
	return ref, err
}

// simBuildContext is the simulator's build context for exe and the reference it is tagged
// with: repo and the first 12 hex digits of the context's sha256.
func simBuildContext(repo, exe string) (ref string, tarball []byte, deps []string, err error) {
	deps, err = elfDeps(exe)
	if err != nil {
		return "", nil, nil, fmt.Errorf("sim image: %w", err)
	}
	tarball, err = simContext(exe, deps)
	if err != nil {
		return "", nil, nil, fmt.Errorf("sim image: %w", err)
	}
	sum := sha256.Sum256(tarball)
	return repo + ":" + shortid.Of(hex.EncodeToString(sum[:])), tarball, deps, nil
}

// removeOldSims removes the simulator images of repo other than keep that nothing needs
// any more: no container uses them (the engine refuses to remove those; qwenlab never
// forces) and they were built or last reused longer than the grace period ago, since another
// qwenlab — another build of it, on this host or another — may have just built or picked one
// and not yet created its container. Dangling simulator images (a tag taken over by a
// newer build of the same tag) go too, when unused.
func (c *Client) removeOldSims(ctx context.Context, repo, keep string, progress io.Writer) {
	grace := cmp.Or(c.simGrace, time.Hour)
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
			if fresh, err := c.usedWithin(ctx, tag, grace); err != nil || fresh {
				continue
			}
			if _, err := c.cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
				if !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
					fmt.Fprintf(progress, "kept old simulator image %s: %v\n", tag, err)
				}
				continue
			}
			fmt.Fprintf(progress, "removed old simulator image %s\n", tag)
		}
	}
	dangling, err := c.cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("dangling", "true").Add("label", LabelSim+"=1")})
	if err != nil {
		return
	}
	for _, im := range dangling.Items {
		// A young one may be a step of a build in progress elsewhere (another host's qwenlab
		// on a shared engine, or one whose lock is not ours): its last step is an untagged,
		// labelled image until the tag lands.
		if time.Since(time.Unix(im.Created, 0)) < grace {
			continue
		}
		_, _ = c.cli.ImageRemove(ctx, im.ID, client.ImageRemoveOptions{PruneChildren: true}) // refused while used: fine
	}
}

// simBuildLock is the host-wide file that simulator builds take turns on. It is in /tmp
// itself, not $TMPDIR, so that processes with private temporary folders (test harnesses,
// systemd units with PrivateTmp off but TMPDIR set) still take turns with each other.
func simBuildLock() string {
	dir := "/tmp"
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "qwenlab-sim-build.lock")
}

// usedWithin reports whether the image ref was built or (re)tagged within d.
func (c *Client) usedWithin(ctx context.Context, ref string, d time.Duration) (bool, error) {
	im, err := c.cli.ImageInspect(ctx, ref)
	if err != nil {
		return false, err
	}
	last := im.Metadata.LastTagTime
	if created, err := time.Parse(time.RFC3339Nano, im.Created); err == nil && created.After(last) {
		last = created
	}
	return time.Since(last) < d, nil
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
