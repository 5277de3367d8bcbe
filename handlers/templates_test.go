package handlers

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/internal/testwait"
	"studio/templates"
)

// serves fetches path from a project's running dev server, as the preview
// proxy would.
func (e *testEnv) serves(id, path string) string {
	e.t.Helper()
	endpoint, err := e.rt.Endpoint(context.Background(), id)
	if err != nil {
		e.t.Fatalf("endpoint of %s: %v", id, err)
	}
	res, err := http.Get("http://" + endpoint + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	return string(body)
}

func (e *testEnv) saveTemplate(token, project string, body map[string]any) map[string]any {
	e.t.Helper()
	res, out := e.json("POST", "/api/projects/"+project+"/template", body, bearer(token)...)
	if res.StatusCode != http.StatusCreated {
		e.t.Fatalf("save as template: %d %v", res.StatusCode, out)
	}
	return out
}

func (e *testEnv) importTemplate(token string, bundle []byte) (*http.Response, map[string]any) {
	e.t.Helper()
	res, body := e.do("POST", "/api/templates/import", bytes.NewReader(bundle), append(bearer(token), "Content-Type", "application/gzip")...)
	var out map[string]any
	_ = json.Unmarshal([]byte(body), &out)
	return res, out
}

func TestSaveProjectAsTemplateAndCreateFromIt(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	src := env.newProjectFrom(alice, "Otter site", "vanilla-vite")
	dir := env.projectDir(uuid.MustParse(src))
	write := func(p, body string) {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	index, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	write("index.html", strings.Replace(string(index), "<body>", "<body><p>otters-from-the-template</p>", 1))
	write("public/notes.txt", "the otter notes")
	write(".env", "SECRET_TOKEN=do-not-share")
	write("dist/assets/app.js", "built")
	write("public/shot.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

	out := env.saveTemplate(alice, src, map[string]any{"name": "Otter starter", "description": "Otters, on Vite.", "tags": []string{"Otters"},
		"readme": "# Otters\n<script>alert(1)</script>", "visibility": "instance", "screenshots": []string{"public/shot.png"}})
	it := out["item"].(map[string]any)
	id := it["id"].(string)
	var skipped []string
	for _, s := range out["skipped"].([]any) {
		skipped = append(skipped, s.(map[string]any)["path"].(string))
	}
	for _, want := range []string{".env", "dist", "node_modules"} {
		if !slices.Contains(skipped, want) {
			t.Errorf("skipped %v, want %s among them", skipped, want)
		}
	}
	v := it["template_versions"].([]any)[0].(map[string]any)
	if it["kind"] != "template" || it["visibility"] != "instance" || v["base"] != "vanilla-vite" || v["version"] != 1.0 ||
		strings.Join(toStrings(v["screenshots"]), ",") != "public/shot.png" || len(v["sha256"].(string)) != 64 {
		t.Fatalf("template: %v", it)
	}

	// Bob finds it by search, installs it and makes a project from it.
	bob := env.register("bob@example.com")
	res, found := env.json("GET", "/api/marketplace/items?q=otter&kind=template", nil, bearer(bob)...)
	if items := found["items"].([]any); res.StatusCode != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["id"] != id {
		t.Fatalf("search: %d %v", res.StatusCode, found)
	}
	res, body := env.json("POST", "/api/marketplace/items/"+id+"/install", nil, bearer(bob)...)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("install: %d %v", res.StatusCode, body)
	}
	_, list := env.json("GET", "/api/templates", nil, bearer(bob)...)
	var origins []string
	for _, t := range list["templates"].([]any) {
		tj := t.(map[string]any)
		origins = append(origins, tj["id"].(string)+":"+tj["origin"].(string))
	}
	if strings.Join(origins, " ") != "react-vite:built-in vanilla-vite:built-in static:built-in "+id+":installed" {
		t.Fatalf("templates: %v", origins)
	}
	project := env.newProjectFrom(bob, "My otters", id)
	_, pj := env.json("GET", "/api/projects/"+project, nil, bearer(bob)...)
	if p := pj["project"].(map[string]any); p["template_item"] != id || p["template_version"] != 1.0 || p["template"] != "vanilla-vite" {
		t.Fatalf("project: %v", p)
	}
	if page := env.serves(project, "/"); !strings.Contains(page, "otters-from-the-template") {
		t.Fatalf("the new project serves %s", page)
	}
	if notes := env.serves(project, "/notes.txt"); notes != "the otter notes" {
		t.Fatalf("notes: %q", notes)
	}
	pdir := env.projectDir(uuid.MustParse(project))
	for _, gone := range []string{".env", "dist"} {
		if _, err := os.Stat(filepath.Join(pdir, gone)); err == nil {
			t.Errorf("%s reached the new project", gone)
		}
	}
	if fi, err := os.Lstat(filepath.Join(pdir, "node_modules")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("node_modules is not linked to the runtime image's: %v %v", fi, err)
	}

	// In the browser, Carol sees the README sanitised and the screenshot
	// as an image, makes a project from the page, and saves it as a
	// template of her own; a wrong field keeps what she typed.
	carol := env.browser()
	carol.signup("carol@example.com")
	res, doc, csrf := carol.page("/marketplace/items/" + id)
	if res.StatusCode != http.StatusOK || doc.Find("[data-testid=item-readme] h1").Text() != "Otters" ||
		doc.Find("[data-testid=item-readme] script").Length() != 0 || doc.Find("[data-testid=screenshots] img").Length() != 1 {
		t.Fatalf("item page: %d %s", res.StatusCode, doc.Find("main").Text())
	}
	res, shot := carol.do("GET", "/marketplace/items/"+id+"/screenshots/0", nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(shot, "\x89PNG") ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("screenshot: %d %v", res.StatusCode, res.Header)
	}
	res, _ = carol.post("/marketplace/items/"+id+"/use", url.Values{"csrf_token": {csrf}, "name": {"Carol's otters"}})
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/projects/") {
		t.Fatalf("use: %d %q", res.StatusCode, loc)
	}
	carols := strings.TrimPrefix(loc, "/projects/")
	testwait.Eventually(t, 60*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(env.projectDir(uuid.MustParse(carols)), "index.html"))
		return err == nil
	}, "carol's project has its files")
	res, doc, csrf = carol.page(loc + "/save-template")
	if res.StatusCode != http.StatusOK || doc.Find("[data-testid=save-template-form]").Length() != 1 {
		t.Fatalf("save page: %d %s", res.StatusCode, doc.Find("main").Text())
	}
	form := url.Values{"csrf_token": {csrf}, "name": {"Carol's <otters>"}, "tags": {"otters, Rivers"}, "screenshots": {"nope.png"}, "visibility": {"private"}}
	res, doc = carol.post(loc+"/save-template", form)
	if v, _ := doc.Find("#f-name").Attr("value"); res.StatusCode != http.StatusBadRequest || v != "Carol's <otters>" ||
		!strings.Contains(doc.Find("main").Text(), `"nope.png" is not a PNG, JPEG or WebP file of the project`) {
		t.Fatalf("bad screenshot: %d %q %s", res.StatusCode, v, doc.Find("main").Text())
	}
	form.Set("screenshots", "public/shot.png")
	res, _ = carol.post(loc+"/save-template", form)
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/marketplace/items/carol-s-otters-") {
		t.Fatalf("save: %d %q", res.StatusCode, loc)
	}
	_, doc, _ = carol.page(res.Header.Get("Location"))
	if doc.Find("[data-testid=template-saved]").Length() != 1 || doc.Find("[data-testid=template-base]").Text() != "Vite" {
		t.Fatalf("saved page: %s", doc.Find("main").Text())
	}

	// A new version leaves Bob's install, and his project, at version 1.
	write("public/notes.txt", "more otter notes")
	out = env.saveTemplate(alice, src, map[string]any{"item_id": id, "name": "Otter starter", "visibility": "instance"})
	if it := out["item"].(map[string]any); it["latest_version"] != 2.0 {
		t.Fatalf("new version: %v", it)
	}
	if it := env.item(bob, id); it["installed_version"] != 1.0 || it["update_available"] != true {
		t.Fatalf("bob's install: %v", it)
	}

	// Hidden by an administrator (Alice, the first account): no new
	// projects from it, and it leaves Bob's choices.
	if res, out := env.json("POST", "/api/admin/marketplace/items/"+id+"/hide", map[string]any{"reason": "Spam."}, bearer(alice)...); res.StatusCode != http.StatusNoContent {
		t.Fatalf("hide: %d %v", res.StatusCode, out)
	}
	res, body = env.json("POST", "/api/projects", map[string]string{"name": "x", "template": id}, bearer(bob)...)
	if res.StatusCode != http.StatusConflict || errorCode(body) != "item_hidden" {
		t.Fatalf("project from a hidden template: %d %v", res.StatusCode, body)
	}
	_, list = env.json("GET", "/api/templates", nil, bearer(bob)...)
	if n := len(list["templates"].([]any)); n != 3 {
		t.Fatalf("bob's templates after the hide: %v", list)
	}
}

