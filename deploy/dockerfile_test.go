package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"studio/db"
)

// The images this file makes are named with this prefix; it removes the
// studio image it builds and keeps the stand-in base images (see standIn).
const testImagePrefix = "studio-deploytest-"

// TestDockerfile builds deploy/Dockerfile without a registry and runs the
// result: `studio version` prints the version it was built with, and
// `studio serve` against a throwaway PostgreSQL answers /healthz and
// reports its database ok on /readyz.
//
// No image may be pulled, so the three base images are stand-ins made here
// from what this machine has: studio-base (Debian bookworm with the host's
// Node.js, from scripts/build-image) for Node.js and the final stage, and
// studio-base plus the host's Go for the Go stage. The build itself
// downloads npm packages and Go modules from their registries; BuildKit's
// cache mounts keep both, so a second build only recompiles what changed.
func TestDockerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: building the studio image takes a minute or more")
	}
	t.Parallel()
	ctx := context.Background()
	cli := dockerEngine(t)
	docker := buildkitCLI(t)
	base := studioBase(t, cli)

	goImage := standIn(t, cli, "go", base, goStandIn(t))
	nodeImage := standIn(t, cli, "node", base, nodeStandIn(t))

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	suffix := randomSuffix(t)
	ref := testImagePrefix + "studio:" + suffix
	// The same version every run: with an unchanged tree the whole build
	// is then a cache hit.
	const version = "deploytest"
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})

	buildKit(t, docker, ref, root, filepath.Join(root, "deploy", "Dockerfile"),
		"GO_IMAGE="+goImage, "NODE_IMAGE="+nodeImage, "RUNTIME_BASE_IMAGE="+base, "VERSION="+version)

	t.Run("config", func(t *testing.T) {
		inspect, err := cli.ImageInspect(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		c := inspect.Config
		if c.User != "1000:1000" {
			t.Errorf("user %q, want 1000:1000 (the project containers' uid, see the Dockerfile)", c.User)
		}
		if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
			t.Errorf("exposed ports %v, want 8080/tcp", c.ExposedPorts)
		}
		for _, want := range []string{"STUDIO_ADDR=0.0.0.0:8080", "STUDIO_DATA=/var/lib/studio"} {
			if !slices.Contains(c.Env, want) {
				t.Errorf("env %v lacks %s", c.Env, want)
			}
		}
		if c.Healthcheck == nil || !strings.Contains(strings.Join(c.Healthcheck.Test, " "), "/readyz") {
			t.Errorf("health check %+v, want one on /readyz", c.Healthcheck)
		}
		if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/studio"}) || !slices.Equal(c.Cmd, []string{"serve"}) {
			t.Errorf("entrypoint %v cmd %v, want studio serve", c.Entrypoint, c.Cmd)
		}
	})

	t.Run("version", func(t *testing.T) {
		out := runOnce(t, cli, ref, "version")
		if got, want := strings.TrimSpace(out), "studio "+version; got != want {
			t.Errorf("studio version printed %q, want %q", got, want)
		}
	})

	t.Run("serve", func(t *testing.T) {
		serveAgainstPostgres(t, cli, ref)
	})
}

// buildKit runs `docker build` with BuildKit and fails the test with the
// build's last lines if it fails. A cold build (no BuildKit cache yet)
// compiles all of studio, so it is stopped a minute before the test
// binary's deadline, with a message rather than a panic; what it compiled
// stays in the cache mounts for the next run.
func buildKit(t *testing.T, docker, ref, contextDir, dockerfile string, buildArgs ...string) {
	t.Helper()
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-time.Minute))
		defer cancel()
	}
	args := []string{"build", "--progress=plain", "--file", dockerfile, "--tag", ref}
	for _, a := range buildArgs {
		args = append(args, "--build-arg", a)
	}
	started := time.Now()
	cmd := exec.CommandContext(ctx, docker, append(args, contextDir)...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
	// SIGTERM, not SIGKILL: the client then cancels the build in the engine.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("docker build of %s was stopped after %s, before the test deadline; run with a longer -timeout (the Taskfile uses 25m): the next build continues from BuildKit's cache\n%s",
			ref, time.Since(started).Round(time.Second), lastLines(out, 30))
	}
	if err != nil {
		t.Fatalf("docker build of %s: %v\n%s", ref, err, lastLines(out, 60))
	}
	t.Logf("built %s in %s (BuildKit via %s)", ref, time.Since(started).Round(100*time.Millisecond), docker)
}

