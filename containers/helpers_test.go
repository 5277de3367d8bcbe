package containers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/containers/image"
)

// testDocker connects to the local engine with a fresh instance id, so a
// test only ever sees its own containers. It skips the test when the engine
// or the runtime image is not there.
func testDocker(t *testing.T, opts Options) *Docker {
	t.Helper()
	if opts.Instance == "" {
		opts.Instance = "test-" + uuid.NewString()[:8]
	}
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	d, err := NewDockerWith(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Ping(ctx); err != nil {
		t.Skipf("skipping: %v", err)
	}
	if d.imageMissing(ctx) && opts.Image == "" {
		t.Skipf("skipping: runtime image %s is missing; build it with scripts/build-image", d.Image())
	}
	return d
}

// newProject lays out a project from a template in a temporary directory and
// creates its container; the container and network go away with the test.
func newProject(t *testing.T, d *Docker, template string) (projectID, dir string) {
	t.Helper()
	projectID = uuid.NewString()
	dir = t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := image.CopyTemplate(template, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Remove(ctx, projectID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := d.Ensure(testContext(t), Spec{ProjectID: projectID, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	return projectID, dir
}

// startProject is newProject plus Start and a first 200 on path.
func startProject(t *testing.T, d *Docker, template, path string) (projectID, dir, endpoint string) {
	t.Helper()
	projectID, dir = newProject(t, d, template)
	ctx := testContext(t)
	if err := d.Start(ctx, projectID); err != nil {
		t.Fatal(err)
	}
	endpoint, err := d.WaitReady(ctx, projectID, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return projectID, dir, endpoint
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// get fetches url, presenting host as the Host header when it is set (the
// way the preview proxy forwards a request for myapp.studio.localhost).
func get(t *testing.T, url, host string) (status int, contentType, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func lines(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\n' })
}
