package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// htmxForm posts a workspace form as htmx does.
func (b *browser) htmxForm(path, csrf string, form url.Values) (*http.Response, *goquery.Document) {
	b.t.Helper()
	return b.post(path, form, "HX-Request", "true", "X-CSRF-Token", csrf)
}

func TestWorkspaceFileForms(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	token := env.register("a@example.com")
	b := env.browser()
	if res := b.login("a@example.com", "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	id := env.newProject(token, "Forms")
	_, page, csrf := b.page("/projects/" + id)
	for _, sel := range []string{"form#new-file[hx-post]", "#rename-box form[hx-post]", "form#delete-file-form[hx-post]", "[hx-trigger='studio:files-changed from:body']"} {
		if page.Find(sel).Length() != 1 {
			t.Fatalf("the workspace has no %s", sel)
		}
	}
	base := "/projects/" + id

	// Create: the tree comes back with the new file's folders open, the
	// editor hears of it, and the form comes back empty out of band.
	res, doc := b.htmxForm(base+"/files:create", csrf, url.Values{"path": {"docs/notes.md"}})
	if res.StatusCode != 200 || doc.Find(`#tree [data-file="docs/notes.md"]`).Length() != 1 {
		t.Fatalf("create: %d %s", res.StatusCode, doc.Text())
	}
	assertTrigger(t, res, "studio:file-created", map[string]string{"path": "docs/notes.md"})
	if doc.Find(`form#new-file[hx-swap-oob=true] input[name=path]`).AttrOr("value", "x") != "" {
		t.Fatalf("the create form is not reset: %s", doc.Find("#new-file").Text())
	}

	// Create onto an existing name: 409, the form with the message and the
	// path as typed, in place of the form.
	res, doc = b.htmxForm(base+"/files:create", csrf, url.Values{"path": {"docs/notes.md"}})
	if res.StatusCode != http.StatusConflict || res.Header.Get("HX-Retarget") != "#new-file" || res.Header.Get("HX-Reswap") != "outerHTML" {
		t.Fatalf("create again: %d %v", res.StatusCode, res.Header)
	}
	if msg := doc.Find("[data-testid=new-file-error]").Text(); !strings.Contains(msg, "already exists") {
		t.Fatalf("create again says %q", msg)
	}
	if v := doc.Find("#new-path").AttrOr("value", ""); v != "docs/notes.md" {
		t.Fatalf("the refused form holds %q", v)
	}

	// A folder: the path ends with /.
	res, doc = b.htmxForm(base+"/files:create", csrf, url.Values{"path": {"assets/"}, "open": {"docs"}})
	if res.StatusCode != 200 || doc.Find(`[data-file="assets/.gitkeep"]`).Length() != 1 || doc.Find(`[data-file="docs/notes.md"]`).Length() != 1 {
		t.Fatalf("create a folder keeping docs open: %d %s", res.StatusCode, doc.Text())
	}

	// Paths that leave the project are refused, with the path as typed.
	for _, bad := range []string{"../escape.txt", "src/../../x", "src//x", "node_modules/x.js"} {
		res, doc = b.htmxForm(base+"/files:create", csrf, url.Values{"path": {bad}})
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find("[data-testid=new-file-error]").Text(), "not allowed") ||
			doc.Find("#new-path").AttrOr("value", "") != bad {
			t.Fatalf("create %q: %d %s", bad, res.StatusCode, doc.Text())
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Join(env.dir, "projects", id)), "escape.txt")); err == nil {
		t.Fatal("a file was written outside the project")
	}

	// Rename into a new folder: that folder comes back open.
	res, doc = b.htmxForm(base+"/files:rename", csrf, url.Values{"from": {"docs/notes.md"}, "to": {"guide/notes.md"}})
	if res.StatusCode != 200 || doc.Find(`details[open] > [data-dir="guide"]`).Length() != 1 || doc.Find(`[data-file="guide/notes.md"]`).Length() != 1 {
		t.Fatalf("rename: %d %s", res.StatusCode, doc.Text())
	}
	assertTrigger(t, res, "studio:file-renamed", map[string]string{"from": "docs/notes.md", "to": "guide/notes.md"})
	if box := doc.Find(`#rename-box[hx-swap-oob=true]`); box.Length() != 1 || box.AttrOr("open", "closed") != "closed" {
		t.Fatal("the rename box is not put back closed")
	}

	// Rename onto an existing file: 409; the box stays open with the
	// message and both paths as they were.
	res, doc = b.htmxForm(base+"/files:rename", csrf, url.Values{"from": {"guide/notes.md"}, "to": {"index.html"}})
	if res.StatusCode != http.StatusConflict || res.Header.Get("HX-Retarget") != "#rename-box" {
		t.Fatalf("rename onto a file: %d %v", res.StatusCode, res.Header)
	}
	if _, open := doc.Find("#rename-box").Attr("open"); !open || !strings.Contains(doc.Find("[data-testid=rename-error]").Text(), "A file or folder already exists there.") ||
		doc.Find("#rename-to").AttrOr("value", "") != "index.html" || doc.Find("input[name=from]").AttrOr("value", "") != "guide/notes.md" {
		t.Fatalf("refused rename form: %s", goquery.NewDocumentFromNode(doc.Find("#rename-box").Nodes[0]).Text())
	}
	res, doc = b.htmxForm(base+"/files:rename", csrf, url.Values{"from": {"guide/notes.md"}, "to": {"../../outside.md"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find("[data-testid=rename-error]").Text(), "not allowed") {
		t.Fatalf("rename out of the project: %d %s", res.StatusCode, doc.Text())
	}

	// Delete: the tree without the file; a refusal goes to the status line.
	res, doc = b.htmxForm(base+"/files:delete", csrf, url.Values{"path": {"guide/notes.md"}})
	if res.StatusCode != 200 || doc.Find(`[data-file="guide/notes.md"]`).Length() != 0 || doc.Find("#tree").Length() != 1 {
		t.Fatalf("delete: %d %s", res.StatusCode, doc.Text())
	}
	assertTrigger(t, res, "studio:file-deleted", map[string]string{"path": "guide/notes.md"})
	res, doc = b.htmxForm(base+"/files:delete", csrf, url.Values{"path": {"../" + id}})
	if res.StatusCode != http.StatusBadRequest || res.Header.Get("HX-Retarget") != "#editor-status" {
		t.Fatalf("delete out of the project: %d %v %s", res.StatusCode, res.Header, doc.Text())
	}

	// Without JavaScript the create form works and leads back to the page.
	res, _ = b.post(base+"/files:create", url.Values{"csrf_token": {csrf}, "path": {"plain.txt"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != base {
		t.Fatalf("create without htmx: %d %s", res.StatusCode, res.Header.Get("Location"))
	}

	// Another user's project is not there at all, for every form.
	other := env.browser()
	other.signup("b@example.com")
	_, _, otherCSRF := other.page("/")
	for _, form := range []string{"create", "rename", "delete"} {
		res, _ := other.htmxForm(base+"/files:"+form, otherCSRF, url.Values{"path": {"plain.txt"}, "from": {"plain.txt"}, "to": {"x.txt"}})
		if res.StatusCode != http.StatusNotFound || res.Header.Get("HX-Retarget") != "" {
			t.Errorf("%s as another user: %d", form, res.StatusCode)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Join(env.dir, "projects", id), "plain.txt")); err != nil {
		t.Fatalf("another user's forms touched the project: %v", err)
	}
}

func assertTrigger(t *testing.T, res *http.Response, event string, want map[string]string) {
	t.Helper()
	var got map[string]map[string]string
	if err := json.Unmarshal([]byte(res.Header.Get("HX-Trigger")), &got); err != nil {
		t.Fatalf("HX-Trigger %q: %v", res.Header.Get("HX-Trigger"), err)
	}
	for k, v := range want {
		if got[event][k] != v {
			t.Fatalf("HX-Trigger %q, want %s %v", res.Header.Get("HX-Trigger"), event, want)
		}
	}
}

// The workspace's routes answer errors in the format the client asks for:
// JSON for Accept: application/json, a fragment for htmx, a page otherwise,
// whatever the path.
func TestWorkspaceErrorsFollowAccept(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	b.signup("a@example.com")
	_, _, csrf := b.page("/")
	missing := "/projects/00000000-0000-4000-8000-000000000000"
	routes := []struct{ method, path string }{
		{"GET", missing},
		{"GET", missing + "/header"},
		{"GET", missing + "/tree"},
		{"GET", missing + "/events"},
		{"GET", missing + "/logs"},
		{"GET", missing + "/files/src/App.tsx"},
		{"PUT", missing + "/files/src/App.tsx"},
		{"DELETE", missing + "/files/src/App.tsx"},
		{"POST", missing + "/files:move"},
		{"POST", missing + "/files:create"},
		{"POST", missing + "/files:rename"},
		{"POST", missing + "/files:delete"},
		{"POST", missing + "/chat"},
		{"POST", missing + "/restart"},
	}
	for _, r := range routes {
		res, body := b.do(r.method, r.path, strings.NewReader(""), "X-CSRF-Token", csrf, "Accept", "application/json")
		var problem map[string]map[string]string
		if res.StatusCode != http.StatusNotFound || json.Unmarshal([]byte(body), &problem) != nil || problem["error"]["code"] != "not_found" {
			t.Errorf("%s %s as JSON: %d %s", r.method, r.path, res.StatusCode, body)
		}
		res, body = b.do(r.method, r.path, strings.NewReader(""), "X-CSRF-Token", csrf, "HX-Request", "true", "Accept", "*/*")
		if res.StatusCode != http.StatusNotFound || !strings.Contains(body, `data-testid="error"`) || strings.Contains(body, "<html") {
			t.Errorf("%s %s for htmx: %d %s", r.method, r.path, res.StatusCode, body)
		}
		res, body = b.do(r.method, r.path, strings.NewReader(""), "X-CSRF-Token", csrf, "Accept", "text/html")
		if res.StatusCode != http.StatusNotFound || !strings.Contains(body, `data-testid="error-page"`) {
			t.Errorf("%s %s as a page: %d %s", r.method, r.path, res.StatusCode, body)
		}
	}
}
