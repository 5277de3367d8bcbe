package main

import (
	"net/http"
	"time"
)

// serverTimeouts bound how long a client may hold a connection without
// sending or receiving. There is no WriteTimeout: streams (SSE, proxied
// websockets and previews) write for as long as they live, so each
// response bounds its own writes instead (handlers' write deadline, the
// SSE writer's per-event deadline).
type serverTimeouts struct {
	readHeader time.Duration // a request's line and headers
	read       time.Duration // a whole request, body included
	idle       time.Duration // a kept-alive connection between requests
}

// defaultServerTimeouts leave a request body of STUDIO_MAX_BODY's default
// (8 MiB) two minutes, about 70 KB/s.
var defaultServerTimeouts = serverTimeouts{
	readHeader: 10 * time.Second,
	read:       2 * time.Minute,
	idle:       2 * time.Minute,
}

// newHTTPServer is the server studio listens with.
func newHTTPServer(h http.Handler, t serverTimeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.readHeader,
		ReadTimeout:       t.read,
		IdleTimeout:       t.idle,
	}
}
