package handlers

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// newProject creates a static project through the API and waits until it
// is active; it returns the project id.
func (e *testEnv) newProject(token, name string) string {
	e.t.Helper()
	return e.newProjectFrom(token, name, "static")
}

// newProjectFrom creates a project from a template and waits until it is
// active.
func (e *testEnv) newProjectFrom(token, name, template string) string {
	e.t.Helper()
	res, body := e.json("POST", "/api/projects", map[string]string{"name": name, "template": template}, bearer(token)...)
	if res.StatusCode != 202 {
		e.t.Fatalf("create project: %d %v", res.StatusCode, body)
	}
	id := body["project"].(map[string]any)["id"].(string)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		_, body := e.json("GET", "/api/projects/"+id, nil, bearer(token)...)
		if body["project"].(map[string]any)["status"] == "active" {
			return id
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("project %s did not become active", id)
	return ""
}

func (e *testEnv) put(token, id, path string, body []byte, headers ...string) (*http.Response, string) {
	e.t.Helper()
	return e.do("PUT", "/api/projects/"+id+"/files/"+path, bytes.NewReader(body), append(bearer(token), headers...)...)
}

func TestFilesReadWriteETag(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	tok := env.register("a@example.com")
	id := env.newProject(tok, "site")

	res, body := env.json("GET", "/api/projects/"+id+"/files", nil, bearer(tok)...)
	files := fmt.Sprint(body["files"])
	if res.StatusCode != 200 || !strings.Contains(files, "index.html") || strings.Contains(files, "node_modules") || strings.Contains(files, ".studio") {
		t.Fatalf("tree: %d %s", res.StatusCode, files)
	}
	res, text := env.put(tok, id, "src/new/page.txt", []byte("hello"))
	if res.StatusCode != 200 || !strings.Contains(text, `"path":"src/new/page.txt"`) {
		t.Fatalf("write: %d %s", res.StatusCode, text)
	}
	etag := res.Header.Get("ETag")
	res, text = env.do("GET", "/api/projects/"+id+"/files/src/new/page.txt", nil, bearer(tok)...)
	if res.StatusCode != 200 || text != "hello" || res.Header.Get("ETag") != etag {
		t.Fatalf("read: %d %q %q", res.StatusCode, text, res.Header.Get("ETag"))
	}
	if res, _ := env.put(tok, id, "src/new/page.txt", []byte("v2"), "If-Match", etag); res.StatusCode != 200 {
		t.Fatalf("write with the right If-Match: %d", res.StatusCode)
	}
	if res, text := env.put(tok, id, "src/new/page.txt", []byte("v3"), "If-Match", etag); res.StatusCode != 412 || !strings.Contains(text, "changed") {
		t.Fatalf("stale If-Match: %d %s", res.StatusCode, text)
	}
	if _, text := env.do("GET", "/api/projects/"+id+"/files/src/new/page.txt", nil, bearer(tok)...); text != "v2" {
		t.Fatalf("a refused write changed the file: %q", text)
	}
	// An HTML file is served as text, never as a page on studio's origin.
	if res, _ := env.do("GET", "/api/projects/"+id+"/files/index.html", nil, bearer(tok)...); !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("index.html content type %q", res.Header.Get("Content-Type"))
	}
	// Too large: 413 and nothing written.
	big := bytes.Repeat([]byte("x"), 5<<20+1)
	if res, _ := env.put(tok, id, "big.txt", big); res.StatusCode != 413 {
		t.Fatalf("oversized file: %d", res.StatusCode)
	}
	if res, _ := env.do("GET", "/api/projects/"+id+"/files/big.txt", nil, bearer(tok)...); res.StatusCode != 404 {
		t.Fatalf("an oversized file was written: %d", res.StatusCode)
	}
	// Move never overwrites.
	env.put(tok, id, "a.txt", []byte("a"))
	env.put(tok, id, "b.txt", []byte("b"))
	if res, body := env.json("POST", "/api/projects/"+id+"/files:move", map[string]string{"from": "a.txt", "to": "b.txt"}, bearer(tok)...); res.StatusCode != 409 {
		t.Fatalf("move onto a file: %d %v", res.StatusCode, body)
	}
	if res, body := env.json("POST", "/api/projects/"+id+"/files:move", map[string]string{"from": "a.txt", "to": "docs/a.txt"}, bearer(tok)...); res.StatusCode != 200 {
		t.Fatalf("move: %d %v", res.StatusCode, body)
	}
	if res, _ := env.do("DELETE", "/api/projects/"+id+"/files/docs", nil, bearer(tok)...); res.StatusCode != 204 {
		t.Fatalf("delete folder: %d", res.StatusCode)
	}
	if res, _ := env.do("GET", "/api/projects/"+id+"/files/docs/a.txt", nil, bearer(tok)...); res.StatusCode != 404 {
		t.Fatalf("deleted file still readable: %d", res.StatusCode)
	}
	// Nothing half-written is left behind.
	entries, _ := filepath.Glob(filepath.Join(env.projectDir(mustUUID(id)), "*", ".studio-tmp-*"))
	if len(entries) > 0 {
		t.Fatalf("temporary files left: %v", entries)
	}
	// Another user sees nothing.
	bob := env.register("bob@example.com")
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		if res, _ := env.do(m, "/api/projects/"+id+"/files/b.txt", strings.NewReader("x"), bearer(bob)...); res.StatusCode != 404 {
			t.Errorf("bob %s: %d", m, res.StatusCode)
		}
	}
	if _, text := env.do("GET", "/api/projects/"+id+"/files/b.txt", nil, bearer(tok)...); text != "b" {
		t.Fatalf("bob changed alice's file: %q", text)
	}
}

