package proxy

import (
	"log/slog"
	"net"
	"net/http"
	"strings"

	"studio/config"
)

// Hosts are the names studio answers to. Any other Host header is refused,
// so a name an attacker points at studio's address (DNS rebinding) reaches
// neither the UI nor a preview.
type Hosts struct {
	UI            string       // host[:port] of the UI's public address (config.UIHost)
	PreviewDomain string       // previews are {slug}.{PreviewDomain}, on any port
	Log           *slog.Logger // where refusals are noted, for the operator who mistyped STUDIO_BASE_URL
	// ForwardAuth answers config.ForwardAuthPath on any host but a
	// preview's or the UI's name (Traefik names studio by the address it
	// dials); nil = not served.
	ForwardAuth http.Handler
}

// Router sends preview hosts to preview and the UI's hosts to app, and
// answers 421 to every other host.
func Router(hosts Hosts, app, preview http.Handler) http.Handler {
	suffix := "." + strings.ToLower(hosts.PreviewDomain)
	ui := strings.ToLower(hosts.UI)
	log := hosts.Log
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case hosts.ForwardAuth != nil && r.URL.Path == config.ForwardAuthPath && SlugOf(r.Host, suffix) == "" && !isUIName(r.Host, ui):
			hosts.ForwardAuth.ServeHTTP(w, r)
		case isUIHost(r.Host, ui):
			app.ServeHTTP(w, r)
		case SlugOf(r.Host, suffix) != "":
			preview.ServeHTTP(w, r)
		case isProbe(r):
			app.ServeHTTP(w, r)
		default:
			log.Info("refused a request for a host studio does not serve; if people reach studio by this name, set STUDIO_BASE_URL to it",
				"host", r.Host, "path", r.URL.Path, "remote", r.RemoteAddr)
			misdirected(w)
		}
	})
}

// isUIHost: the UI's own host (a default port may be spelled out or left
// out), or a loopback literal on any port, for someone on the machine
// itself. localhost is safe too: browsers resolve it to loopback
// themselves and never ask DNS.
func isUIHost(host, ui string) bool {
	name, port := splitHost(host)
	switch name {
	case "127.0.0.1", "::1", "localhost":
		return true
	}
	uiName, uiPort := splitHost(ui)
	if name != uiName {
		return false
	}
	return port == uiPort || uiPort == "" && (port == "80" || port == "443")
}

// isUIName: the UI's own host name, on any port (not a loopback literal).
// ForwardAuth is never answered there: a reverse proxy in front of the UI
// is a trusted peer for every client's request.
func isUIName(host, ui string) bool {
	name, _ := splitHost(host)
	uiName, _ := splitHost(ui)
	return name == uiName
}

// splitHost lower-cases a Host header and parts it into name and port,
// without brackets or a trailing dot.
func splitHost(host string) (name, port string) {
	host = strings.ToLower(host)
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, port = h, p
	}
	host = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	return host, port
}

// isProbe: health checks from load balancers and orchestrators name the
// server by its address; they reveal nothing and change nothing.
func isProbe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz")
}

// misdirected is deliberately bare: no name, no links, no cookies.
func misdirected(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusMisdirectedRequest)
	_, _ = w.Write([]byte("421 Misdirected Request: this server does not answer to this host name.\n"))
}
