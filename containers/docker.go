// Package containers runs each project in its own hardened container and
// owns everything studio knows about the container engine.
package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/google/uuid"

	"studio/containers/image"
)

// Labels on every container and network studio creates. Reconciliation and
// the exit watcher only ever look at objects carrying this instance's labels.
const (
	labelProject  = "studio.project"
	labelManaged  = "studio.managed"
	labelInstance = "studio.instance"
	labelSpec     = "studio.spec" // hash of the create configuration
)

// Options tunes the Docker runtime; zero fields take the defaults.
type Options struct {
	Host        string        // engine address; default DOCKER_HOST or the local socket
	Image       string        // runtime image; default image.Reference()
	Instance    string        // this studio installation's id; default "default"
	Memory      int64         // bytes per project; default 1 GiB
	NanoCPUs    int64         // CPU per project in 1e-9 CPUs; default 1 CPU
	PidsLimit   int64         // processes per project; default 512
	StopTimeout time.Duration // grace period before a stopped dev server is killed; default 5s
	Traefik     *Traefik      // routes previews by labels (STUDIO_ROUTER=traefik); nil = studio's own proxy
	Logger      *slog.Logger  // default slog.Default()
}

func (o Options) withDefaults() Options {
	if o.Image == "" {
		o.Image = image.Reference()
	}
	if o.Instance == "" {
		o.Instance = "default"
	}
	if o.Memory == 0 {
		o.Memory = 1 << 30
	}
	if o.NanoCPUs == 0 {
		o.NanoCPUs = 1e9
	}
	if o.PidsLimit == 0 {
		o.PidsLimit = 512
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Docker is the Docker-engine runtime.
type Docker struct {
	api  *client.Client
	opts Options

	mu         sync.Mutex
	negotiated bool
}

// cli returns the client after negotiating the API version once. The
// client negotiates lazily on its own, but that write races with requests
// already running on other goroutines (the event stream among them), so
// the first caller settles it under a lock before anyone else proceeds.
func (d *Docker) cli(ctx context.Context) *client.Client {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.negotiated {
		if ping, err := d.api.Ping(ctx); err == nil {
			d.api.NegotiateAPIVersionPing(ping)
			d.negotiated = true
		}
	}
	return d.api
}

var _ Engine = (*Docker)(nil)

// NewDocker connects to the engine named by DOCKER_HOST (default: the local
// socket) with default options, negotiating the API version so older
// engines keep working.
func NewDocker() (*Docker, error) { return NewDockerWith(Options{}) }

// NewDockerWith is NewDocker with options.
func NewDockerWith(opts Options) (*Docker, error) {
	opts = opts.withDefaults()
	clientOpts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if opts.Host != "" {
		clientOpts = append(clientOpts, client.WithHost(opts.Host))
	}
	api, err := client.NewClientWithOpts(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Docker{api: api, opts: opts}, nil
}

// Ping reports whether the engine answers.
func (d *Docker) Ping(ctx context.Context) error {
	if _, err := d.cli(ctx).Ping(ctx); err != nil {
		return fmt.Errorf("docker engine: %w", engineErr(err))
	}
	return nil
}

// Close releases the client's connections.
func (d *Docker) Close() error { return d.api.Close() }

// Image is the runtime image new containers are created from.
func (d *Docker) Image() string { return d.opts.Image }

// Start starts the project's container.
func (d *Docker) Start(ctx context.Context, projectID string) error {
	name, err := containerName(projectID)
	if err != nil {
		return err
	}
	err = d.cli(ctx).ContainerStart(ctx, name, container.StartOptions{})
	if cerrdefs.IsNotFound(err) {
		// The container, or the network it needs, is gone.
		if _, ierr := d.inspect(ctx, projectID); errors.Is(ierr, ErrNotFound) {
			return ierr
		}
	}
	if err != nil {
		return fmt.Errorf("start container of project %s: %w", projectID, engineErr(err))
	}
	return nil
}

// Stop stops the project's container, giving the dev server StopTimeout to
// exit on SIGTERM. A paused container is thawed first, so the dev server
// hears the signal and exits in its own time.
func (d *Docker) Stop(ctx context.Context, projectID string) error {
	name, err := containerName(projectID)
	if err != nil {
		return err
	}
	if err := d.Unpause(ctx, projectID); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	timeout := int(d.opts.StopTimeout.Round(time.Second) / time.Second)
	err = d.cli(ctx).ContainerStop(ctx, name, container.StopOptions{Timeout: &timeout})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop container of project %s: %w", projectID, engineErr(err))
	}
	return nil
}

// Remove deletes the project's container and network.
func (d *Docker) Remove(ctx context.Context, projectID string) error {
	name, err := containerName(projectID)
	if err != nil {
		return err
	}
	err = d.cli(ctx).ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container of project %s: %w", projectID, engineErr(err))
	}
	if err := d.detachRouter(ctx, projectID); err != nil {
		return err
	}
	err = d.cli(ctx).NetworkRemove(ctx, networkName(projectID))
	if err != nil && strings.Contains(err.Error(), "active endpoints") {
		// Another replica's attachment loop connected Traefik again
		// between the two calls: once more.
		if err := d.detachRouter(ctx, projectID); err != nil {
			return err
		}
		err = d.cli(ctx).NetworkRemove(ctx, networkName(projectID))
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove network of project %s: %w", projectID, engineErr(err))
	}
	return nil
}

// Status reports the state of the project's container.
func (d *Docker) Status(ctx context.Context, projectID string) (Status, error) {
	c, err := d.inspect(ctx, projectID)
	if errors.Is(err, ErrNotFound) {
		return Status{ProjectID: projectID, State: StateMissing}, nil
	}
	if err != nil {
		return Status{}, err
	}
	return statusOf(projectID, c), nil
}

// Endpoint returns the loopback address of the running dev server.
func (d *Docker) Endpoint(ctx context.Context, projectID string) (string, error) {
	st, err := d.Status(ctx, projectID)
	if err != nil {
		return "", err
	}
	switch {
	case st.State == StateMissing:
		return "", fmt.Errorf("project %s: %w", projectID, ErrNotFound)
	case st.State != StateRunning:
		return "", fmt.Errorf("project %s: %w", projectID, ErrNotRunning)
	case st.Endpoint == "":
		return "", fmt.Errorf("project %s: container publishes no dev-server port", projectID)
	}
	return st.Endpoint, nil
}

// ListManaged lists this instance's projects that have a container or a
// network. A project with only a network is reported as StateMissing.
func (d *Docker) ListManaged(ctx context.Context) ([]Status, error) {
	f := d.managedFilter()
	cs, err := d.cli(ctx).ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list project containers: %w", engineErr(err))
	}
	nets, err := d.cli(ctx).NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list project networks: %w", engineErr(err))
	}

	var out []Status
	seen := map[string]bool{}
	for _, c := range cs {
		id := c.Labels[labelProject]
		seen[id] = true
		st := Status{ProjectID: id, ContainerID: c.ID, State: stateOf(string(c.State)), Paused: c.State == container.StatePaused}
		if st.State == StateRunning {
			st.Endpoint = endpointOfSummary(c)
		}
		out = append(out, st)
	}
	for _, n := range nets {
		if id := n.Labels[labelProject]; !seen[id] {
			seen[id] = true
			out = append(out, Status{ProjectID: id, State: StateMissing})
		}
	}
	return out, nil
}

