// Package traefiktest runs a real Traefik v3 in a container for tests: the
// image studio-test-traefik:<version>, built from the Go module proxy by
// scripts/traefik-binary, with its Docker provider reading the local
// engine. A test starts one with Start, lets it route containers by their
// labels, and sends requests to its published loopback port. See README.md
// for what was learned about Traefik's behaviour with it.
package traefiktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

const (
	webPort     nat.Port = "80/tcp"
	traefikPort nat.Port = "8080/tcp" // Traefik's own entry point: ping and the API
	// dynamicFile is where Options.Dynamic is mounted for the file provider.
	dynamicFile = "/etc/traefik/dynamic.yml"
	// managedLabel marks the containers and networks this package makes.
	managedLabel = "studio.traefiktest"
)

// Options say how to run Traefik.
type Options struct {
	// Network is the Docker network Traefik starts on; empty is the
	// engine's default bridge. Connect joins it to more.
	Network string
	// LogLevel is Traefik's log.level (TRACE, DEBUG, INFO, WARN, ERROR);
	// empty is INFO.
	LogLevel string
	// DialTimeout is the default servers transport's dial timeout: how
	// long Traefik tries to reach a dead upstream before it answers 504.
	// Zero is 2s (Traefik's own default is 30s).
	DialTimeout time.Duration
	// Dynamic, when set, is a dynamic configuration in YAML served by the
	// file provider, so its routers, services and middlewares are known as
	// <name>@file (for one an errors middleware points at, say).
	Dynamic string
	// Args are further static configuration flags, e.g.
	// "--entryPoints.web.forwardedHeaders.insecure=true".
	Args []string
}

// Traefik is a running Traefik container.
type Traefik struct {
	Name string // the container's name, unique to this run
	ID   string
	// Addr is the web entry point (:80 inside) published on loopback,
	// "127.0.0.1:port": send requests here with the Host to route.
	Addr string
	// APIAddr is Traefik's own entry point (:8080 inside: /ping and the
	// read-only /api) published on loopback.
	APIAddr string

	cli *client.Client
}

// Start runs Traefik for the test and stops it when the test ends,
// printing its log first if the test failed. It waits until /ping answers.
// It skips the test when the Docker engine cannot be reached or the image
// cannot be built (scripts/traefik-binary needs the Go module proxy for its
// first build).
func Start(t testing.TB, opts Options) *Traefik {
	t.Helper()
	cli := engine(t)
	ref, err := ensureImage()
	if err != nil {
		t.Skipf("skipping: no Traefik image: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var dynamicDir string
	if opts.Dynamic != "" {
		dynamicDir = t.TempDir()
		if err := os.Chmod(dynamicDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dynamicDir+"/dynamic.yml", []byte(opts.Dynamic), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	tr := &Traefik{Name: "traefiktest-" + randomHex(6), cli: cli}
	config, host := containerConfig(ref, opts, dynamicDir)
	created, err := cli.ContainerCreate(ctx, config, host, nil, nil, tr.Name)
	if err != nil {
		t.Fatalf("create Traefik container: %v", err)
	}
	tr.ID = created.ID
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Traefik %s log:\n%s", tr.Name, tr.Logs())
		}
		tr.Stop()
	})
	started := time.Now()
	if err := cli.ContainerStart(ctx, tr.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start Traefik container: %v", err)
	}
	if err := tr.readPorts(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.waitPing(ctx); err != nil {
		t.Fatalf("%v\nTraefik log:\n%s", err, tr.Logs())
	}
	t.Logf("Traefik %s answered /ping %s after docker start", tr.Name, time.Since(started).Round(time.Millisecond))
	return tr
}

func containerConfig(ref string, opts Options, dynamicDir string) (*container.Config, *container.HostConfig) {
	level := opts.LogLevel
	if level == "" {
		level = "INFO"
	}
	dial := opts.DialTimeout
	if dial == 0 {
		dial = 2 * time.Second
	}
	args := []string{
		// Traefik calls home for new versions unless told not to; tests
		// talk to nothing outside this machine.
		"--global.checkNewVersion=false",
		"--global.sendAnonymousUsage=false",
		"--log.level=" + level,
		"--log.noColor=true",
		"--accessLog=true",
		"--entryPoints.web.address=:80",
		"--entryPoints.traefik.address=:8080",
		"--ping=true",
		"--api=true",
		"--api.insecure=true",
		"--api.dashboard=false", // the module has no built web UI
		"--providers.docker=true",
		"--providers.docker.endpoint=unix:///var/run/docker.sock",
		"--providers.docker.exposedByDefault=false",
		"--serversTransport.forwardingTimeouts.dialTimeout=" + dial.String(),
	}
	host := &container.HostConfig{
		PortBindings: nat.PortMap{
			webPort:     {{HostIP: "127.0.0.1"}},
			traefikPort: {{HostIP: "127.0.0.1"}},
		},
		// A test fixture: Traefik reads the engine's containers and
		// events, read-only.
		Mounts: []mount.Mount{{
			Type: mount.TypeBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock", ReadOnly: true,
		}},
	}
	if opts.Network != "" {
		host.NetworkMode = container.NetworkMode(opts.Network)
	}
	if dynamicDir != "" {
		host.Mounts = append(host.Mounts, mount.Mount{
			Type: mount.TypeBind, Source: dynamicDir, Target: "/etc/traefik", ReadOnly: true,
		})
		args = append(args, "--providers.file.filename="+dynamicFile)
	}
	args = append(args, opts.Args...)
	config := &container.Config{
		Image:        ref,
		Cmd:          args,
		ExposedPorts: nat.PortSet{webPort: {}, traefikPort: {}},
		Labels:       map[string]string{managedLabel: "traefik"},
	}
	return config, host
}

func (tr *Traefik) readPorts(ctx context.Context) error {
	info, err := tr.cli.ContainerInspect(ctx, tr.ID)
	if err != nil {
		return fmt.Errorf("inspect Traefik container: %w", err)
	}
	addr := func(p nat.Port) (string, error) {
		for _, b := range info.NetworkSettings.Ports[p] {
			if b.HostIP == "127.0.0.1" {
				return net.JoinHostPort(b.HostIP, b.HostPort), nil
			}
		}
		return "", fmt.Errorf("Traefik's port %s is not published on 127.0.0.1", p)
	}
	if tr.Addr, err = addr(webPort); err != nil {
		return err
	}
	tr.APIAddr, err = addr(traefikPort)
	return err
}

func (tr *Traefik) waitPing(ctx context.Context) error {
	for {
		resp, err := http.Get("http://" + tr.APIAddr + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Traefik's /ping did not answer 200: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Connect joins Traefik to a network, as `docker network connect` does.
func (tr *Traefik) Connect(ctx context.Context, networkName string) error {
	if err := tr.cli.NetworkConnect(ctx, networkName, tr.ID, &network.EndpointSettings{}); err != nil {
		return fmt.Errorf("connect Traefik to %s: %w", networkName, err)
	}
	return nil
}

// Disconnect takes Traefik off a network.
func (tr *Traefik) Disconnect(ctx context.Context, networkName string) error {
	if err := tr.cli.NetworkDisconnect(ctx, networkName, tr.ID, true); err != nil {
		return fmt.Errorf("disconnect Traefik from %s: %w", networkName, err)
	}
	return nil
}

// IP returns Traefik's address on a network it is on: the peer address a
// server on that network's gateway sees (for STUDIO_TRUSTED_PROXIES).
func (tr *Traefik) IP(ctx context.Context, networkName string) (string, error) {
	info, err := tr.cli.ContainerInspect(ctx, tr.ID)
	if err != nil {
		return "", fmt.Errorf("inspect Traefik container: %w", err)
	}
	if ep, ok := info.NetworkSettings.Networks[networkName]; ok && ep.IPAddress != "" {
		return ep.IPAddress, nil
	}
	return "", fmt.Errorf("Traefik is not on network %s", networkName)
}

// Logs returns what Traefik wrote so far (its log and access log).
func (tr *Traefik) Logs() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := tr.cli.ContainerLogs(ctx, tr.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer raw.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, raw); err != nil {
		fmt.Fprintf(&out, "(log cut: %v)", err)
	}
	return out.String()
}

// Stop removes the container. Start's cleanup calls it; calling it again
// does nothing.
func (tr *Traefik) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := tr.cli.ContainerRemove(ctx, tr.ID, container.RemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		fmt.Fprintf(os.Stderr, "traefiktest: remove %s: %v\n", tr.Name, err)
	}
}

// engine connects to the local Docker engine, skipping the test when there
// is none.
func engine(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Skipf("skipping: no Docker engine: %v", err)
	}
	return cli
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
