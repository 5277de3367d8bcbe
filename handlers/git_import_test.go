package handlers

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/config"
	"studio/internal/githubfake"
	"studio/internal/testwait"
)

func TestImportAPublicRepository(t *testing.T) {
	t.Parallel()
	g := githubfake.NewGitServer(t)
	url := g.Repo(t, "site", map[string]map[string]string{
		"main":    {"index.html": "<h1>From main</h1>", "about/index.html": "about"},
		"feature": {"index.html": "<h1>From the feature branch</h1>"},
	})
	big := make([]byte, 300<<10)
	rand.Read(big)
	bigURL := g.Repo(t, "big", map[string]map[string]string{"main": {"blob.bin": string(big)}})
	env := newEnvWith(t, envOptions{env: map[string]string{"STUDIO_PROVIDER_ALLOW": "127.0.0.1"}}, func(c *config.Config, _ *Deps) {
		c.ImportMaxSize = 128 << 10
	})
	alice := env.register("alice@example.com")

	wait := func(id string) {
		testwait.Eventually(t, 90*time.Second, func() bool {
			_, body := env.json("GET", "/api/projects/"+id, nil, bearer(alice)...)
			return body["project"].(map[string]any)["status"] == "active"
		}, "the imported project is active")
	}
	res, out := env.json("POST", "/api/projects/import-git", map[string]string{"url": url}, bearer(alice)...)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("import: %d %v", res.StatusCode, out)
	}
	p := out["project"].(map[string]any)
	id := p["id"].(string)
	if p["name"] != "site" || p["template"] != "static" {
		t.Fatalf("project: %v", p)
	}
	wait(id)
	if page := env.serves(id, "/"); !strings.Contains(page, "From main") {
		t.Fatalf("the import serves %s", page)
	}
	cfg, err := os.ReadFile(filepath.Join(env.projectDir(uuid.MustParse(id)), ".git/config"))
	if err != nil || !strings.Contains(string(cfg), url) {
		t.Fatalf(".git/config: %s %v", cfg, err)
	}

	res, out = env.json("POST", "/api/projects/import-git", map[string]string{"url": url, "branch": "feature", "name": "Feature"}, bearer(alice)...)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("import a branch: %d %v", res.StatusCode, out)
	}
	fid := out["project"].(map[string]any)["id"].(string)
	wait(fid)
	if page := env.serves(fid, "/"); !strings.Contains(page, "From the feature branch") {
		t.Fatalf("the branch import serves %s", page)
	}

	// Refusals: a clear 422 each, no project, nothing left in staging.
	before := 2
	for _, tc := range []struct {
		name string
		body map[string]string
		want string
	}{
		{"credentials in the address", map[string]string{"url": strings.Replace(url, "http://", "http://me:secret@", 1)}, "never stores credentials"},
		{"not http", map[string]string{"url": "ftp://example.com/x.git"}, "is not an HTTPS address"},
		{"a private address", map[string]string{"url": "http://10.0.0.7/x.git"}, "private address"},
		{"metadata address", map[string]string{"url": "http://169.254.169.254/x.git"}, "metadata address"},
		{"no such repository", map[string]string{"url": g.URL + "/nothing.git"}, "no repository at"},
		{"no such branch", map[string]string{"url": url, "branch": "nope"}, `no branch "nope"`},
		{"a bad branch name", map[string]string{"url": url, "branch": "../x"}, "is not a branch name"},
		{"too large", map[string]string{"url": bigURL}, "larger than"},
	} {
		res, out := env.json("POST", "/api/projects/import-git", tc.body, bearer(alice)...)
		e, _ := out["error"].(map[string]any)
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(e["message"].(string), tc.want) {
			t.Errorf("%s: %d %v; want 422 with %q", tc.name, res.StatusCode, out, tc.want)
		}
	}
	_, list := env.json("GET", "/api/projects", nil, bearer(alice)...)
	if n := len(list["projects"].([]any)); n != before {
		t.Fatalf("refused imports made projects: %d", n)
	}
	if left, _ := os.ReadDir(filepath.Join(env.dir, "projects", ".staging")); len(left) != 0 {
		t.Fatalf("refused imports left %d folders in staging", len(left))
	}
}
