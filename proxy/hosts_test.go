package proxy_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"studio/proxy"
)

var quiet = slog.New(slog.DiscardHandler)

// TestHostAllowList: only the UI's own host, loopback literals and preview
// hosts are answered. Any other name — one an attacker rebinds to studio's
// address, say — gets 421 and a page that says nothing about studio.
func TestHostAllowList(t *testing.T) {
	t.Parallel()
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "studio_csrf", Value: "x"})
		io.WriteString(w, "the studio app")
	})
	preview := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a preview") })
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	srv.Config.Handler = proxy.Router(proxy.Hosts{UI: "studio.localhost:" + port, PreviewDomain: "preview.localhost", Log: quiet}, app, preview)
	srv.Start()
	t.Cleanup(srv.Close)

	cases := []struct {
		host, path string
		want       int
		body       string
	}{
		{"studio.localhost:" + port, "/", 200, "the studio app"},
		{"STUDIO.localhost.:" + port, "/login", 200, "the studio app"},
		{"127.0.0.1:" + port, "/api/auth/me", 200, "the studio app"},
		{"127.0.0.1", "/", 200, "the studio app"},
		{"localhost:" + port, "/", 200, "the studio app"},
		{"[::1]:" + port, "/", 200, "the studio app"},
		{"[::1]", "/", 200, "the studio app"},
		{"shop.preview.localhost:" + port, "/", 200, "a preview"},
		{"shop.preview.localhost", "/src/main.tsx", 200, "a preview"},
		// Anything else, whatever the path.
		{"evil.example", "/", 421, ""},
		{"evil.example", "/login", 421, ""},
		{"evil.example", "/api/auth/register", 421, ""},
		{"evil.example:" + port, "/api/projects", 421, ""},
		{"attacker.example:8080", "/", 421, ""},
		{"studio.localhost:1", "/", 421, ""}, // the UI's name on another port
		{"studio.localhost.evil.example:" + port, "/", 421, ""},
		{"shop.studio.localhost:" + port, "/", 421, ""}, // previews live under the preview domain only
		{"a.b.preview.localhost:" + port, "/", 421, ""},
		{"preview.localhost:" + port, "/", 421, ""},
		{"127.0.0.2:" + port, "/", 421, ""},
		{"0.0.0.0:" + port, "/", 421, ""},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
		req.Host = tc.host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body := string(b)
		if res.StatusCode != tc.want {
			t.Errorf("Host %q %s: %d %q, want %d", tc.host, tc.path, res.StatusCode, body, tc.want)
			continue
		}
		if tc.want == 200 {
			if body != tc.body {
				t.Errorf("Host %q %s answered %q, want %q", tc.host, tc.path, body, tc.body)
			}
			continue
		}
		lower := strings.ToLower(body)
		if strings.Contains(lower, "studio") || strings.Contains(lower, "href") || len(res.Cookies()) > 0 || res.Header.Get("Set-Cookie") != "" {
			t.Errorf("Host %q: the refusal is not neutral: %q %v", tc.host, body, res.Header)
		}
	}
}

// TestHealthOnAnyHost: load balancers and orchestrators probe by address.
func TestHealthOnAnyHost(t *testing.T) {
	t.Parallel()
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	srv := httptest.NewServer(proxy.Router(proxy.Hosts{UI: "studio.localhost", PreviewDomain: "studio.localhost", Log: quiet}, app, app))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/healthz", "/readyz"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Host = "10.1.2.3:8080"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s by address: %d", path, res.StatusCode)
		}
	}
}
