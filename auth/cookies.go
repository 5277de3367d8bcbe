package auth

import "strings"

// Cookie names studio sets, in one place: the UI's session, CSRF and
// refresh cookies and the preview host's grant and share cookies. The
// preview proxy strips every one of them (in any prefixed form) from what
// it forwards to project code, so renaming one here cannot leak it.
const (
	SessionCookie = "studio_session"
	CSRFCookie    = "studio_csrf"
	RefreshCookie = "studio_refresh"
	PreviewCookie = "studio_preview"
	ShareCookie   = "studio_share"
	// ClearedCookie marks, for a few seconds, a browser whose duplicate
	// studio cookies were just expired, so a copy that cannot be expired
	// leads to signing out instead of an endless redirect.
	ClearedCookie = "studio_cleared"
)

// CookieNames are the names in use for one scheme: under https the
// browser-session cookies carry the __Host- prefix (Secure, Path=/, no
// Domain, so no sibling host can set them) and the refresh cookie, which
// keeps its own path, __Secure-.
type CookieNames struct {
	Session, CSRF, Refresh, Preview, Share, Cleared string
}

// Cookies returns the cookie names for http (secure false) or https.
func Cookies(secure bool) CookieNames {
	if !secure {
		return CookieNames{SessionCookie, CSRFCookie, RefreshCookie, PreviewCookie, ShareCookie, ClearedCookie}
	}
	return CookieNames{
		Session: "__Host-" + SessionCookie,
		CSRF:    "__Host-" + CSRFCookie,
		Refresh: "__Secure-" + RefreshCookie,
		Preview: "__Host-" + PreviewCookie,
		Share:   "__Host-" + ShareCookie,
		Cleared: "__Host-" + ClearedCookie,
	}
}

// IsStudioCookie reports whether name is one of studio's cookies, with or
// without a prefix and in any letter case.
func IsStudioCookie(name string) bool {
	n := strings.ToLower(name)
	n = strings.TrimPrefix(n, "__host-")
	n = strings.TrimPrefix(n, "__secure-")
	switch n {
	case SessionCookie, CSRFCookie, RefreshCookie, PreviewCookie, ShareCookie, ClearedCookie:
		return true
	}
	return false
}
