package static

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func testSet() *Set {
	return NewSet(fstest.MapFS{
		"app.css":               {Data: []byte("body{}")},
		"htmx.min.js":           {Data: []byte("htmx")},
		".gitkeep":              {},
		"monaco/vs/loader.js":   {Data: []byte("loader")},
		"monaco/vs/editor/e.js": {Data: []byte("editor")},
	})
}

func TestHashedNames(t *testing.T) {
	s := testSet()
	css := s.Path("app.css")
	if !strings.HasPrefix(css, "/static/app.") || !strings.HasSuffix(css, ".css") || len(css) != len("/static/app..css")+10 {
		t.Fatalf("Path(app.css) = %q", css)
	}
	if got := s.Path("htmx.min.js"); !strings.HasPrefix(got, "/static/htmx.min.") {
		t.Fatalf("Path(htmx.min.js) = %q", got)
	}
	changed := NewSet(fstest.MapFS{"app.css": {Data: []byte("body{color:red}")}})
	if changed.Path("app.css") == css {
		t.Fatal("a content change kept the same name")
	}
	if s.Path(".gitkeep") != "/static/missing/.gitkeep" || s.Missing() {
		t.Fatal("hidden files must not be assets")
	}
	if !NewSet(fstest.MapFS{".gitkeep": {}}).Missing() {
		t.Fatal("an unbuilt dist should report Missing")
	}
}

func TestServing(t *testing.T) {
	s := testSet()
	get := func(path string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	rec := get(s.Path("app.css"))
	if rec.Code != 200 || rec.Body.String() != "body{}" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("css: %d %q %q", rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"))
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Fatalf("Cache-Control %q", cc)
	}
	rec = get(s.Path("monaco") + "/vs/loader.js")
	if rec.Code != 200 || rec.Body.String() != "loader" || !strings.Contains(rec.Header().Get("Content-Type"), "javascript") {
		t.Fatalf("bundle file: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, bad := range []string{
		"/static/app.css",                // unhashed
		"/static/app.0000000000.css",     // stale hash
		"/static/missing/app.css",        // unknown
		s.Path("monaco") + "/vs",         // a folder
		s.Path("monaco") + "/../app.css", // traversal
		s.Path("monaco") + "/vs/../../app.css",
		s.Path("monaco") + "/%2e%2e/app.css",
		"/static/monaco.0000000000/vs/loader.js",
		"/static/../static.go",
	} {
		if rec := get(bad); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", bad, rec.Code)
		}
	}
}

func BenchmarkPath(b *testing.B) {
	s := testSet()
	for b.Loop() {
		_ = s.Path("app.css")
	}
}

func TestEmbeddedDist(t *testing.T) {
	if Missing() {
		t.Skip("static/dist is not built; `go tool task assets` builds it")
	}
	for _, name := range []string{"app.css", "htmx.min.js", "sse.js", "app.js", "workspace.js", "monaco", "terminal.js", "xterm.js", "xterm-addon-fit.js", "xterm.css"} {
		if strings.HasPrefix(Path(name), "/static/missing/") {
			t.Errorf("%s is not in the built assets", name)
		}
	}
}
