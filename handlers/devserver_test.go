package handlers

import (
	"archive/zip"
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/internal/testwait"
)

// zipOf is a zip holding files, path → content.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// waitStarted waits until the project leaves initializing and returns it.
func (e *testEnv) waitStarted(token, id string) map[string]any {
	e.t.Helper()
	var p map[string]any
	testwait.Eventually(e.t, 90*time.Second, func() bool {
		_, body := e.json("GET", "/api/projects/"+id, nil, bearer(token)...)
		p = body["project"].(map[string]any)
		return p["status"] != "initializing"
	}, "the imported project has started or failed")
	return p
}

// An imported project with a dev script of its own runs it in its
// container, through npm, with the host and port the preview uses.
func TestImportedDevScriptServesThePreview(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	data := zipOf(t, map[string]string{
		// A dependency from the project's own folder: npm installs it in
		// the container without the network.
		"package.json":          `{"name":"own-server","private":true,"scripts":{"dev":"node server.js"},"dependencies":{"greeting":"file:./greeting"}}`,
		"greeting/package.json": `{"name":"greeting","version":"1.0.0","main":"index.js"}`,
		"greeting/index.js":     `module.exports = 'Served by its own script'`,
		"server.js": `const http = require('node:http')
const greeting = require('greeting')
http.createServer((req, res) => res.end('<h1>' + greeting + ' on ' + process.env.HOST + '</h1>'))
  .listen(Number(process.env.PORT), process.env.HOST, () => console.log('listening on ' + process.env.PORT))
`,
		// What a zip brings in studio's folder is never used.
		".studio/dev-server.json": `{"script":"evil"}`,
	})
	res, out := env.importZip(alice, "Own server", data)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("import: %d %v", res.StatusCode, out)
	}
	id := out["project"].(map[string]any)["id"].(string)
	if p := env.waitStarted(alice, id); p["status"] != "active" {
		t.Fatalf("the project did not start: %v", p)
	}
	if page := env.serves(id, "/"); !strings.Contains(page, "Served by its own script on 0.0.0.0") {
		t.Fatalf("the preview serves %q", page)
	}
	if _, err := os.Stat(filepath.Join(env.projectDir(uuid.MustParse(id)), "node_modules/.studio-installed")); err != nil {
		t.Fatalf("the dependencies were not installed by studio: %v", err)
	}
	// The dev server survives a restart: what was detected is kept.
	if res, out := env.json("POST", "/api/projects/"+id+"/restart", nil, bearer(alice)...); res.StatusCode >= 300 {
		t.Fatalf("restart: %d %v", res.StatusCode, out)
	}
	if p := env.waitStarted(alice, id); p["status"] != "active" {
		t.Fatalf("the project did not start again: %v", p)
	}
	if page := env.serves(id, "/"); !strings.Contains(page, "Served by its own script") {
		t.Fatalf("after a restart the preview serves %q", page)
	}
}

// An imported project whose dev script or install fails says why, with
// the output, and its files can still be read.
func TestImportedDevScriptThatFailsSaysWhy(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	bob := env.register("bob@example.com")
	b := env.browser()
	if res := b.login("bob@example.com", "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	var failed []string
	for _, tc := range []struct {
		name        string
		files       map[string]string
		want, shown string
	}{
		{"the script exits", map[string]string{
			"package.json": `{"name":"broken","private":true,"scripts":{"start":"node server.js"}}`,
			"server.js":    "console.error('cannot read config.toml: no such file')\nprocess.exit(3)\n",
		}, "dev server exited with code 3", "cannot read config.toml: no such file"},
		{"the install fails", map[string]string{
			"package.json": `{"name":"unbuildable","private":true,"scripts":{"dev":"node server.js"},"dependencies":{"gone":"file:./gone.tgz"}}`,
			"server.js":    "process.exit(3)\n",
		}, "npm install failed", "gone.tgz"},
	} {
		res, out := env.importZip(bob, tc.name, zipOf(t, tc.files))
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: import: %d %v", tc.name, res.StatusCode, out)
		}
		id := out["project"].(map[string]any)["id"].(string)
		p := env.waitStarted(bob, id)
		reason, _ := p["error"].(string)
		if p["status"] != "error" || !strings.Contains(reason, tc.want) || !strings.Contains(reason, tc.shown) {
			t.Fatalf("%s: the failed project: %v", tc.name, p)
		}
		_, doc, _ := b.page("/")
		card := doc.Find("#card-" + id + " [data-testid=reason]").Text()
		if !strings.Contains(card, tc.want) || !strings.Contains(card, tc.shown) {
			t.Fatalf("%s: the card says %q", tc.name, card)
		}
		res, doc, _ = b.page("/projects/" + id)
		if res.StatusCode != http.StatusOK || doc.Find("[data-testid=file-row][data-file='server.js']").Length() != 1 {
			t.Fatalf("%s: the workspace of the failed project: %d", tc.name, res.StatusCode)
		}
		res, text := env.do("GET", "/api/projects/"+id+"/files/server.js", nil, bearer(bob)...)
		if res.StatusCode != http.StatusOK || !strings.Contains(text, "process.exit(3)") {
			t.Fatalf("%s: reading a file of the failed project: %d %s", tc.name, res.StatusCode, text)
		}
		failed = append(failed, id)
	}

	// Fixed in the editor and restarted, the script runs.
	id := failed[0]
	fixed := "require('node:http').createServer((req, res) => res.end('fixed')).listen(process.env.PORT, process.env.HOST)\n"
	if res, text := env.put(bob, id, "server.js", []byte(fixed)); res.StatusCode >= 300 {
		t.Fatalf("writing a file of the failed project: %d %s", res.StatusCode, text)
	}
	if res, out := env.json("POST", "/api/projects/"+id+"/restart", nil, bearer(bob)...); res.StatusCode >= 300 {
		t.Fatalf("restart: %d %v", res.StatusCode, out)
	}
	if p := env.waitStarted(bob, id); p["status"] != "active" {
		t.Fatalf("the fixed project: %v", p)
	}
	if page := env.serves(id, "/"); page != "fixed" {
		t.Fatalf("the fixed project serves %q", page)
	}
}