// TestRuntimeDockerfile builds deploy/runtime.Dockerfile, the project
// runtime image as docker compose builds it, on the Node.js stand-in: each
// template's dependencies are installed from the npm registry and each
// Vite template's are pre-bundled, as scripts/build-image does.
func TestRuntimeDockerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: building the runtime image installs every template's dependencies")
	}
	t.Parallel()
	cli := dockerEngine(t)
	docker := buildkitCLI(t)
	base := studioBase(t, cli)
	nodeImage := standIn(t, cli, "node", base, nodeStandIn(t))
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ref := testImagePrefix + "runtime:" + randomSuffix(t)
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	buildKit(t, docker, ref, filepath.Join(root, "containers", "image"), filepath.Join(root, "deploy", "runtime.Dockerfile"),
		"BASE_IMAGE="+nodeImage)

	inspect, err := cli.ImageInspect(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if c := inspect.Config; c.User != "1000:1000" || c.WorkingDir != "/app" || !slices.Equal(c.Cmd, []string{"node", "/opt/studio/bin/dev.mjs"}) {
		t.Errorf("user %q, workdir %q, cmd %v; want what containers/image/Dockerfile sets", c.User, c.WorkingDir, c.Cmd)
	}
	templates, err := os.ReadDir(filepath.Join(root, "containers", "image", "templates"))
	if err != nil {
		t.Fatal(err)
	}
	var checks []string
	for _, tmpl := range templates {
		dir := "/opt/studio/templates/" + tmpl.Name()
		if _, err := os.Stat(filepath.Join(root, "containers", "image", "templates", tmpl.Name(), "vite.config.ts")); err == nil {
			checks = append(checks, "test -f "+dir+"/node_modules/vite/bin/vite.js", "test -d "+dir+"/vite-cache/deps")
		} else {
			checks = append(checks, "test -d "+dir+"/node_modules")
		}
	}
	runOnceEntry(t, cli, ref, []string{"sh", "-c", strings.Join(checks, " && ")})
}

// serveAgainstPostgres starts an embedded PostgreSQL on a unix socket,
// runs the image's `studio serve` on the host's network (so both it and
// this test talk over loopback only) with the socket folder mounted, and
// waits for it to serve.
func serveAgainstPostgres(t *testing.T, cli *client.Client, ref string) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", testImagePrefix+"pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The database user must be able to enter the folder when tests run as root.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pg := &db.Embedded{Dir: filepath.Join(dir, "pg"), Logger: slog.New(slog.DiscardHandler)}
	if err := pg.Start(ctx); err != nil {
		t.Skipf("skipping `studio serve` in the image: no embedded PostgreSQL to serve against: %v", err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = pg.Stop(stop)
	})
	dbURL := pg.URL()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	socketDir := u.Query().Get("host")
	// The server's socket is private to the user that runs it (0700), so
	// studio runs as that user here instead of the image's 1000, with a
	// data folder that user can write.
	info, err := os.Stat(socketDir)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)

	addr := freeLoopbackAddr(t)
	name := testImagePrefix + "serve-" + randomSuffix(t)
	created, err := cli.ContainerCreate(ctx, &container.Config{
		Image: ref,
		User:  fmt.Sprintf("%d:%d", st.Uid, st.Gid),
		Env: []string{
			"STUDIO_ADDR=" + addr,
			"STUDIO_DATABASE_URL=" + dbURL,
			"STUDIO_DATA=/tmp/studio",
		},
	}, &container.HostConfig{
		NetworkMode: "host",
		Binds:       []string{socketDir + ":" + socketDir},
	}, nil, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	})
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	logs := func() string { return containerLogs(cli, created.ID) }

	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if inspect, ierr := cli.ContainerInspect(ctx, created.ID); ierr == nil && !inspect.State.Running {
			t.Fatalf("studio serve exited with %d:\n%s", inspect.State.ExitCode, logs())
		}
		if time.Now().After(deadline) {
			t.Fatalf("studio serve did not answer /healthz on %s within a minute (last: %v):\n%s", addr, err, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// /readyz also asks the container engine, which this container is not
	// given, so only the database's answer is checked.
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ready struct {
		Checks map[string]string `json:"checks"`
	}
	if err := json.NewDecoder(res.Body).Decode(&ready); err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	if ready.Checks["database"] != "ok" {
		t.Errorf("/readyz checks %v, want the database ok:\n%s", ready.Checks, logs())
	}

	// The image's health check, run by hand: it fails while /readyz says
	// 503 (no container engine here), and the same request to /healthz,
	// which answers 200, passes.
	inspect, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	hc := inspect.Config.Healthcheck
	if hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
		t.Fatalf("health check %+v, want an exec-form CMD", hc)
	}
	check := hc.Test[1:]
	if code := execExitCode(t, cli, created.ID, check); res.StatusCode != http.StatusOK && code == 0 {
		t.Errorf("the health check passes while /readyz answers %d", res.StatusCode)
	}
	healthz := make([]string, len(check))
	for i, a := range check {
		healthz[i] = strings.ReplaceAll(a, "/readyz", "/healthz")
	}
	if code := execExitCode(t, cli, created.ID, healthz); code != 0 {
		t.Errorf("the health check's request fails (exit %d) against /healthz, which answers 200", code)
	}
}

