package containers

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/google/uuid"

	"studio/internal/testwait"
)

func testTraefik(routerContainer string) *Traefik {
	return &Traefik{
		Domain:      "Preview.Example.COM",
		AuthURL:     "http://studio:8080/__studio/forward-auth",
		EntryPoints: []string{"web", "websecure"},
		Service:     "studio@docker",
		Container:   routerContainer,
	}
}

// TestTraefikLabels: the labels are exactly what Traefik v3's Docker
// provider reads (names checked against its documentation), and they
// depend on nothing that changes while a project lives.
func TestTraefikLabels(t *testing.T) {
	id := "0b5c7a2e-3f41-4d7e-9c1a-5e2f8d6b4a10"
	got := testTraefik("").Labels(id, "my-app")
	want := map[string]string{
		"traefik.enable":                                                                  "true",
		"traefik.docker.network":                                                          "studio-" + id,
		"traefik.http.routers.studio-" + id + ".rule":                                     "Host(`my-app.preview.example.com`)",
		"traefik.http.routers.studio-" + id + ".entrypoints":                              "web,websecure",
		"traefik.http.routers.studio-" + id + ".service":                                  "studio-" + id,
		"traefik.http.routers.studio-" + id + ".priority":                                 "2",
		"traefik.http.routers.studio-" + id + ".middlewares":                              "studio-" + id + "-auth,studio-" + id + "-down",
		"traefik.http.middlewares.studio-" + id + "-auth.forwardauth.address":             "http://studio:8080/__studio/forward-auth",
		"traefik.http.middlewares.studio-" + id + "-auth.forwardauth.authResponseHeaders": "Cookie",
		"traefik.http.middlewares.studio-" + id + "-auth.forwardauth.trustForwardHeader":  "false",
		"traefik.http.middlewares.studio-" + id + "-auth.forwardauth.maxResponseBodySize": "1048576",
		"traefik.http.middlewares.studio-" + id + "-down.errors.status":                   "502,504",
		"traefik.http.middlewares.studio-" + id + "-down.errors.service":                  "studio@docker",
		"traefik.http.middlewares.studio-" + id + "-down.errors.query":                    "/__studio/unavailable?status={status}",
		"traefik.http.services.studio-" + id + ".loadbalancer.server.port":                "5173",
	}
	if !maps.Equal(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected label %s=%q", k, got[k])
			}
		}
	}
	// Sharing is decided per request by ForwardAuth, never by a label: a
	// container's labels cannot change while it lives.
	for k := range got {
		if strings.Contains(strings.ToLower(k), "share") {
			t.Errorf("a label depends on sharing: %s", k)
		}
	}
	// Another project never shares a router, service or middleware name.
	other := testTraefik("").Labels(uuid.NewString(), "my-app-2")
	for k := range other {
		if _, clash := got[k]; clash && strings.HasPrefix(k, "traefik.http.") {
			t.Errorf("two projects share the label %s", k)
		}
	}
}

