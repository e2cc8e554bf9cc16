package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/qwenlab/qwenlab/internal/shortid"
)

// CreateNetwork creates a bridge network labelled LabelRun=runID and returns its id.
// Containers on it reach each other by their aliases; nothing is published on the host.
func (c *Client) CreateNetwork(ctx context.Context, name, runID string) (string, error) {
	if runID == "" {
		return "", fmt.Errorf("create network %s: no run id", name)
	}
	res, err := c.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge",
		Labels: map[string]string{LabelRun: runID},
	})
	if err != nil {
		return "", fmt.Errorf("create network %s: %w", name, err)
	}
	return res.ID, nil
}

// Event is one container event as the engine recorded it, on the engine's clock.
type Event struct {
	ContainerID string
	Action      string // create, start, die, destroy, oom, health_status: healthy, …
	Time        time.Time
	ExitCode    string // for die
}

// WatchEvents streams the container events of run runID until ctx ends. The channel is
// closed when the stream ends.
func (c *Client) WatchEvents(ctx context.Context, runID string) <-chan Event {
	out := make(chan Event, 64)
	f := make(client.Filters).Add("label", LabelRun+"="+runID).Add("type", string(events.ContainerEventType))
	for _, a := range []string{"create", "start", "die", "oom", "destroy"} {
		f = f.Add("event", a)
	}
	// Since the epoch: the engine replays what happened before the stream began (only this
	// run's events pass the filter), so no event is lost to the subscription race.
	res := c.cli.Events(ctx, client.EventsListOptions{Filters: f, Since: "1"})
	go func() {
		defer close(out)
		for {
			select {
			case m, ok := <-res.Messages:
				if !ok {
					return
				}
				ev := Event{ContainerID: m.Actor.ID, Action: string(m.Action), Time: time.Unix(0, m.TimeNano).UTC(), ExitCode: m.Actor.Attributes["exitCode"]}
				if strings.HasPrefix(ev.Action, "exec_") {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case <-res.Err:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// CopyFiles writes files (absolute path in the container → content, mode 0644) into container
// id through the engine's archive API, creating their folders: the way to hand a created (not
// yet started) container the files it needs when no host folder can be mounted, as on a
// remote engine.
func (c *Client) CopyFiles(ctx context.Context, id string, files map[string][]byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		clean := path.Clean("/" + name)
		if clean != "/"+strings.TrimPrefix(name, "/") || clean == "/" {
			return fmt.Errorf("copy to container %s: %q is not a clean file path", shortid.Of(id), name)
		}
		rel := strings.TrimPrefix(clean, "/")
		for d := path.Dir(rel); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) { // parents sort before their children
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
			return fmt.Errorf("copy to container %s: %w", shortid.Of(id), err)
		}
	}
	for _, name := range names {
		rel := strings.TrimPrefix(path.Clean("/"+name), "/")
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o644, Size: int64(len(files[name]))}); err != nil {
			return fmt.Errorf("copy to container %s: %w", shortid.Of(id), err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			return fmt.Errorf("copy to container %s: %w", shortid.Of(id), err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("copy to container %s: %w", shortid.Of(id), err)
	}
	if _, err := c.cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: &buf}); err != nil {
		return fmt.Errorf("copy to container %s: %w", shortid.Of(id), err)
	}
	return nil
}
