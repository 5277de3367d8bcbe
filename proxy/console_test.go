package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestWithConsoleTag(t *testing.T) {
	t.Parallel()
	tag := string(consoleTag)
	cases := []struct{ page, want string }{
		{`<!doctype html><html><head><title>x</title></head><body></body></html>`, `<!doctype html><html><head>` + tag + `<title>x</title>`},
		{`<!DOCTYPE html><HTML lang="en"><HEAD data-x="1"><meta charset="utf-8">`, `<HEAD data-x="1">` + tag + `<meta`},
		{`<!doctype html><header>no head</header><body class="a"><p>hi`, `<body class="a">` + tag + `<p>hi`},
		{`<!doctype html><p>bare`, `<!doctype html>` + tag + `<p>bare`},
		{`<p>fragment`, tag + `<p>fragment`},
	}
	for _, c := range cases {
		got := string(withConsoleTag([]byte(c.page)))
		if !strings.Contains(got, c.want) || strings.Count(got, tag) != 1 {
			t.Errorf("withConsoleTag(%q) = %q, want it to hold %q once", c.page, got, c.want)
		}
	}
}

// The proxy asks the dev server for uncompressed pages and adds the
// console script to its successful HTML answers only.
func TestConsoleScriptInPages(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			if enc := r.Header.Get("Accept-Encoding"); enc != "identity" {
				t.Errorf("a page was asked for with Accept-Encoding %q", enc)
			}
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, `<!doctype html><html><head></head><body><div id="root"></div></body></html>`)
		case "/missing":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `<html><head></head></html>`)
		case "/gzipped":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Encoding", "gzip")
			io.WriteString(w, "not really gzip")
		case "/main.js":
			w.Header().Set("Content-Type", "text/javascript")
			io.WriteString(w, `document.write("<head>")`)
		}
	}))
	t.Cleanup(upstream.Close)
	p := New(&Preview{PublicURL: "http://studio.localhost:8080"})
	target, _ := url.Parse(upstream.URL)
	get := func(path string) (*http.Response, string) {
		r := httptest.NewRequest("GET", "http://app.studio.localhost"+path, nil)
		r.Header.Set("Accept", "text/html,*/*")
		r.Header.Set("Accept-Encoding", "gzip, br")
		w := httptest.NewRecorder()
		p.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, target)))
		return w.Result(), w.Body.String()
	}
	res, body := get("/")
	if !strings.Contains(body, `<head><script src="/__studio/console.js"></script></head>`) || res.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("page: %q (Content-Length %s)", body, res.Header.Get("Content-Length"))
	}
	for _, path := range []string{"/missing", "/gzipped", "/main.js"} {
		if _, body := get(path); strings.Contains(body, consolePath) {
			t.Errorf("%s got the console script: %q", path, body)
		}
	}

	w := httptest.NewRecorder()
	p.serveConsole(w)
	if js := w.Body.String(); !strings.Contains(js, `var origin = "http://studio.localhost:8080";`) || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("console script: %s %q", w.Header().Get("Content-Type"), js[:80])
	}
}

// A page streamed in parts still arrives in parts, the tag in its head;
// a fragment the page fetches itself gets no tag.
func TestConsoleScriptStreamsAndSkipsFetches(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><html><head><title>x</title>`)
		w.(http.Flusher).Flush()
		if r.URL.Path == "/stream" {
			<-release
		}
		io.WriteString(w, `</head><body>rest</body></html>`)
	}))
	t.Cleanup(upstream.Close)
	p := New(&Preview{PublicURL: "http://studio.localhost:8080"})
	target, _ := url.Parse(upstream.URL)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, target)))
	}))
	t.Cleanup(front.Close)
	get := func(path, dest string) *http.Response {
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		req.Header.Set("Accept", "text/html,*/*")
		req.Header.Set("Sec-Fetch-Dest", dest)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}

	res := get("/stream", "document")
	first := make([]byte, 200)
	n, err := io.ReadAtLeast(res.Body, first, len(`<!doctype html><html><head>`+string(consoleTag)))
	if err != nil || !strings.Contains(string(first[:n]), `<head>`+string(consoleTag)) {
		t.Fatalf("the page's first part: %q %v", first[:n], err)
	}
	close(release)
	if rest, _ := io.ReadAll(res.Body); !strings.Contains(string(rest), "rest") {
		t.Fatalf("the rest: %q", rest)
	}

	res = get("/fragment", "empty")
	if body, _ := io.ReadAll(res.Body); strings.Contains(string(body), consolePath) {
		t.Fatalf("a fetched fragment got the console script: %q", body)
	}
}
