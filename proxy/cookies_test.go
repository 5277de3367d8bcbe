package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// TestProjectCannotSetStudioCookies: a project's Set-Cookie reaches the
// browser only when it names none of studio's cookies and sets no Domain
// wider than the preview host, in final, informational and upgrade
// answers alike.
func TestProjectCannotSetStudioCookies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tossed := []string{
		"studio_session=attacker; Domain=studio.localhost; Path=/login",
		"studio_csrf=attacker; Path=/settings",
		"__Host-studio_session=attacker; Secure; Path=/",
		"__secure-STUDIO_REFRESH=attacker; Path=/api/auth",
		"Studio_Preview=forged",
		"studio_share=forged",
		"theme=dark; Domain=studio.localhost",
		"theme=dark; domain=.studio.localhost",
		"theme=dark; Domain=other.studio.localhost",
		"theme=dark; Path=/; DOMAIN = localhost",
		"=studio_session=attacker",     // a nameless cookie is sent as its bare value
		"studio_session",               // and so is one without "="
		" studio_session =attacker",    // spaces around the name are trimmed by browsers
		"theme=dark; Domain=; Path=/x", // an empty Domain: not worth guessing what a browser makes of it
	}
	kept := []string{
		"app_pref=dark",
		"app_sid=1; Path=/; HttpOnly; SameSite=Lax",
		"session=project-own; Path=/",
		"studio_sessions=similar-but-not-ours",
	}
	var own []string // Domain set to the preview host itself is fine
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.Split(r.Host, ":")[0]
		if r.URL.Path == "/early" {
			w.Header().Add("Set-Cookie", "studio_session=attacker; Domain=studio.localhost")
			w.Header().Add("Link", "</style.css>; rel=preload; as=style")
			w.WriteHeader(http.StatusEarlyHints)
		}
		for _, c := range append(append([]string{}, tossed...), kept...) {
			w.Header().Add("Set-Cookie", c)
		}
		w.Header().Add("Set-Cookie", "own=1; Domain="+host)
		w.Header().Add("Set-Cookie", "own2=1; Domain=."+strings.ToUpper(host))
		io.WriteString(w, "ok")
	}))
	defer upstream.Close()
	p := e.projectServedBy(upstream)
	owner := e.browser()
	e.signIn(owner, p, "/")
	own = []string{"own=1; Domain=" + p.Slug + ".studio.localhost", "own2=1; Domain=." + strings.ToUpper(p.Slug+".studio.localhost")}

	for _, path := range []string{"/", "/early"} {
		var early []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			early = append(early, h.Values("Set-Cookie")...)
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", e.host(p.Slug)+path, nil)
		res, err := owner.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		got := res.Header.Values("Set-Cookie")
		for _, c := range append(append([]string{}, kept...), own...) {
			if !slices.Contains(got, c) {
				t.Errorf("%s: the project's own cookie %q did not pass: %q", path, c, got)
			}
		}
		for _, c := range tossed {
			if slices.Contains(got, c) {
				t.Errorf("%s: a project set %q", path, c)
			}
		}
		if len(got) != len(kept)+len(own) {
			t.Errorf("%s: Set-Cookie lines %q", path, got)
		}
		if len(early) > 0 {
			t.Errorf("%s: an informational answer set %q", path, early)
		}
	}
}