// execExitCode runs cmd in a running container and returns its exit code.
func execExitCode(t *testing.T, cli *client.Client, id string, cmd []string) int {
	t.Helper()
	ctx := context.Background()
	created, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	attached, err := cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = stdcopy.StdCopy(io.Discard, io.Discard, attached.Reader)
	attached.Close()
	st, err := cli.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	return st.ExitCode
}

// dockerEngine is a client of the local Docker engine, or a skip.
func dockerEngine(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Skipf("skipping the image build: no Docker client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Skipf("skipping the image build: the Docker engine does not answer: %v", err)
	}
	return cli
}

// buildkitCLI finds a docker command whose `docker build` uses BuildKit
// (deploy/Dockerfile's cache mounts need it): one with the buildx plugin,
// or a client older than 23, which has BuildKit built in. Debian's
// docker.io (20.10) installs /usr/bin/docker, which does.
func buildkitCLI(t *testing.T) string {
	t.Helper()
	var candidates []string
	if p, err := exec.LookPath("docker"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/docker", "/usr/local/bin/docker")
	var tried []string
	for _, c := range candidates {
		if slices.Contains(tried, c) {
			continue
		}
		tried = append(tried, c)
		if _, err := os.Stat(c); err != nil {
			continue
		}
		if exec.Command(c, "buildx", "version").Run() == nil {
			return c
		}
		out, err := exec.Command(c, "version", "--format", "{{.Client.Version}}").Output()
		if err != nil {
			continue
		}
		major, _, _ := strings.Cut(strings.TrimSpace(string(out)), ".")
		if n, err := strconv.Atoi(major); err == nil && n < 23 {
			return c
		}
	}
	t.Skipf("skipping the image build: deploy/Dockerfile needs BuildKit, and none of %v has the buildx plugin or is a client older than 23 with BuildKit built in", tried)
	return ""
}

// studioBase names the newest studio-base image (scripts/build-image makes
// it), or skips.
func studioBase(t *testing.T, cli *client.Client) string {
	t.Helper()
	images, err := cli.ImageList(context.Background(), image.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var best string
	var newest int64
	for _, img := range images {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, "studio-base:") && img.Created > newest {
				best, newest = tag, img.Created
			}
		}
	}
	if best == "" {
		t.Skip("skipping the image build: no studio-base image to stand in for the official base images; run scripts/build-image once")
	}
	return best
}

// A standInRecipe is a stand-in base image: a Dockerfile (after its FROM
// line) and the files its build context needs.
type standInRecipe struct {
	dockerfile string
	files      map[string]string // name in the context → path on this machine (a file or a folder)
	key        []string          // what, besides the base image, the image depends on
}

// goStandIn stands in for golang:1.26-bookworm: the host's Go in
// /usr/local/go, GOPATH /go, and the machine's CA bundle (the official
// image has Debian's ca-certificates, which the Dockerfile copies out).
func goStandIn(t *testing.T) standInRecipe {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT", "GOVERSION").Output()
	if err != nil {
		t.Skipf("skipping the image build: no host Go to stand in for the golang image: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		t.Fatalf("go env: %q", out)
	}
	goroot, goversion := lines[0], lines[1]
	return standInRecipe{
		dockerfile: "COPY go /usr/local/go\n" +
			"COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n" +
			"ENV GOPATH=/go GOTOOLCHAIN=local PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
		files: map[string]string{"go": goroot, "ca-certificates.crt": caBundle(t)},
		key:   []string{goversion, fileHash(t, caBundle(t))},
	}
}

// nodeStandIn stands in for node:20-bookworm-slim: studio-base already has
// Node.js and npm; npm is given the machine's CA bundle.
func nodeStandIn(t *testing.T) standInRecipe {
	t.Helper()
	return standInRecipe{
		dockerfile: "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n" +
			"ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt\n",
		files: map[string]string{"ca-certificates.crt": caBundle(t)},
		key:   []string{fileHash(t, caBundle(t))},
	}
}

func caBundle(t *testing.T) string {
	const bundle = "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(bundle); err != nil {
		t.Skipf("skipping the image build: no CA bundle at %s for the stand-in images", bundle)
	}
	return bundle
}