// TestTraefikLabelsOnContainers: a project container carries the labels
// with its slug, keeps its container across stop, start and a rename (the
// slug stays), and a container made without the router carries none, and
// is not replaced because a slug is now passed.
func TestTraefikLabelsOnContainers(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	plain := testDocker(t, Options{})
	id, dir := newProject(t, plain, "static")
	c, err := plain.inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for k := range c.Config.Labels {
		if strings.HasPrefix(k, "traefik.") {
			t.Errorf("a container of studio's own proxy carries %s", k)
		}
	}
	if st, err := plain.Ensure(ctx, Spec{ProjectID: id, Dir: dir, Slug: "named-now"}); err != nil || st.ContainerID != c.ID {
		t.Fatalf("a slug alone replaced the container: %v %s → %s", err, c.ID, st.ContainerID)
	}

	routed := testDocker(t, Options{Traefik: testTraefik("")})
	id, dir = uuid.NewString(), t.TempDir()
	t.Cleanup(func() { routed.Remove(context.Background(), id) })
	first, err := routed.Ensure(ctx, Spec{ProjectID: id, Dir: dir, Slug: "my-app"})
	if err != nil {
		t.Fatal(err)
	}
	c, err = routed.inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range testTraefik("").Labels(id, "my-app") {
		if c.Config.Labels[k] != v {
			t.Errorf("container label %s = %q, want %q", k, c.Config.Labels[k], v)
		}
	}
	if err := routed.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := routed.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	again, err := routed.Ensure(ctx, Spec{ProjectID: id, Dir: dir, Slug: "my-app"})
	if err != nil || again.ContainerID != first.ContainerID {
		t.Fatalf("a restart replaced the container: %v %s → %s", err, first.ContainerID, again.ContainerID)
	}
	// Another preview domain is another route: the container is replaced.
	other := testTraefik("")
	other.Domain = "previews.example.net"
	moved := testDocker(t, Options{Traefik: other, Instance: routed.opts.Instance})
	replaced, err := moved.Ensure(ctx, Spec{ProjectID: id, Dir: dir, Slug: "my-app"})
	if err != nil || replaced.ContainerID == first.ContainerID {
		t.Fatalf("a new preview domain kept the old labels: %v", err)
	}
	c, _ = moved.inspect(ctx, id)
	if rule := c.Config.Labels["traefik.http.routers.studio-"+id+".rule"]; rule != "Host(`my-app.previews.example.net`)" {
		t.Fatalf("rule after the domain changed: %q", rule)
	}
}

