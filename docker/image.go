package docker

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/client"
)

// noAuth is an empty registry AuthConfig, "{}" base64url-encoded.
const noAuth = "e30="

// CheckImageRef reports whether ref names an image the way `docker run` takes it: a
// repository with an optional tag and digest ("comfyui:0.3", "ghcr.io/org/comfyui@sha256:…")
// or an image ID ("sha256:…"). The error says what is wrong and how to write it.
func CheckImageRef(ref string) error {
	if _, err := reference.ParseAnyReference(ref); err != nil {
		return fmt.Errorf("%q is not an image reference (%w): write it as docker run takes it, NAME[:TAG][@DIGEST] in lower case, e.g. ghcr.io/org/comfyui:0.3", ref, err)
	}
	return nil
}

// RepoName is ref's repository without tag or digest, in Docker's familiar form: "busybox"
// for "docker.io/library/busybox:latest", "127.0.0.1:5000/a/b" for "127.0.0.1:5000/a/b:1".
// The digest is not checked; a name that is not a reference comes back as it is.
func RepoName(ref string) string {
	name, _, _ := strings.Cut(ref, "@")
	n, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return reference.FamiliarName(n)
}

// Tag gives the local image source the additional reference target
// ("127.0.0.1:5000/repo:tag"). A missing source gives an error wrapping
// [ErrImageNotFound].
func (c *Client) Tag(ctx context.Context, source, target string) error {
	if _, err := c.cli.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target}); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("tag %s as %s: %w", source, target, ErrImageNotFound)
		}
		return fmt.Errorf("tag %s as %s: %w", source, target, err)
	}
	return nil
}

// Push pushes the local image ref to its registry, without credentials
// (the engine treats registries on 127.0.0.0/8 as insecure, so a loopback
// registry needs no TLS either). Like [Client.Pull], an error the daemon
// reports inside its HTTP 200 progress stream fails the push.
func (c *Client) Push(ctx context.Context, ref string) error {
	// Note: engines before 25.0 read credentials from the request body when
	// the X-Registry-Auth header is absent and fail on an empty one ("Bad
	// parameters and missing X-Registry-Auth: EOF"): send an empty AuthConfig.
	resp, err := c.cli.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: noAuth})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("push %s: %w", ref, ErrImageNotFound)
		}
		return fmt.Errorf("push %s: %w", ref, err)
	}
	defer resp.Close()
	if err := follow(ctx, resp.JSONMessages(ctx), nil); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}

// RemoveImage removes the reference ref; the image itself goes with its
// last reference, unless a container uses it (then the daemon refuses and
// the error says so). A reference that does not exist gives an error
// wrapping [ErrImageNotFound].
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	if _, err := c.cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove image %s: %w", ref, ErrImageNotFound)
		}
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return nil
}
