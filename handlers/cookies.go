package handlers

import (
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"studio/auth"
)

// Cookie tossing: a page on a preview host (a sibling of the UI host) can
// set a cookie named like studio's with Domain=<parent> and a longer Path;
// the browser then sends both, the planted one first. Studio's own cookies
// are host-only on their own path, so on a duplicate the planted copies are
// the ones with a Domain or another path: those are expired and the request
// is not carried out.

// maxClearedSegments bounds the paths expired for one duplicate.
const maxClearedSegments = 8

// duplicateCookieMessage is what the person reads.
const duplicateCookieMessage = "Your browser sent two Studio sign-in cookies with the same name, so Studio cannot tell which one is yours; another site may have planted one. The extra copies have been removed: try again, and sign in again if you are asked to."

// uiCookie is a cookie the UI reads and the one path studio sets it on.
type uiCookie struct{ name, path string }

func (s *Server) uiCookies() []uiCookie {
	return []uiCookie{{s.names.Session, "/"}, {s.names.CSRF, "/"}, {s.names.Refresh, refreshPath}}
}

// refuseDuplicateCookies stops a request that carries one of studio's
// cookie names twice. A page request is sent back to the same address once
// the planted copies are expired, so the person stays signed in as
// themselves; anything else answers 403 duplicate_cookie. A copy that
// survives that (a Domain studio cannot expire) signs the browser out.
func (s *Server) refuseDuplicateCookies(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		dup := s.duplicatedCookie(c.Request())
		if dup == "" {
			if _, marked := cookieNamed(c.Request(), s.names.Cleared); marked {
				c.SetCookie(s.hostCookie(s.names.Cleared, "", "/", -1, http.SameSiteLaxMode))
			}
			return next(c)
		}
		s.log(c).Warn("duplicate cookie refused", "cookie", dup, "path", c.Request().URL.Path)
		s.expirePlantedCookies(c)
		_, retried := cookieNamed(c.Request(), s.names.Cleared)
		page := isSafeMethod(c.Request().Method) && !wantsJSON(c)
		switch {
		case retried:
			s.expireStudioCookies(c)
		case page:
			c.SetCookie(s.hostCookie(s.names.Cleared, "1", "/", 30, http.SameSiteLaxMode))
			return c.Redirect(http.StatusSeeOther, auth.LocalPath(c.Request().URL.RequestURI()))
		}
		return NewError(http.StatusForbidden, "duplicate_cookie", duplicateCookieMessage)
	}
}

// duplicatedCookie names a UI cookie the request carries more than once.
func (s *Server) duplicatedCookie(r *http.Request) string {
	seen := map[string]int{}
	for _, ck := range r.Cookies() {
		seen[ck.Name]++
	}
	for _, u := range s.uiCookies() {
		if seen[u.name] > 1 {
			return u.name
		}
	}
	return ""
}

func cookieNamed(r *http.Request, name string) (*http.Cookie, bool) {
	ck, err := r.Cookie(name)
	return ck, err == nil
}

// expirePlantedCookies expires every copy of the UI's cookies that a
// sibling host could have set for this request: Domain=<this host or a
// parent> on every path prefix, and host-only on every prefix but the
// cookie's own path, which holds the genuine one.
func (s *Server) expirePlantedCookies(c echo.Context) {
	domains := parentDomains(c.Request().Host)
	for _, u := range s.uiCookies() {
		for _, p := range pathPrefixes(c.Request().URL.Path) {
			for _, d := range domains {
				ck := s.hostCookie(u.name, "", p, -1, http.SameSiteLaxMode)
				ck.Domain = d
				c.SetCookie(ck)
			}
			if p != u.path {
				c.SetCookie(s.hostCookie(u.name, "", p, -1, http.SameSiteLaxMode))
			}
		}
	}
}

// expireStudioCookies signs the browser out: the genuine cookies go too.
func (s *Server) expireStudioCookies(c echo.Context) {
	for _, u := range s.uiCookies() {
		c.SetCookie(s.hostCookie(u.name, "", u.path, -1, http.SameSiteLaxMode))
	}
	c.SetCookie(s.hostCookie(s.names.Cleared, "", "/", -1, http.SameSiteLaxMode))
}

// parentDomains are the host and its parents ("a.b.c" → a.b.c, b.c, c),
// none for an IP address.
func parentDomains(hostport string) []string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || net.ParseIP(host) != nil {
		return nil
	}
	var out []string
	for {
		out = append(out, host)
		_, parent, ok := strings.Cut(host, ".")
		if !ok || parent == "" {
			return out
		}
		host = parent
	}
}

// pathPrefixes are the cookie paths that match path: "/settings/a" →
// "/", "/settings", "/settings/", "/settings/a".
func pathPrefixes(path string) []string {
	out := []string{"/"}
	segments := strings.Split(strings.Trim(path, "/"), "/")
	if len(segments) > maxClearedSegments {
		segments = segments[:maxClearedSegments]
	}
	prefix := ""
	for i, seg := range segments {
		if seg == "" {
			break
		}
		prefix += "/" + seg
		out = append(out, prefix)
		if i < len(segments)-1 || strings.HasSuffix(path, "/") {
			out = append(out, prefix+"/")
		}
	}
	return out
}