// TestTraefikReachesEachProjectAndNoProjectAnother: the Traefik container
// is connected to each project's own network and reaches every dev
// server; the projects still cannot reach each other; deleting a project
// takes Traefik off its network; a Traefik container that lost its
// networks (recreated) gets them back. A container that only waits stands
// in for Traefik: what matters here is the networks it is on.
func TestTraefikReachesEachProjectAndNoProjectAnother(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	probe := testDocker(t, Options{})
	router := "studio-test-router-" + uuid.NewString()[:8]
	// Traefik's own network, as in deploy/docker-compose.yml.
	if _, err := probe.api.NetworkCreate(ctx, router, network.CreateOptions{Driver: "bridge"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { probe.api.NetworkRemove(context.Background(), router) })
	startRouter(t, probe, router, router)

	d := testDocker(t, Options{Traefik: testTraefik(router)})
	a, _, _ := startProject(t, d, "static", "/")
	b, dirB, _ := startProject(t, d, "static", "/")
	ipOf := func(name, netName string) string {
		t.Helper()
		c, err := d.api.ContainerInspect(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		ep := c.NetworkSettings.Networks[netName]
		if ep == nil || ep.IPAddress == "" {
			t.Fatalf("%s is not on %s: %v", name, netName, slices.Collect(maps.Keys(c.NetworkSettings.Networks)))
		}
		return ep.IPAddress
	}
	// fetch asks from inside a container for a dev server's page.
	fetch := func(from, ip string) error {
		js := `fetch("http://` + ip + `:5173/", {signal: AbortSignal.timeout(3000)}).then(r => process.exit(r.ok ? 0 : 2), e => { console.error(e.cause ?? e); process.exit(1) })`
		if out, err := exec.CommandContext(ctx, "docker", "exec", from, "node", "-e", js).CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	ipA, ipB := ipOf("studio-"+a, "studio-"+a), ipOf("studio-"+b, "studio-"+b)
	ipOf(router, "studio-"+a)
	ipOf(router, "studio-"+b)
	if err := fetch(router, ipA); err != nil {
		t.Fatalf("Traefik does not reach project a: %s", err)
	}
	if err := fetch(router, ipB); err != nil {
		t.Fatalf("Traefik does not reach project b: %s", err)
	}
	if err := fetch("studio-"+a, ipB); err == nil {
		t.Fatal("project a reaches project b's dev server")
	}
	if err := fetch("studio-"+b, ipA); err == nil {
		t.Fatal("project b reaches project a's dev server")
	}

	// Traefik recreated: on none of the networks until studio notices.
	for _, p := range []string{a, b} {
		if err := d.api.NetworkDisconnect(ctx, "studio-"+p, router, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AttachRouter(ctx); err != nil {
		t.Fatal(err)
	}
	ipOf(router, "studio-"+a)
	ipOf(router, "studio-"+b)
	if err := d.AttachRouter(ctx); err != nil {
		t.Fatalf("attaching twice: %v", err)
	}
	// Ensure connects it again: the engine's "already exists" is no error.
	if _, err := d.Ensure(ctx, Spec{ProjectID: b, Dir: dirB, Slug: "b"}); err != nil {
		t.Fatalf("Ensure with Traefik already on the network: %v", err)
	}

	// Deleting a project takes Traefik off its network, and the network goes.
	if err := d.Remove(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := d.api.NetworkInspect(ctx, "studio-"+a, network.InspectOptions{}); err == nil {
		t.Fatal("the network of a deleted project is still there")
	}
	ipOf(router, "studio-"+b)
}

// TestTraefikContainerMissing: a mistyped STUDIO_TRAEFIK_CONTAINER is an
// error that names the setting, not a project that starts unreachable.
func TestTraefikContainerMissing(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{Traefik: testTraefik("no-such-traefik-" + uuid.NewString()[:8])})
	id := uuid.NewString()
	t.Cleanup(func() { d.Remove(context.Background(), id) })
	_, err := d.Ensure(testContext(t), Spec{ProjectID: id, Dir: t.TempDir(), Slug: "x"})
	if err == nil || !strings.Contains(err.Error(), "STUDIO_TRAEFIK_CONTAINER") {
		t.Fatalf("Ensure with a missing Traefik container: %v", err)
	}
	if err := d.AttachRouter(testContext(t)); err == nil || !strings.Contains(err.Error(), "STUDIO_TRAEFIK_CONTAINER") {
		t.Fatalf("AttachRouter with a missing Traefik container: %v", err)
	}
}

// TestTraefikRecreatedIsAttachedAgain: a Traefik container recreated
// under the same name (an upgrade, `docker compose up`) is connected to
// every project network again as soon as it starts.
func TestTraefikRecreatedIsAttachedAgain(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	probe := testDocker(t, Options{})
	router := "studio-test-router-" + uuid.NewString()[:8]
	startRouter(t, probe, router, "")
	d := testDocker(t, Options{Traefik: testTraefik(router)})
	watch, stop := context.WithCancel(ctx)
	defer stop()
	go d.Watch(watch, func(Exit) {})
	id, _ := newProject(t, d, "static")

	if err := probe.api.ContainerRemove(ctx, router, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	startRouter(t, probe, router, "")
	// Sooner than the periodic recheck: the start event triggers it.
	testwait.Eventually(t, routerRecheck/2, func() bool {
		c, err := d.api.ContainerInspect(ctx, router)
		return err == nil && c.NetworkSettings.Networks["studio-"+id] != nil
	}, "the recreated Traefik container is on the project's network")
}

// startRouter runs a container named name that only waits, standing in for
// Traefik (what matters is the networks it is on), on network (empty: the
// engine's default), and removes it when the test ends.
func startRouter(t *testing.T, d *Docker, name, network string) {
	t.Helper()
	ctx := testContext(t)
	if _, err := d.api.ContainerCreate(ctx, &container.Config{
		Image: d.Image(), User: "1000:1000",
		Cmd: []string{"node", "-e", "setInterval(() => {}, 1 << 30)"},
	}, &container.HostConfig{NetworkMode: container.NetworkMode(network), CapDrop: []string{"ALL"}}, nil, nil, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.api.ContainerRemove(context.Background(), name, container.RemoveOptions{Force: true})
	})
	if err := d.api.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
}
