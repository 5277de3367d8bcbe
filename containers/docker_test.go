package containers

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/google/uuid"
)

func TestContainerIsHardened(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	projectID, dir, _ := startProject(t, d, "static", "/")
	ctx := testContext(t)

	st, err := d.Status(ctx, projectID)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.api.ContainerInspect(ctx, st.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	hc, netName := c.HostConfig, "studio-"+projectID

	checks := []struct {
		name string
		ok   bool
		got  any
	}{
		{"runs as uid 1000", c.Config.User == "1000:1000", c.Config.User},
		{"drops all capabilities", slices.Equal(hc.CapDrop, []string{"ALL"}), hc.CapDrop},
		{"adds no capabilities", len(hc.CapAdd) == 0, hc.CapAdd},
		{"no-new-privileges", slices.Equal(hc.SecurityOpt, []string{"no-new-privileges"}), hc.SecurityOpt},
		{"read-only root", hc.ReadonlyRootfs, hc.ReadonlyRootfs},
		{"not privileged", !hc.Privileged, hc.Privileged},
		{"/tmp is an exec tmpfs", strings.Contains(hc.Tmpfs["/tmp"], "exec") && !strings.Contains(hc.Tmpfs["/tmp"], "noexec"), hc.Tmpfs},
		{"HOME is a tmpfs", hc.Tmpfs["/home/studio"] != "" && slices.Contains(c.Config.Env, "HOME=/home/studio"), hc.Tmpfs},
		{"memory limit 1 GiB", hc.Memory == 1<<30, hc.Memory},
		{"no swap on top", hc.MemorySwap == hc.Memory, hc.MemorySwap},
		{"1 CPU", hc.NanoCPUs == 1e9, hc.NanoCPUs},
		{"512 processes", hc.PidsLimit != nil && *hc.PidsLimit == 512, hc.PidsLimit},
		{"own network mode", string(hc.NetworkMode) == netName, hc.NetworkMode},
		{"only its own network", slices.Equal(slices.Collect(maps.Keys(c.NetworkSettings.Networks)), []string{netName}), slices.Collect(maps.Keys(c.NetworkSettings.Networks))},
		{"host pid/ipc/uts not shared", hc.PidMode == "" && hc.IpcMode == "private" && hc.UTSMode == "", []any{hc.PidMode, hc.IpcMode, hc.UTSMode}},
		{"no devices", len(hc.Devices) == 0, hc.Devices},
		{"no binds besides the mount", len(hc.Binds) == 0, hc.Binds},
		{"label studio.project", c.Config.Labels["studio.project"] == projectID, c.Config.Labels},
		{"label studio.managed", c.Config.Labels["studio.managed"] == "true", c.Config.Labels},
		{"label studio.instance", c.Config.Labels["studio.instance"] == d.opts.Instance, c.Config.Labels},
	}
	for _, check := range checks {
		if !check.ok {
			t.Errorf("%s: got %v", check.name, check.got)
		}
	}

	// One port, published on loopback only, on a port the engine picked.
	if len(hc.PortBindings) != 1 || len(c.NetworkSettings.Ports) != 1 {
		t.Errorf("published ports: bindings %v, ports %v", hc.PortBindings, c.NetworkSettings.Ports)
	}
	for _, b := range hc.PortBindings["5173/tcp"] {
		if b.HostIP != "127.0.0.1" || b.HostPort != "" {
			t.Errorf("port binding %+v, want 127.0.0.1 and a random port", b)
		}
	}
	for _, b := range c.NetworkSettings.Ports["5173/tcp"] {
		if b.HostIP != "127.0.0.1" || b.HostPort == "" {
			t.Errorf("published %+v, want 127.0.0.1:<port>", b)
		}
	}

	// Exactly one mount: the project directory at /app. Tmpfs mounts are not
	// listed here; no socket, no volume.
	if len(c.Mounts) != 1 {
		t.Fatalf("mounts: %+v", c.Mounts)
	}
	m := c.Mounts[0]
	if m.Type != mount.TypeBind || m.Source != dir || m.Destination != "/app" || !m.RW {
		t.Errorf("mount %+v, want %s read-write at /app", m, dir)
	}

	n, err := d.api.NetworkInspect(ctx, netName, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Driver != "bridge" || n.Labels["studio.project"] != projectID || n.Labels["studio.instance"] != d.opts.Instance {
		t.Errorf("network %s: driver %q labels %v", n.Name, n.Driver, n.Labels)
	}

	// And from the inside.
	inside := []struct {
		argv []string
		code int
		want string
	}{
		{[]string{"id", "-u"}, 0, "1000"},
		{[]string{"grep", "-E", "^(CapEff|NoNewPrivs)", "/proc/self/status"}, 0, "CapEff:\t0000000000000000\nNoNewPrivs:\t1"},
		{[]string{"touch", "/opt/studio/x"}, 1, "Read-only file system"},
		{[]string{"touch", "/app/written-by-the-project-user"}, 0, ""},
		{[]string{"test", "-S", "/var/run/docker.sock"}, 1, ""},
	}
	for _, in := range inside {
		res, err := d.Exec(ctx, projectID, in.argv, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != in.code || !strings.Contains(res.Output, in.want) {
			t.Errorf("%v: exit %d output %q, want exit %d with %q", in.argv, res.ExitCode, res.Output, in.code, in.want)
		}
	}
}

func TestProjectsShareNoNetwork(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	a, _ := newProject(t, d, "static")
	b, _ := newProject(t, d, "static")
	ctx := testContext(t)

	networksOf := func(projectID string) map[string]bool {
		if err := d.Start(ctx, projectID); err != nil {
			t.Fatal(err)
		}
		c, err := d.inspect(ctx, projectID)
		if err != nil {
			t.Fatal(err)
		}
		nets := map[string]bool{}
		for name, ep := range c.NetworkSettings.Networks {
			nets[name], nets[ep.NetworkID] = true, true
		}
		return nets
	}
	netsA, netsB := networksOf(a), networksOf(b)
	for n := range netsA {
		if netsB[n] {
			t.Errorf("projects %s and %s share network %s", a, b, n)
		}
	}
	for _, shared := range []string{"bridge", "host", "none"} {
		if netsA[shared] || netsB[shared] {
			t.Errorf("a project is on the %s network: %v %v", shared, netsA, netsB)
		}
	}
	// Each project network holds exactly its own container.
	for _, projectID := range []string{a, b} {
		n, err := d.api.NetworkInspect(ctx, "studio-"+projectID, network.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st, _ := d.Status(ctx, projectID)
		if len(n.Containers) != 1 || n.Containers[st.ContainerID].Name != "studio-"+projectID {
			t.Errorf("network of %s holds %v", projectID, n.Containers)
		}
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	projectID, dir := newProject(t, d, "static")
	ctx := testContext(t)

	created, err := d.Status(ctx, projectID)
	if err != nil || created.State != StateCreated {
		t.Fatalf("after Ensure: %+v, %v", created, err)
	}
	again, err := d.Ensure(ctx, Spec{ProjectID: projectID, Dir: dir})
	if err != nil || again.ContainerID != created.ContainerID {
		t.Fatalf("second Ensure: %+v, %v; want container %s kept", again, err, created.ContainerID)
	}

	if err := d.Start(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, projectID); err != nil {
		t.Fatalf("starting a running container: %v", err)
	}
	first, err := d.WaitReady(ctx, projectID, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	managed, err := d.ListManaged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(managed) != 1 || managed[0].ProjectID != projectID || managed[0].State != StateRunning || managed[0].Endpoint != first {
		t.Errorf("ListManaged = %+v, want %s running at %s", managed, projectID, first)
	}

	if err := d.Stop(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(ctx, projectID); err != nil {
		t.Fatalf("stopping a stopped container: %v", err)
	}
	if st, _ := d.Status(ctx, projectID); st.State != StateStopped || st.Endpoint != "" {
		t.Errorf("after Stop: %+v", st)
	}
	if _, err := d.Endpoint(ctx, projectID); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Endpoint of a stopped project: %v, want ErrNotRunning", err)
	}

	// Waking keeps the container; the engine picks a new port.
	if err := d.Start(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WaitReady(ctx, projectID, "/", nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.Status(ctx, projectID); st.ContainerID != created.ContainerID {
		t.Errorf("wake replaced the container: %s, want %s", st.ContainerID, created.ContainerID)
	}

	// Other limits make the container out of date; Ensure replaces it.
	tighter := testDocker(t, Options{Instance: d.opts.Instance, Memory: 512 << 20})
	replaced, err := tighter.Ensure(ctx, Spec{ProjectID: projectID, Dir: dir})
	if err != nil || replaced.ContainerID == created.ContainerID {
		t.Errorf("Ensure with new limits: %+v, %v; want a new container", replaced, err)
	}

	if err := d.Remove(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx, projectID); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	if st, err := d.Status(ctx, projectID); err != nil || st.State != StateMissing {
		t.Errorf("after Remove: %+v, %v", st, err)
	}
	if _, err := d.api.NetworkInspect(ctx, "studio-"+projectID, network.InspectOptions{}); err == nil {
		t.Error("the project network outlived Remove")
	}
	if err := d.Start(ctx, projectID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Start after Remove: %v, want ErrNotFound", err)
	}
}

func TestMissingImage(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{Image: "studio-runtime:missing-in-this-test"})
	projectID := uuid.NewString()
	t.Cleanup(func() { d.Remove(context.Background(), projectID) })

	_, err := d.Ensure(testContext(t), Spec{ProjectID: projectID, Dir: t.TempDir()})
	if !errors.Is(err, ErrImageMissing) {
		t.Fatalf("Ensure: %v, want ErrImageMissing", err)
	}
	want := "runtime image studio-runtime:missing-in-this-test is missing; build it with `go tool task image`"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestEngineUnavailable(t *testing.T) {
	t.Parallel()
	d, err := NewDockerWith(Options{Host: "unix:///nonexistent/docker.sock"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := testContext(t)
	if err := d.Ping(ctx); !errors.Is(err, ErrEngineUnavailable) {
		t.Errorf("Ping: %v, want ErrEngineUnavailable", err)
	}
	_, err = d.Ensure(ctx, Spec{ProjectID: uuid.NewString(), Dir: t.TempDir()})
	if !errors.Is(err, ErrEngineUnavailable) {
		t.Errorf("Ensure: %v, want ErrEngineUnavailable", err)
	}
}

func TestRejectsBadSpecs(t *testing.T) {
	t.Parallel()
	d, err := NewDockerWith(Options{Host: "unix:///nonexistent/docker.sock"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tests := []struct {
		name string
		spec Spec
	}{
		{"project id is not a UUID", Spec{ProjectID: "../etc", Dir: t.TempDir()}},
		{"relative dir", Spec{ProjectID: uuid.NewString(), Dir: "data/p"}},
		{"missing dir", Spec{ProjectID: uuid.NewString(), Dir: "/nonexistent/project"}},
	}
	for _, tt := range tests {
		if _, err := d.Ensure(context.Background(), tt.spec); err == nil || errors.Is(err, ErrEngineUnavailable) {
			t.Errorf("%s: Ensure = %v, want a validation error", tt.name, err)
		}
	}
}

func TestUsageOfARunningProject(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	id, _, _ := startProject(t, d, "static", "/")
	u, err := d.Usage(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if u.MemoryBytes == 0 || u.MemoryLimit != 1<<30 || u.CPUPercent < 0 {
		t.Fatalf("usage: %+v", u)
	}
}