func (d *Docker) managedFilter() filters.Args {
	return filters.NewArgs(
		filters.Arg("label", labelManaged+"=true"),
		filters.Arg("label", labelInstance+"="+d.opts.Instance),
	)
}

// inspect returns the project's container or ErrNotFound.
func (d *Docker) inspect(ctx context.Context, projectID string) (container.InspectResponse, error) {
	name, err := containerName(projectID)
	if err != nil {
		return container.InspectResponse{}, err
	}
	c, err := d.cli(ctx).ContainerInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return c, fmt.Errorf("project %s: %w", projectID, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("inspect container of project %s: %w", projectID, engineErr(err))
	}
	return c, nil
}

func statusOf(projectID string, c container.InspectResponse) Status {
	st := Status{ProjectID: projectID, ContainerID: c.ID, State: StateStopped}
	if c.State == nil {
		return st
	}
	st.State = stateOf(string(c.State.Status))
	st.Paused = c.State.Paused
	st.ExitCode = c.State.ExitCode
	st.OOMKilled = c.State.OOMKilled
	st.StartedAt, _ = time.Parse(time.RFC3339Nano, c.State.StartedAt)
	st.FinishedAt, _ = time.Parse(time.RFC3339Nano, c.State.FinishedAt)
	if st.State == StateRunning && c.NetworkSettings != nil {
		for _, b := range c.NetworkSettings.Ports[devServerPort] {
			if b.HostIP == loopback && b.HostPort != "" {
				st.Endpoint = loopback + ":" + b.HostPort
			}
		}
	}
	return st
}

