package containers

import (
	"context"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// Traefik describes the Traefik v3 that routes preview hosts when studio
// runs with STUDIO_ROUTER=traefik. Its Docker provider finds each project
// container by the labels Labels gives it.
type Traefik struct {
	Domain      string   // previews are {slug}.{Domain}
	AuthURL     string   // ForwardAuth address: studio decides who may see a preview
	EntryPoints []string // entry points of the project routers
	Service     string   // Traefik's name for studio's own service, which answers when a dev server is down
	Container   string   // the Traefik container, connected to each project's network; "" when it reaches them from the host
}

// UnavailablePath is where the errors middleware sends a request whose dev
// server did not answer; studio's preview handler answers it like any
// request for that preview host.
const UnavailablePath = "/__studio/unavailable"

// Labels route Host({slug}.{domain}) to the project's dev server, through a
// ForwardAuth middleware (studio grants exactly what its own proxy would,
// and hands back the request's cookies without studio's own) and an errors
// middleware (a dev server that does not answer gets studio's page, never
// a bare 502/504). Traefik reaches the container on the project's own
// network. Labels are fixed when a container is created: nothing here may
// change while a project lives (its id and slug do not; sharing is decided
// per request by ForwardAuth).
func (t *Traefik) Labels(projectID, slug string) map[string]string {
	name := "studio-" + projectID
	router := "traefik.http.routers." + name
	auth, down := name+"-auth", name+"-down"
	return map[string]string{
		"traefik.enable":         "true",
		"traefik.docker.network": networkName(projectID),
		router + ".rule":         fmt.Sprintf("Host(`%s.%s`)", slug, strings.ToLower(t.Domain)),
		router + ".entrypoints":  strings.Join(t.EntryPoints, ","),
		router + ".service":      name,
		// Above the catch-all for preview hosts (1), below every router
		// with a default priority (its rule's length): a project named
		// like the UI's host never takes the UI's route.
		router + ".priority": "2",
		// Listed first, ForwardAuth is the outer one: its refusals and
		// "Starting…" pages reach the browser as studio wrote them.
		router + ".middlewares": auth + "," + down,
		"traefik.http.middlewares." + auth + ".forwardauth.address":             t.AuthURL,
		"traefik.http.middlewares." + auth + ".forwardauth.authResponseHeaders": "Cookie",
		// Said explicitly, Traefik drops every X-Forwarded-* a client sent
		// before it sets its own (unsaid, some pass on to studio).
		"traefik.http.middlewares." + auth + ".forwardauth.trustForwardHeader": "false",
		// Studio's answers are short pages; Traefik reads them whole.
		"traefik.http.middlewares." + auth + ".forwardauth.maxResponseBodySize": "1048576",
		// Not 503: an app answers it for its own reasons (maintenance).
		"traefik.http.middlewares." + down + ".errors.status":         "502,504",
		"traefik.http.middlewares." + down + ".errors.service":        t.Service,
		"traefik.http.middlewares." + down + ".errors.query":          UnavailablePath + "?status={status}",
		"traefik.http.services." + name + ".loadbalancer.server.port": devServerPort.Port(),
	}
}

// attachRouter connects the Traefik container to a project's network, so
// it reaches that project and no project reaches another through a network
// they share. Connecting it twice is a no-op.
func (d *Docker) attachRouter(ctx context.Context, networkID string) error {
	t := d.opts.Traefik
	if t == nil || t.Container == "" {
		return nil
	}
	err := d.cli(ctx).NetworkConnect(ctx, networkID, t.Container, nil)
	if err == nil || alreadyAttached(err) {
		return nil
	}
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("connect Traefik to network %s: no container named %q (STUDIO_TRAEFIK_CONTAINER): %w", networkID, t.Container, engineErr(err))
	}
	return fmt.Errorf("connect Traefik to network %s: %w", networkID, engineErr(err))
}

// alreadyAttached: the engine refuses a second endpoint of one container on
// one network (403 "endpoint with name … already exists").
func alreadyAttached(err error) bool {
	return cerrdefs.IsPermissionDenied(err) && strings.Contains(err.Error(), "already exists") ||
		cerrdefs.IsConflict(err)
}

// detachRouter disconnects the Traefik container before a project's
// network is removed (the engine refuses to remove a network in use).
func (d *Docker) detachRouter(ctx context.Context, projectID string) error {
	t := d.opts.Traefik
	if t == nil || t.Container == "" {
		return nil
	}
	err := d.cli(ctx).NetworkDisconnect(ctx, networkName(projectID), t.Container, true)
	if err == nil || cerrdefs.IsNotFound(err) || strings.Contains(err.Error(), "is not connected") {
		return nil
	}
	return fmt.Errorf("disconnect Traefik from the network of project %s: %w", projectID, engineErr(err))
}

// routerRecheck is how often studio makes sure Traefik is still on every
// project's network, besides each time the Traefik container starts: a
// Traefik container that was recreated (an upgrade, `docker compose up`)
// comes back on none of them.
const routerRecheck = 10 * time.Second

// keepRouterAttached connects the Traefik container to every project
// network of this instance it is not on, now, whenever that container
// starts, and every routerRecheck, until ctx ends.
func (d *Docker) keepRouterAttached(ctx context.Context) {
	t := d.opts.Traefik
	if t == nil || t.Container == "" {
		return
	}
	tick := time.NewTicker(routerRecheck)
	defer tick.Stop()
	var starts <-chan events.Message
	var failed <-chan error
	subscribe := true
	for {
		if subscribe {
			starts, failed = d.cli(ctx).Events(ctx, events.ListOptions{Filters: filters.NewArgs(
				filters.Arg("type", string(events.ContainerEventType)),
				filters.Arg("container", t.Container),
				filters.Arg("event", string(events.ActionStart)),
			)})
			subscribe = false
		}
		if err := d.AttachRouter(ctx); err != nil && ctx.Err() == nil {
			d.opts.Logger.WarnContext(ctx, "attach Traefik to the project networks", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			subscribe = starts == nil // a stream that failed is tried again
		case <-starts:
		case <-failed:
			starts, failed = nil, nil
		}
	}
}

// AttachRouter connects the Traefik container to each project network of
// this instance it is not on yet.
func (d *Docker) AttachRouter(ctx context.Context) error {
	t := d.opts.Traefik
	if t == nil || t.Container == "" {
		return nil
	}
	router, err := d.cli(ctx).ContainerInspect(ctx, t.Container)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("no container named %q (STUDIO_TRAEFIK_CONTAINER)", t.Container)
		}
		return fmt.Errorf("inspect the Traefik container: %w", engineErr(err))
	}
	on := map[string]bool{}
	if router.NetworkSettings != nil {
		for _, ep := range router.NetworkSettings.Networks {
			on[ep.NetworkID] = true
		}
	}
	nets, err := d.cli(ctx).NetworkList(ctx, network.ListOptions{Filters: d.managedFilter()})
	if err != nil {
		return fmt.Errorf("list project networks: %w", engineErr(err))
	}
	var errs []error
	for _, n := range nets {
		if !on[n.ID] {
			if err := d.attachRouter(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d networks: %w", len(errs), len(nets), errs[0])
	}
	return nil
}
