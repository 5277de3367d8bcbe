package handlers

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"studio/config"
	"studio/db"
	"studio/static"
)

// TestReadinessFollowsARealDatabase stops a real PostgreSQL under a running
// server: /readyz turns 503 and names the database.
func TestReadinessFollowsARealDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	ctx := context.Background()
	pg := &db.Embedded{Dir: filepath.Join(dir, "pg")}
	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop(context.Background()) })
	pool, err := db.Open(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	env := newEnv(t, func(_ *config.Config, d *Deps) { d.Database = pool })

	if res, body := env.json("GET", "/readyz", nil); res.StatusCode != 200 {
		t.Fatalf("before: %d %v", res.StatusCode, body)
	}
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	res, body := env.json("GET", "/readyz", nil)
	checks, _ := body["checks"].(map[string]any)
	if res.StatusCode != 503 || body["status"] != "failing" || checks["database"] != "failing" || checks["docker"] != "ok" {
		t.Fatalf("after stopping the database: %d %v", res.StatusCode, body)
	}
	if res, _ := env.do("GET", "/healthz", nil); res.StatusCode != 200 {
		t.Fatalf("healthz must not depend on the database: %d", res.StatusCode)
	}
}

func TestStaticAssetsThroughTheServer(t *testing.T) {
	t.Parallel()
	if static.Missing() {
		t.Skip("static/dist is not built; `go tool task assets` builds it")
	}
	env := newEnv(t)
	_, page := env.do("GET", "/no-such-page", nil) // the error page has the full chrome
	css := static.Path("app.css")
	if !strings.Contains(page, css) {
		t.Fatalf("the page does not link %s", css)
	}
	res, body := env.do("GET", css, nil, "Accept-Encoding", "gzip")
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || res.Header.Get("Content-Encoding") != "gzip" || len(body) == 0 {
		t.Fatalf("asset: %d %v", res.StatusCode, res.Header)
	}
	if res, _ := env.do("GET", "/static/app.css", nil); res.StatusCode != 404 {
		t.Fatalf("an unhashed name must not be served: %d", res.StatusCode)
	}
}
