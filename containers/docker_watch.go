package containers

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// exitLogLines is how much of a dead dev server's output an Exit carries.
const exitLogLines = 30

// Watch follows the engine's event stream and reports every managed
// container of this instance that dies without a kill request (docker stop,
// docker kill, a forced remove all send one first). It resubscribes after
// the engine restarts, resuming where it left off, and returns nil when ctx
// ends. report runs on Watch's goroutine.
func (d *Docker) Watch(ctx context.Context, report func(Exit)) error {
	routerCtx, stopRouter := context.WithCancel(ctx)
	defer stopRouter()
	go d.keepRouterAttached(routerCtx)
	f := d.managedFilter()
	f.Add("type", string(events.ContainerEventType))
	f.Add("event", string(events.ActionKill))
	f.Add("event", string(events.ActionDie))

	killed := map[string]time.Time{} // container id → last kill request
	since := time.Now()
	backoff := time.Second
	for {
		last, err := d.watchEvents(ctx, f, since, killed, report)
		if ctx.Err() != nil {
			return nil
		}
		if !last.IsZero() {
			since, backoff = last.Add(time.Nanosecond), time.Second
		}
		d.opts.Logger.WarnContext(ctx, "container event stream ended; resubscribing", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// watchEvents consumes one subscription until it fails and returns the time
// of the last event it saw.
func (d *Docker) watchEvents(ctx context.Context, f filters.Args, since time.Time, killed map[string]time.Time, report func(Exit)) (time.Time, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, errs := d.cli(ctx).Events(ctx, events.ListOptions{
		Filters: f,
		Since:   fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
	})
	var last time.Time
	for {
		select {
		case err := <-errs:
			return last, engineErr(err)
		case m := <-msgs:
			at := time.Unix(0, m.TimeNano)
			last = at
			switch m.Action {
			case events.ActionKill:
				forgetOldKills(killed, at)
				killed[m.Actor.ID] = at
			case events.ActionDie:
				killedAt, ok := killed[m.Actor.ID]
				requested := ok && at.Sub(killedAt) < d.opts.StopTimeout+killWindow
				delete(killed, m.Actor.ID)
				if !requested {
					report(d.exitOf(ctx, m.Actor.Attributes[labelProject], m.Actor.ID, at))
				}
			}
		}
	}
}

// killWindow is how long after a kill request (beyond the stop timeout) a
// container's death still counts as requested. A signal that does not kill
// (docker kill -s HUP) must not excuse a crash hours later.
const killWindow = 30 * time.Second

func forgetOldKills(killed map[string]time.Time, now time.Time) {
	for id, at := range killed {
		if now.Sub(at) > 10*time.Minute {
			delete(killed, id)
		}
	}
}

// exitOf describes how a project's container ended, from its final state
// and last log lines.
func (d *Docker) exitOf(ctx context.Context, projectID, containerID string, at time.Time) Exit {
	e := Exit{ProjectID: projectID, ContainerID: containerID, At: at}
	if c, err := d.cli(ctx).ContainerInspect(ctx, containerID); err == nil && c.State != nil {
		e.ExitCode = c.State.ExitCode
		e.OOMKilled = c.State.OOMKilled
		if t, err := time.Parse(time.RFC3339Nano, c.State.FinishedAt); err == nil && !t.IsZero() {
			e.At = t
		}
	}
	e.LogTail = d.logTail(ctx, projectID, exitLogLines)
	return e
}
