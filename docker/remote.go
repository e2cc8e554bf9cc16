package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
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