func TestTemplateBundlesExportImportAndRefusals(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	bob := env.register("bob@example.com")

	// Fork a built-in: its files ship with studio.
	res, out := env.json("POST", "/api/marketplace/items/static/fork", nil, bearer(alice)...)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("fork: %d %v", res.StatusCode, out)
	}
	fork := out["item"].(map[string]any)
	id := fork["id"].(string)
	if fork["forked_from"] != "static" || fork["visibility"] != "private" || fork["template_versions"].([]any)[0].(map[string]any)["file_count"].(float64) < 3 {
		t.Fatalf("fork: %v", fork)
	}

	// Bob cannot see Alice's private template, use it or export it.
	for _, path := range []string{"/api/marketplace/items/" + id, "/api/marketplace/items/" + id + "/bundle"} {
		if res, _ := env.do("GET", path, nil, bearer(bob)...); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s for another user: %d", path, res.StatusCode)
		}
	}
	res, body := env.json("POST", "/api/projects", map[string]string{"name": "x", "template": id}, bearer(bob)...)
	if e, _ := body["error"].(map[string]any); res.StatusCode != http.StatusUnprocessableEntity || e["field"] != "template" {
		t.Fatalf("project from another user's private template: %d %v", res.StatusCode, body)
	}

	// Export, then import as Bob: the same files, a private template of his.
	res, raw := env.do("GET", "/api/marketplace/items/"+id+"/bundle", nil, bearer(alice)...)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/gzip" ||
		res.Header.Get("Content-Disposition") != `attachment; filename="`+id+`.studio-template.tar.gz"` {
		t.Fatalf("export: %d %v", res.StatusCode, res.Header)
	}
	original, err := templates.Read([]byte(raw), templates.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	res, out = env.importTemplate(bob, []byte(raw))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("import: %d %v", res.StatusCode, out)
	}
	imported := out["item"].(map[string]any)
	res, raw2 := env.do("GET", "/api/marketplace/items/"+imported["id"].(string)+"/bundle", nil, bearer(bob)...)
	again, err := templates.Read([]byte(raw2), templates.DefaultLimits)
	if res.StatusCode != http.StatusOK || err != nil || len(again.Files) != len(original.Files) {
		t.Fatalf("re-export: %d %v", res.StatusCode, err)
	}
	for p, b := range original.Files {
		if !bytes.Equal(again.Files[p], b) {
			t.Errorf("%s changed in the round trip", p)
		}
	}

	// Hostile bundles: a clear 4xx each, and nothing stored.
	before := env.libraryLen(bob)
	tampered := retar(t, []byte(raw), func(name string, body []byte) []byte {
		if name == "files/index.html" {
			return bytes.Replace(body, []byte("<"), []byte(">"), 1) // same size, other bytes
		}
		return body
	})
	for _, tc := range []struct {
		name   string
		bundle []byte
		status int
		want   string
	}{
		{"tampered", tampered, 400, "does not match its SHA-256"},
		{"parent path", withEntry(t, []byte(raw), tar.Header{Name: "files/../../escape.txt"}, "x"), 400, "leads out of the project"},
		{"absolute", withEntry(t, []byte(raw), tar.Header{Name: "/etc/cron.d/evil"}, "x"), 400, "outside the bundle's files/ folder"},
		{"symlink", withEntry(t, []byte(raw), tar.Header{Name: "files/passwd", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, ""), 400, "is a link"},
		{"device", withEntry(t, []byte(raw), tar.Header{Name: "files/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, ""), 400, "device or pipe"},
		{"not a bundle", []byte("hello"), 400, "not gzip-compressed"},
		{"oversized", bytes.Repeat([]byte{0x1f}, 25<<20), 413, "larger than the limit"},
	} {
		res, out := env.importTemplate(bob, tc.bundle)
		if e, _ := out["error"].(map[string]any); res.StatusCode != tc.status || !strings.Contains(fmt.Sprint(e["message"]), tc.want) {
			t.Errorf("%s: %d %v; want %d with %q", tc.name, res.StatusCode, out, tc.status, tc.want)
		}
	}
	if after := env.libraryLen(bob); after != before {
		t.Fatalf("a refused import stored something: %d items, were %d", after, before)
	}
	if res, out := env.json("POST", "/api/templates/import", map[string]any{"x": 1}, bearer(bob)...); res.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("JSON body: %d %v", res.StatusCode, out)
	}
}

func TestTemplateWithItsOwnDependenciesInstallsThemInTheContainer(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	// A dependency from a folder of the template: npm installs it without
	// the network, as it would any package.
	files := map[string][]byte{
		"index.html":             []byte("<h1>greeting</h1>"),
		"package.json":           []byte(`{"name":"greeter","private":true,"dependencies":{"greeting":"file:./greeting"}}`),
		"greeting/package.json":  []byte(`{"name":"greeting","version":"1.0.0","main":"index.js"}`),
		"greeting/index.js":      []byte("module.exports = 'hello from a dependency'"),
		"public/placeholder.txt": []byte("x"),
	}
	bundle, err := templates.Pack(templates.Info{Name: "Greeter", Base: "static"}, files, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, out := env.importTemplate(alice, bundle)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("import: %d %v", res.StatusCode, out)
	}
	id := out["item"].(map[string]any)["id"].(string)
	res, body := env.json("POST", "/api/projects", map[string]string{"name": "Greeter", "template": id}, bearer(alice)...)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("create: %d %v", res.StatusCode, body)
	}
	project := body["project"].(map[string]any)["id"].(string)
	var last map[string]any
	testwait.Eventually(t, 4*time.Minute, func() bool {
		_, body := env.json("GET", "/api/projects/"+project, nil, bearer(alice)...)
		last = body["project"].(map[string]any)
		return last["status"] == "active" || last["status"] == "error"
	}, "the project from a template with dependencies starts")
	if last["status"] != "active" {
		t.Fatalf("project: %v", last)
	}
	dir := env.projectDir(uuid.MustParse(project))
	if b, err := os.ReadFile(filepath.Join(dir, "node_modules/greeting/index.js")); err != nil || !strings.Contains(string(b), "hello from a dependency") {
		t.Fatalf("the dependency was not installed: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules/.studio-installed")); err != nil {
		t.Fatalf("no mark of a finished install: %v", err)
	}
	// The card showed the install while it ran.
	var steps []string
	rows, err := env.pool.Query(context.Background(), `SELECT data->>'step' FROM project_events WHERE project_id = $1 AND kind = 'progress' ORDER BY id`, uuid.MustParse(project))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s *string
		rows.Scan(&s)
		if s != nil {
			steps = append(steps, *s)
		}
	}
	if !slices.Contains(steps, "install") {
		t.Fatalf("progress steps: %v", steps)
	}
	if page := env.serves(project, "/"); !strings.Contains(page, "greeting") {
		t.Fatalf("page: %s", page)
	}
}

// retar rewrites a bundle's entries through change, keeping the manifest
// as it was.
func retar(t *testing.T, bundle []byte, change func(name string, body []byte) []byte) []byte {
	t.Helper()
	return rewrite(t, bundle, change, nil, "")
}

// withEntry is the bundle with one more entry at its end.
func withEntry(t *testing.T, bundle []byte, hdr tar.Header, body string) []byte {
	t.Helper()
	return rewrite(t, bundle, func(_ string, b []byte) []byte { return b }, &hdr, body)
}

func rewrite(t *testing.T, bundle []byte, change func(string, []byte) []byte, extra *tar.Header, extraBody string) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(bundle))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		body = change(hdr.Name, body)
		hdr.Size = int64(len(body))
		tw.WriteHeader(hdr)
		tw.Write(body)
	}
	if extra != nil {
		if extra.Typeflag == 0 {
			extra.Typeflag = tar.TypeReg
			extra.Size = int64(len(extraBody))
		}
		extra.Mode = 0o644
		if err := tw.WriteHeader(extra); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(extraBody))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}
