package netguard

import (
	"errors"
	"net/http"
	"time"
)

// ErrRedirect is the error a Client returns for any 3xx answer.
var ErrRedirect = errors.New("the server answered with a redirect")

// NewClient returns an HTTP client for provider calls: every connection goes
// through d, no proxy is taken from the environment, and redirects are never
// followed — a redirect could carry the key to another host or replay a POST.
func NewClient(d *Dialer) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return ErrRedirect },
	}
}
