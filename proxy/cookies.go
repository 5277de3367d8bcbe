package proxy

import (
	"net/http"
	"strings"

	"studio/auth"
)

// dropForeignCookies removes from h every Set-Cookie a project must not
// send: one naming a studio cookie (any prefix, any case); one without a
// name, which a browser sends back as its bare value and so can read
// "studio_session=…"; and one with a Domain other than the preview host
// itself, which would reach the UI's host or another project's preview.
func dropForeignCookies(h http.Header, previewHost string) {
	lines := h.Values("Set-Cookie")
	if len(lines) == 0 {
		return
	}
	h.Del("Set-Cookie")
	host, _ := splitHost(previewHost)
	for _, line := range lines {
		if projectMaySet(line, host) {
			h.Add("Set-Cookie", line)
		}
	}
}

// projectMaySet reads a Set-Cookie line the way browsers do (RFC 6265bis
// §5.7): the name is what comes before the first "=", trimmed; attributes
// follow each ";".
func projectMaySet(line, host string) bool {
	pair, attrs, _ := strings.Cut(line, ";")
	name, _, ok := strings.Cut(pair, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || auth.IsStudioCookie(name) {
		return false
	}
	for attr := range strings.SplitSeq(attrs, ";") {
		key, value, _ := strings.Cut(attr, "=")
		if !strings.EqualFold(strings.TrimSpace(key), "domain") {
			continue
		}
		domain := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(value), "."))
		if domain != host {
			return false
		}
	}
	return true
}

// cookieGuard filters the informational answers (103 Early Hints) that
// ReverseProxy writes straight through, without ModifyResponse.
type cookieGuard struct {
	http.ResponseWriter
	host string
}

func (g cookieGuard) WriteHeader(code int) {
	if code < http.StatusOK { // the final answer was filtered by ModifyResponse
		dropForeignCookies(g.Header(), g.host)
	}
	g.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush and Hijack (streams and
// websockets).
func (g cookieGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }
