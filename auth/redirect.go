package auth

import (
	"net/url"
	"strings"
)

// LocalPath returns next if, once every control character is removed (as
// browsers do), it is a path on the same origin; otherwise "/". It guards
// every redirect to a place the request named (?next= after sign-in, a
// preview's ?next=), so no link can send the browser to another host.
func LocalPath(next string) string {
	clean := strings.Map(func(r rune) rune {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return -1
		}
		return r
	}, next)
	clean = strings.TrimSpace(clean)
	// Browsers read a backslash as a slash, so "/\evil" is "//evil".
	if !strings.HasPrefix(clean, "/") || strings.HasPrefix(clean, "//") || strings.ContainsRune(clean, '\\') {
		return "/"
	}
	u, err := url.Parse(clean)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return clean
}
