package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// consolePath is the script that reports a preview's console output and
// uncaught errors to the workspace around it. The proxy adds it to the
// HTML pages it forwards; it is never written into the project's files.
// It is served from the preview's own origin, so a page whose
// Content-Security-Policy allows 'self' scripts still runs it.
const consolePath = "/__studio/console.js"

var consoleTag = []byte(`<script src="` + consolePath + `"></script>`)

// The script posts {studio: "console", level, text} to the frame's parent
// (or the window that opened it) and only to studio's own origin.
const consoleJS = `(function () {
  "use strict";
  var origin = %s;
  var targets = [window.parent !== window ? window.parent : null, window.opener].filter(Boolean);
  if (!targets.length) return;
  function text(v) {
    if (v instanceof Error) return v.stack && v.stack.indexOf(v.message) >= 0 ? v.stack : String(v) + (v.stack ? "\n" + v.stack : "");
    if (typeof v === "string") return v;
    try { return JSON.stringify(v); } catch (e) { return String(v); }
  }
  function send(level, args) {
    var msg = { studio: "console", level: level, text: Array.prototype.map.call(args, text).join(" ").slice(0, 10000) };
    targets.forEach(function (t) { try { t.postMessage(msg, origin); } catch (e) { /* closed */ } });
  }
  ["log", "info", "warn", "error", "debug"].forEach(function (level) {
    var original = console[level];
    console[level] = function () { send(level, arguments); return original.apply(console, arguments); };
  });
  window.addEventListener("error", function (e) {
    var where = e.filename ? " (" + e.filename + ":" + e.lineno + ")" : "";
    send("error", ["Uncaught " + (e.error ? text(e.error) : e.message) + where]);
  });
  window.addEventListener("unhandledrejection", function (e) { send("error", ["Uncaught (in promise)", e.reason]); });
})();
`

// serveConsole answers consolePath with the script, addressed to the UI.
func (p *Preview) serveConsole(w http.ResponseWriter) {
	origin := "*"
	if u, err := url.Parse(p.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		origin = u.Scheme + "://" + u.Host
	}
	quoted, _ := json.Marshal(origin)
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	_, _ = io.WriteString(w, strings.Replace(consoleJS, "%s", string(quoted), 1))
}

// asksForPage: the browser asks for an HTML page, which will carry the
// console script; the dev server is asked not to compress it, so the
// proxy can add the tag without decoding it.
func asksForPage(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// addConsoleScript puts the console script's tag into a successful,
// uncompressed HTML page a browser navigates to (a document or a frame,
// never a fragment fetched by the page's own scripts), as the first thing
// in its head, so it sees the errors of the page's own scripts. Only the
// start of the page is read ahead, up to where the tag goes, so a page
// streamed in parts still arrives in parts.
func addConsoleScript(res *http.Response) error {
	if res.StatusCode != http.StatusOK || res.Request == nil || !asksForPage(res.Request) {
		return nil
	}
	if dest := res.Request.Header.Get("Sec-Fetch-Dest"); dest != "" && dest != "document" && dest != "iframe" {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != "text/html" {
		return nil
	}
	if enc := res.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		return nil
	}
	start, whole, err := pageStart(res.Body)
	if err != nil {
		return err
	}
	rest := res.Body
	if !whole && !headTag.Match(start) && !bodyTag.Match(start) {
		// No place for the tag near the start: the page passes untouched.
		res.Body = readCloser{io.MultiReader(bytes.NewReader(start), rest), rest}
		return nil
	}
	start = withConsoleTag(start)
	res.Body = readCloser{io.MultiReader(bytes.NewReader(start), rest), rest}
	if res.ContentLength >= 0 {
		res.ContentLength += int64(len(consoleTag))
		res.Header.Set("Content-Length", strconv.FormatInt(res.ContentLength, 10))
	} else {
		res.Header.Del("Content-Length")
	}
	return nil
}

// maxPageStart is how far into a page the place for the tag is looked for.
const maxPageStart = 64 << 10

// pageStart reads a page up to its <head> or <body> tag, its end (whole),
// or maxPageStart, whichever comes first, taking what each read brings.
func pageStart(body io.Reader) (start []byte, whole bool, err error) {
	buf := make([]byte, 8<<10)
	for len(start) < maxPageStart {
		n, err := body.Read(buf)
		start = append(start, buf[:n]...)
		if headTag.Match(start) || bodyTag.Match(start) {
			return start, false, nil
		}
		if err == io.EOF {
			return start, true, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	return start, false, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

var (
	headTag    = regexp.MustCompile(`(?i)<head(\s[^>]*)?>`)
	bodyTag    = regexp.MustCompile(`(?i)<body(\s[^>]*)?>`)
	htmlTag    = regexp.MustCompile(`(?i)<html(\s[^>]*)?>`)
	doctypeTag = regexp.MustCompile(`(?i)^\s*<!doctype[^>]*>`)
)

// withConsoleTag inserts the tag after <head>, or <body>, or <html>, or
// the doctype (a page before it would be drawn in quirks mode).
func withConsoleTag(page []byte) []byte {
	at := 0
	for _, tag := range []*regexp.Regexp{headTag, bodyTag, htmlTag, doctypeTag} {
		if loc := tag.FindIndex(page); loc != nil {
			at = loc[1]
			break
		}
	}
	out := make([]byte, 0, len(page)+len(consoleTag))
	out = append(out, page[:at]...)
	out = append(out, consoleTag...)
	return append(out, page[at:]...)
}
