package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

func TestWorkspaceTreeOpensFoldersLazily(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	token := env.register("a@example.com")
	b := env.browser()
	if res := b.login("a@example.com", "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	id := env.newProject(token, "Tree")
	for _, p := range []string{"src/app.js", "src/lib/deep/util.js", "docs/notes.md"} {
		if res, body := env.put(token, id, p, []byte("x")); res.StatusCode != 201 && res.StatusCode != 200 {
			t.Fatalf("write %s: %d %s", p, res.StatusCode, body)
		}
	}

	// The page opens src; its folders wait closed, with nothing loaded.
	_, doc, _ := b.page("/projects/" + id)
	expanded := func(doc *goquery.Document, dir string) string {
		_, open := doc.Find(`[data-dir="` + dir + `"]`).Parent().Attr("open")
		return strconv.FormatBool(open)
	}
	if expanded(doc, "src") != "true" || expanded(doc, "docs") != "false" || expanded(doc, "src/lib") != "false" {
		t.Fatalf("tree on the page: %s", doc.Find("#tree").Text())
	}
	if doc.Find(`[data-file="src/app.js"]`).Length() != 1 || doc.Find(`[data-file="docs/notes.md"]`).Length() != 0 {
		t.Fatalf("rows on the page: %s", doc.Find("#tree").Text())
	}
	if get, _ := doc.Find(`[data-dir="docs"]`).Parent().Attr("hx-get"); get != "/projects/"+id+"/tree?dir=docs" {
		t.Fatalf("docs loads from %q", get)
	}
	// Folders come first.
	if first, _ := doc.Find("#tree > li > details > [data-dir], #tree > li > [data-file]").First().Attr("data-dir"); first != "docs" {
		t.Fatalf("first row is %q", first)
	}

	// Opening a folder fetches its rows.
	res, frag := b.do("GET", "/projects/"+id+"/tree?dir=src/lib", nil, "HX-Request", "true")
	if res.StatusCode != 200 || !strings.Contains(frag, `data-dir="src/lib/deep"`) || strings.Contains(frag, "util.js") {
		t.Fatalf("src/lib rows: %d %q", res.StatusCode, frag)
	}

	// A refresh keeps the folders that were open.
	_, doc, _ = b.page("/projects/" + id + "/tree?open=src&open=src/lib&open=src/lib/deep")
	if doc.Find(`[data-file="src/lib/deep/util.js"]`).Length() != 1 || expanded(doc, "docs") != "false" {
		t.Fatalf("refreshed tree: %s", doc.Text())
	}
	// The folders of the file open in the editor stay open too.
	_, doc, _ = b.page("/projects/" + id + "/tree?reveal=src/lib/deep/util.js")
	if doc.Find(`[data-file="src/lib/deep/util.js"]`).Length() != 1 || expanded(doc, "src/lib") != "true" {
		t.Fatalf("tree revealing util.js: %s", doc.Text())
	}
	// An open folder that is gone is left out, not an error.
	if res, _ := b.do("GET", "/projects/"+id+"/tree?open=gone", nil); res.StatusCode != 200 {
		t.Fatalf("refresh with a removed folder: %d", res.StatusCode)
	}

	// Bad folders.
	for dir, want := range map[string]int{"../etc": 400, "node_modules": 400, "nope": 404, "src/app.js": 400} {
		if res, body := b.do("GET", "/projects/"+id+"/tree?dir="+dir, nil); res.StatusCode != want {
			t.Errorf("dir %q: %d %s, want %d", dir, res.StatusCode, body, want)
		}
	}
	// Another user sees nothing.
	other := env.browser()
	other.signup("b@example.com")
	if res, _ := other.do("GET", "/projects/"+id+"/tree?dir=src", nil); res.StatusCode != 404 {
		t.Fatalf("other user's tree: %d", res.StatusCode)
	}
}

// The log pane is htmx's sse-swap: the browser's stream sends each line as
// HTML text, not the API's JSON.
func TestWorkspaceLogsStreamHTML(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	token := env.register("a@example.com")
	b := env.browser()
	if res := b.login("a@example.com", "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	id := env.newProject(token, "Logs")
	_, doc, _ := b.page("/projects/" + id)
	pane := doc.Find("#logs")
	if pane.AttrOr("sse-swap", "") != "log" || pane.AttrOr("hx-ext", "") != "sse" || pane.AttrOr("data-logs", "") != "/projects/"+id+"/logs?tail=500" {
		t.Fatalf("log pane: %v", pane.Nodes[0].Attr)
	}
	req, _ := http.NewRequest("GET", env.http.URL+"/projects/"+id+"/logs?tail=50", nil)
	for _, c := range b.client.Jar.Cookies(mustURL(env.http.URL)) {
		req.AddCookie(c)
	}
	readSSE(t, req, func(event, data string) bool {
		if event != "log" {
			return false
		}
		if strings.HasPrefix(data, `{"line"`) || strings.ContainsAny(data, "<>") {
			t.Fatalf("a log line for the page is not HTML text: %q", data)
		}
		return true
	})
}