func TestConcurrentWritersWithIfMatch(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	tok := env.register("a@example.com")
	id := env.newProject(tok, "race")
	res, _ := env.put(tok, id, "shared.txt", []byte("v0"))
	etag := res.Header.Get("ETag")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 8 {
		wg.Go(func() {
			res, _ := env.put(tok, id, "shared.txt", []byte(fmt.Sprintf("writer %d", i)), "If-Match", etag)
			if res.StatusCode == 200 {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if res.StatusCode != 412 {
				t.Errorf("writer %d: %d", i, res.StatusCode)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d writers won the same version, want 1", wins)
	}
}

func TestPathTraversalCorpus(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	tok := env.register("a@example.com")
	id := env.newProject(tok, "fortress")
	other := env.newProject(tok, "neighbour")
	dir := env.projectDir(mustUUID(id))
	// A canary beside the project, and links inside it that point out.
	canary := filepath.Join(filepath.Dir(dir), "canary.txt")
	os.WriteFile(canary, []byte("untouched"), 0o644)
	os.Symlink("/etc", filepath.Join(dir, "etc-link"))
	os.Symlink(env.projectDir(mustUUID(other)), filepath.Join(dir, "neighbour-link"))
	os.Symlink("../canary.txt", filepath.Join(dir, "canary-link"))

	long := strings.Repeat("a", 300)
	corpus := []string{
		"..", "../canary.txt", "../../etc/passwd", "a/../../canary.txt", "./index.html", "a/./b",
		"%2e%2e/canary.txt", "%2E%2E/canary.txt", "..%2fcanary.txt", "%2e%2e%2fcanary.txt", "..%2Fcanary.txt",
		"%2e%2e%5ccanary.txt", "..%5ccanary.txt", "..\\canary.txt", "a\\..\\..\\canary.txt",
		"%2f%2fetc/passwd", "%2fetc%2fpasswd", "/etc/passwd", "//etc/passwd",
		"etc-link/passwd", "etc-link/hostname", "neighbour-link/index.html", "neighbour-link/../../canary.txt",
		"a%00b.txt", "%00", "index.html%00.txt", "a\x01b", "%0a", "a//b.txt",
		long, strings.Repeat("a/", 600) + "x", long + "/b.txt",
		"node_modules/react/package.json", "node_modules", ".git/config", ".git", ".studio/cache",
		"dist/index.html", "%ff%fe.txt", "src/%2e%2e/%2e%2e/canary.txt", "src/..%2f..%2fcanary.txt",
	}
	if len(corpus) < 40 {
		t.Fatalf("corpus has %d cases", len(corpus))
	}
	for _, p := range corpus {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			req, err := http.NewRequest(m, env.http.URL+"/api/projects/"+id+"/files/"+p, strings.NewReader("pwned"))
			if err != nil {
				continue // a path Go will not even send is refused already
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			res.Body.Close()
			if res.StatusCode != 400 && res.StatusCode != 404 && res.StatusCode != 405 {
				t.Errorf("%s %q: %d, want 400", m, p, res.StatusCode)
			}
		}
	}
	// Move takes plain paths in JSON (no URL decoding): the raw dangerous ones.
	for _, p := range []string{"..", "../canary.txt", "a/../../canary.txt", "/etc/passwd", "..\\canary.txt", "etc-link/passwd",
		"neighbour-link/x.html", "node_modules/x", ".git/config", "a\x00b", ".studio/x", long} {
		for _, pair := range [][2]string{{"index.html", p}, {p, "stolen.txt"}} {
			res, _ := env.json("POST", "/api/projects/"+id+"/files:move", map[string]string{"from": pair[0], "to": pair[1]}, bearer(tok)...)
			if res.StatusCode != 400 {
				t.Errorf("move %q → %q: %d, want 400", pair[0], pair[1], res.StatusCode)
			}
		}
	}
	// A link inside the project is never followed: reading through it is
	// refused, and writing replaces the link itself, inside the project.
	if res, _ := env.do("GET", "/api/projects/"+id+"/files/canary-link", nil, bearer(tok)...); res.StatusCode != 400 {
		t.Errorf("read through a link out: %d", res.StatusCode)
	}
	if res, _ := env.put(tok, id, "canary-link", []byte("pwned")); res.StatusCode != 200 {
		t.Errorf("write over a link: %d", res.StatusCode)
	}
	// A doubly encoded name is decoded once: a literal "%2e%2e" folder, inside.
	if res, _ := env.put(tok, id, "%252e%252e/inside.txt", []byte("x")); res.StatusCode != 200 {
		t.Errorf("literal %%2e%%2e name: %d", res.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "%2e%2e", "inside.txt")); err != nil {
		t.Errorf("the literal name did not land inside the project: %v", err)
	}
	if b, _ := os.ReadFile(canary); string(b) != "untouched" {
		t.Fatalf("the canary outside the project changed: %q", b)
	}
	if b, _ := os.ReadFile("/etc/hostname"); strings.Contains(string(b), "pwned") {
		t.Fatal("/etc was written")
	}
	if b, _ := os.ReadFile(filepath.Join(env.projectDir(mustUUID(other)), "index.html")); strings.Contains(string(b), "pwned") {
		t.Fatal("the neighbour project was written")
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		t.Fatal("index.html was moved away")
	}
}

func TestCheckpointRestoreIsExactAndUndoable(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	tok := env.register("a@example.com")
	id := env.newProject(tok, "history")
	env.put(tok, id, "keep.txt", []byte("original"))
	env.put(tok, id, "gone-later.txt", []byte("here at first"))
	res, body := env.json("POST", "/api/projects/"+id+"/checkpoints", map[string]string{"label": "first"}, bearer(tok)...)
	if res.StatusCode != 201 {
		t.Fatalf("checkpoint: %d %v", res.StatusCode, body)
	}
	cid := body["checkpoint"].(map[string]any)["id"].(string)
	_, before := env.json("GET", "/api/projects/"+id+"/files", nil, bearer(tok)...)

	env.put(tok, id, "keep.txt", []byte("edited"))
	env.do("DELETE", "/api/projects/"+id+"/files/gone-later.txt", nil, bearer(tok)...)
	env.put(tok, id, "added/new.txt", []byte("new"))

	res, body = env.json("POST", "/api/projects/"+id+"/checkpoints/"+cid+"/restore", nil, bearer(tok)...)
	if res.StatusCode != 200 {
		t.Fatalf("restore: %d %v", res.StatusCode, body)
	}
	undo := body["undo"].(map[string]any)["id"].(string)
	for path, want := range map[string]string{"keep.txt": "original", "gone-later.txt": "here at first"} {
		if _, text := env.do("GET", "/api/projects/"+id+"/files/"+path, nil, bearer(tok)...); text != want {
			t.Errorf("%s after restore: %q", path, text)
		}
	}
	_, after := env.json("GET", "/api/projects/"+id+"/files", nil, bearer(tok)...)
	if paths(before) != paths(after) {
		t.Fatalf("tree after restore differs:\n%s\n%s", paths(before), paths(after))
	}
	// Undo the restore.
	if res, _ := env.json("POST", "/api/projects/"+id+"/checkpoints/"+undo+"/restore", nil, bearer(tok)...); res.StatusCode != 200 {
		t.Fatalf("undo: %d", res.StatusCode)
	}
	if _, text := env.do("GET", "/api/projects/"+id+"/files/added/new.txt", nil, bearer(tok)...); text != "new" {
		t.Fatalf("undo did not bring the edit back: %q", text)
	}
	if res, _ := env.json("POST", "/api/projects/"+id+"/checkpoints/00000000-0000-0000-0000-000000000000/restore", nil, bearer(tok)...); res.StatusCode != 404 {
		t.Fatalf("unknown checkpoint: %d", res.StatusCode)
	}
	bob := env.register("bob@example.com")
	if res, _ := env.json("POST", "/api/projects/"+id+"/checkpoints/"+cid+"/restore", nil, bearer(bob)...); res.StatusCode != 404 {
		t.Fatalf("bob restoring: %d", res.StatusCode)
	}
}

func paths(body map[string]any) string {
	var out []string
	for _, f := range body["files"].([]any) {
		out = append(out, f.(map[string]any)["path"].(string))
	}
	return strings.Join(out, "\n")
}
