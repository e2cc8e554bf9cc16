package docker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Resource is a container, network or volume that carries [LabelRun].
type Resource struct {
	Kind    string // "container", "network" or "volume"
	ID      string // volumes: the name
	Name    string
	RunID   string // the LabelRun value
	Owner   string // the LabelOwner value: the process that made it ("" before qwenlab labelled owners)
	Image   string // containers only
	State   string // containers only: running, exited, …
	Created time.Time
}

// ListLabelled lists the containers (running or not), networks and volumes
// labelled LabelRun=runID, or carrying LabelRun at all when runID is "".
func (c *Client) ListLabelled(ctx context.Context, runID string) ([]Resource, error) {
	label := LabelRun
	if runID != "" {
		label += "=" + runID
	}
	f := make(client.Filters).Add("label", label)
	var out []Resource
	cs, err := c.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", c.engineErr(err))
	}
	for _, s := range cs.Items {
		name := ""
		if len(s.Names) > 0 {
			name = strings.TrimPrefix(s.Names[0], "/")
		}
		out = append(out, Resource{Kind: "container", ID: s.ID, Name: name, RunID: s.Labels[LabelRun], Owner: s.Labels[LabelOwner],
			Image: s.Image, State: string(s.State), Created: time.Unix(s.Created, 0).UTC()})
	}
	ns, err := c.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", c.engineErr(err))
	}
	for _, n := range ns.Items {
		out = append(out, Resource{Kind: "network", ID: n.ID, Name: n.Name, RunID: n.Labels[LabelRun], Owner: n.Labels[LabelOwner], Created: n.Created})
	}
	vs, err := c.cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", c.engineErr(err))
	}
	for _, v := range vs.Items {
		out = append(out, Resource{Kind: "volume", ID: v.Name, Name: v.Name, RunID: v.Labels[LabelRun], Owner: v.Labels[LabelOwner], Created: parseEngineTime(v.CreatedAt)})
	}
	// Containers first: networks and volumes can only go once they are gone.
	rank := map[string]int{"container": 0, "network": 1, "volume": 2}
	slices.SortStableFunc(out, func(a, b Resource) int {
		return cmp.Or(cmp.Compare(rank[a.Kind], rank[b.Kind]), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RemoveResource removes what ListLabelled found: a container forcibly
// with its anonymous volumes, a network, a volume. Something already gone
// is not an error. It refuses a resource without a run id, so it can never
// remove something qwenlab did not label.
func (c *Client) RemoveResource(ctx context.Context, r Resource) error {
	if r.RunID == "" {
		return fmt.Errorf("remove %s %s: no %s label", r.Kind, r.Name, LabelRun)
	}
	var err error
	switch r.Kind {
	case "container":
		return c.Remove(ctx, r.ID)
	case "network":
		_, err = c.cli.NetworkRemove(ctx, r.ID, client.NetworkRemoveOptions{})
	case "volume":
		_, err = c.cli.VolumeRemove(ctx, r.ID, client.VolumeRemoveOptions{Force: true})
	default:
		return fmt.Errorf("remove %s %s: unknown kind", r.Kind, r.ID)
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s %s: %w", r.Kind, cmp.Or(r.Name, r.ID), c.engineErr(err))
	}
	return nil
}