func endpointOfSummary(c container.Summary) string {
	for _, p := range c.Ports {
		if int(p.PrivatePort) == devServerPort.Int() && p.IP == loopback && p.PublicPort != 0 {
			return fmt.Sprintf("%s:%d", loopback, p.PublicPort)
		}
	}
	return ""
}

func stateOf(s string) State {
	switch s {
	case "created":
		return StateCreated
	case "running", "restarting", "paused": // a paused one runs on when thawed
		return StateRunning
	default: // exited, dead, removing
		return StateStopped
	}
}

// containerName and networkName derive engine names from the project id,
// which must be a UUID: it ends up in names, labels and filters.
func containerName(projectID string) (string, error) {
	if err := uuid.Validate(projectID); err != nil {
		return "", fmt.Errorf("project id %q: %w", projectID, err)
	}
	return "studio-" + projectID, nil
}

func networkName(projectID string) string { return "studio-" + projectID }

// engineErr marks connection failures so callers can tell "the engine is
// down" from "the engine said no".
func engineErr(err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%w: %w", ErrEngineUnavailable, err)
	}
	return err
}

// Usage is what a running container consumes right now.
type Usage struct {
	MemoryBytes uint64
	MemoryLimit uint64
	CPUPercent  float64 // of one CPU
}

// Usage samples a project container twice, a quarter second apart, for
// its memory and the CPU it used in between.
func (d *Docker) Usage(ctx context.Context, projectID string) (Usage, error) {
	first, err := d.stats(ctx, projectID)
	if err != nil {
		return Usage{}, err
	}
	select {
	case <-ctx.Done():
		return Usage{}, ctx.Err()
	case <-time.After(250 * time.Millisecond):
	}
	second, err := d.stats(ctx, projectID)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{MemoryBytes: second.MemoryStats.Usage, MemoryLimit: second.MemoryStats.Limit}
	if cache, ok := second.MemoryStats.Stats["cache"]; ok && cache < u.MemoryBytes {
		u.MemoryBytes -= cache // what the kernel could drop is not the project's
	}
	cpu := float64(second.CPUStats.CPUUsage.TotalUsage) - float64(first.CPUStats.CPUUsage.TotalUsage)
	sys := float64(second.CPUStats.SystemUsage) - float64(first.CPUStats.SystemUsage)
	if cpu > 0 && sys > 0 {
		u.CPUPercent = cpu / sys * float64(second.CPUStats.OnlineCPUs) * 100
	}
	return u, nil
}

func (d *Docker) stats(ctx context.Context, projectID string) (container.StatsResponse, error) {
	var st container.StatsResponse
	name, err := containerName(projectID)
	if err != nil {
		return st, err
	}
	res, err := d.cli(ctx).ContainerStatsOneShot(ctx, name)
	if err != nil {
		return st, fmt.Errorf("usage of %s: %w", projectID, engineErr(err))
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("usage of %s: %w", projectID, err)
	}
	return st, nil
}