// standIn builds (once) a stand-in base image on base and returns its
// name. It is named after everything it is made of and kept on purpose:
// BuildKit caches the studio build by its base images' ids, so a stand-in
// rebuilt every run would make every build cold. Older stand-ins of the
// same kind are removed.
func standIn(t *testing.T, cli *client.Client, kind, base string, r standInRecipe) string {
	t.Helper()
	ctx := context.Background()
	baseInspect, err := cli.ImageInspect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", baseInspect.ID, r.dockerfile)
	for _, k := range r.key {
		fmt.Fprintf(h, "%s\x00", k)
	}
	repo := testImagePrefix + kind
	ref := repo + ":" + hex.EncodeToString(h.Sum(nil))[:12]

	images, err := cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range images {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, repo+":") && tag != ref {
				_, _ = cli.ImageRemove(ctx, tag, image.RemoveOptions{})
			}
		}
	}
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref
	}

	started := time.Now()
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeContext(pw, "FROM "+base+"\n"+r.dockerfile, r.files))
	}()
	res, err := cli.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags:        []string{ref},
		Version:     build.BuilderV1,
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		t.Fatalf("build stand-in %s: %v", ref, err)
	}
	defer res.Body.Close()
	if err := buildError(res.Body); err != nil {
		t.Fatalf("build stand-in %s: %v", ref, err)
	}
	t.Logf("built stand-in base image %s in %s", ref, time.Since(started).Round(100*time.Millisecond))
	return ref
}

// writeContext writes a build context as a tar stream: the Dockerfile and
// each named file or folder.
func writeContext(w io.Writer, dockerfile string, files map[string]string) error {
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return err
	}
	for name, src := range files {
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			link := ""
			if info.Mode()&fs.ModeSymlink != 0 {
				if link, err = os.Readlink(p); err != nil {
					return err
				}
			}
			hdr, err := tar.FileInfoHeader(info, link)
			if err != nil {
				return err
			}
			hdr.Name = filepath.ToSlash(filepath.Join(name, rel))
			hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		})
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// buildError reads the engine's JSON progress stream to its end and returns
// the error it reports, if any.
func buildError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return fmt.Errorf("%s", msg.Error)
		}
	}
}

// runOnce runs the image with args, without a network, and returns what
// it printed.
func runOnce(t *testing.T, cli *client.Client, ref string, args ...string) string {
	t.Helper()
	return run(t, cli, &container.Config{Image: ref, Cmd: args})
}

// runOnceEntry runs command in the image in place of its own.
func runOnceEntry(t *testing.T, cli *client.Client, ref string, command []string) string {
	t.Helper()
	return run(t, cli, &container.Config{Image: ref, Entrypoint: command[:1], Cmd: command[1:]})
}

func run(t *testing.T, cli *client.Client, config *container.Config) string {
	t.Helper()
	ctx := context.Background()
	args := append(slices.Clone(config.Entrypoint), config.Cmd...)
	created, err := cli.ContainerCreate(ctx, config,
		&container.HostConfig{NetworkMode: "none"}, nil, nil, testImagePrefix+"run-"+randomSuffix(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true}) //nolint:errcheck
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	statusCh, errCh := cli.ContainerWait(waitCtx, created.ID, container.WaitConditionNotRunning)
	select {
	case err := <-errCh:
		t.Fatal(err)
	case st := <-statusCh:
		if st.StatusCode != 0 {
			t.Fatalf("%s exited with %d:\n%s", strings.Join(args, " "), st.StatusCode, containerLogs(cli, created.ID))
		}
	}
	return containerLogs(cli, created.ID)
}

func containerLogs(cli *client.Client, id string) string {
	rc, err := cli.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "(no logs: " + err.Error() + ")"
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, rc)
	return out.String()
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func fileHash(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
