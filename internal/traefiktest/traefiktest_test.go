package traefiktest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/gorilla/websocket"
)

// echoServer answers every request on 5173 with what it got (path, Cookie
// and Host) as JSON, and takes every websocket upgrade, sending one text
// frame "hello" once upgraded.
const echoServer = `
const http = require("http"), crypto = require("crypto");
const server = http.createServer((req, res) => {
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify({path: req.url, cookie: req.headers.cookie || "", host: req.headers.host}));
});
server.on("upgrade", (req, socket) => {
  const accept = crypto.createHash("sha1")
    .update(req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
  socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Accept: " + accept + "\r\n\r\n");
  socket.write(Buffer.from([0x81, 5, ...Buffer.from("hello")]));
});
server.listen(5173);
`

// authServer plays studio's forward-auth endpoint: what it answers depends
// on the original request's path (X-Forwarded-Uri).
type authServer struct {
	mu     sync.Mutex
	seen   []http.Header // the headers of each auth request
	remote string        // the peer address of the last one
}

func (a *authServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, r.Header.Clone())
	a.remote = r.RemoteAddr
	a.mu.Unlock()
	switch uri := r.Header.Get("X-Forwarded-Uri"); {
	case uri == "/login-redirect":
		http.SetCookie(w, &http.Cookie{Name: "studio_state", Value: "abc", Path: "/", HttpOnly: true})
		w.Header().Set("Location", "http://studio.studio-test.localhost/login?next=x")
		w.WriteHeader(http.StatusSeeOther)
	case uri == "/relative-redirect":
		w.Header().Set("Location", "/login?next=x")
		w.WriteHeader(http.StatusSeeOther)
	case uri == "/missing":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<h1>No such project</h1>")
	case uri == "/starting":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<h1>Starting…</h1>")
	default:
		// The request's cookies minus studio's own, as studio answers.
		var keep []string
		for _, c := range r.Cookies() {
			if !strings.HasPrefix(c.Name, "studio_") {
				keep = append(keep, c.Name+"="+c.Value)
			}
		}
		w.Header().Set("Cookie", strings.Join(keep, "; "))
		w.WriteHeader(http.StatusOK)
	}
}

func (a *authServer) last() http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		return nil
	}
	return a.seen[len(a.seen)-1]
}

// TestRoutesProjectThroughForwardAuth runs the shape studio's Traefik
// router sets up: a project container on its own network, found by its
// labels, Traefik joined to that network, a forwardAuth middleware whose
// endpoint the test serves on the gateway of Traefik's network, and an
// errors middleware whose service comes from the file provider.
func TestRoutesProjectThroughForwardAuth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runtimeImage := runtimeImage(t)

	traefikNet := Network(t, "traefiktest-")
	projectNet := Network(t, "traefiktest-project-")

	auth := &authServer{}
	authSrv := httptest.NewUnstartedServer(auth)
	authSrv.Listener = Listen(t, traefikNet)
	authSrv.Start()
	t.Cleanup(authSrv.Close)

	errorPages := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<h1>error page %s for %s</h1>", r.URL.Path, r.Host)
	}))
	errorPages.Listener = Listen(t, traefikNet)
	errorPages.Start()
	t.Cleanup(errorPages.Close)

	tr := Start(t, Options{
		Network:  traefikNet,
		LogLevel: "DEBUG",
		Dynamic: fmt.Sprintf(`http:
  services:
    errorpages:
      loadBalancer:
        servers:
          - url: %s
`, errorPages.URL),
	})
	if err := tr.Connect(ctx, projectNet); err != nil {
		t.Fatal(err)
	}

	const name = "studio-x"
	labels := map[string]string{
		"traefik.enable":         "true",
		"traefik.docker.network": projectNet,

		"traefik.http.routers." + name + ".rule":        "Host(`x.studio-test.localhost`)",
		"traefik.http.routers." + name + ".entrypoints": "web",
		"traefik.http.routers." + name + ".service":     name,
		"traefik.http.routers." + name + ".middlewares": name + "-auth," + name + "-errors",

		"traefik.http.services." + name + ".loadbalancer.server.port": "5173",

		"traefik.http.middlewares." + name + "-auth.forwardauth.address":             authSrv.URL + "/__studio/forward-auth",
		"traefik.http.middlewares." + name + "-auth.forwardauth.authResponseHeaders": "Cookie",

		"traefik.http.middlewares." + name + "-errors.errors.status":  "502-504",
		"traefik.http.middlewares." + name + "-errors.errors.service": "errorpages@file",
		"traefik.http.middlewares." + name + "-errors.errors.query":   "/error/{status}",

		// A second router to a port nothing listens on: a dead dev server.
		"traefik.http.routers." + name + "-dead.rule":                      "Host(`dead.studio-test.localhost`)",
		"traefik.http.routers." + name + "-dead.entrypoints":               "web",
		"traefik.http.routers." + name + "-dead.service":                   name + "-dead",
		"traefik.http.routers." + name + "-dead.middlewares":               name + "-auth," + name + "-errors",
		"traefik.http.services." + name + "-dead.loadbalancer.server.port": "5174",

		// The same auth with preserveLocationHeader.
		"traefik.http.routers." + name + "-preserve.rule":                                   "Host(`preserve.studio-test.localhost`)",
		"traefik.http.routers." + name + "-preserve.entrypoints":                            "web",
		"traefik.http.routers." + name + "-preserve.service":                                name,
		"traefik.http.routers." + name + "-preserve.middlewares":                            name + "-preserve",
		"traefik.http.middlewares." + name + "-preserve.forwardauth.address":                authSrv.URL + "/__studio/forward-auth",
		"traefik.http.middlewares." + name + "-preserve.forwardauth.preserveLocationHeader": "true",

		// errors before forwardAuth: errors then sees the auth answers too.
		"traefik.http.routers." + name + "-reversed.rule":        "Host(`reversed.studio-test.localhost`)",
		"traefik.http.routers." + name + "-reversed.entrypoints": "web",
		"traefik.http.routers." + name + "-reversed.service":     name,
		"traefik.http.routers." + name + "-reversed.middlewares": name + "-errors," + name + "-auth",
	}
	started := runContainer(t, ctx, runtimeImage, projectNet, labels)
	tr.WaitHost(t, "x.studio-test.localhost", 30*time.Second)
	t.Logf("routed %s after docker start returned", time.Since(started).Round(time.Millisecond))
	tr.WaitRouter(t, name+"@docker", 10*time.Second)

	t.Run("auth 200 passes the request with the cookies it returns", func(t *testing.T) {
		// The dev server may take a moment to listen after the route exists.
		var resp *http.Response
		var body string
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			resp, body = get(t, tr, "x.studio-test.localhost", "/app?q=1", "studio_session=secret; theme=dark")
			if resp.StatusCode != http.StatusBadGateway || time.Now().After(deadline) {
				break
			}
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, body %q", resp.StatusCode, body)
		}
		var echo struct{ Path, Cookie, Host string }
		if err := json.Unmarshal([]byte(body), &echo); err != nil {
			t.Fatalf("upstream answer %q: %v", body, err)
		}
		if echo.Cookie != "theme=dark" || echo.Path != "/app?q=1" || echo.Host != "x.studio-test.localhost" {
			t.Errorf("upstream got %+v, want cookie theme=dark, path /app?q=1, host x.studio-test.localhost", echo)
		}
		h := auth.last()
		want := map[string]string{
			"X-Forwarded-Method": "GET",
			"X-Forwarded-Proto":  "http",
			"X-Forwarded-Host":   "x.studio-test.localhost",
			"X-Forwarded-Uri":    "/app?q=1",
			"Cookie":             "studio_session=secret; theme=dark",
		}
		for k, v := range want {
			if got := h.Get(k); got != v {
				t.Errorf("auth request %s = %q, want %q", k, got, v)
			}
		}
		if h.Get("X-Forwarded-For") == "" {
			t.Errorf("auth request has no X-Forwarded-For")
		}
		ip, err := tr.IP(ctx, traefikNet)
		if err != nil {
			t.Fatal(err)
		}
		auth.mu.Lock()
		remote := auth.remote
		auth.mu.Unlock()
		if host, _, _ := net.SplitHostPort(remote); host != ip {
			t.Errorf("auth request came from %s, want Traefik's address %s", remote, ip)
		}
		t.Logf("auth request from %s, headers: %v", remote, h)
	})

	t.Run("auth 303 reaches the client with its Location and Set-Cookie", func(t *testing.T) {
		resp, _ := get(t, tr, "x.studio-test.localhost", "/login-redirect", "")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := resp.Header.Get("Location"); got != "http://studio.studio-test.localhost/login?next=x" {
			t.Errorf("Location %q", got)
		}
		if got := resp.Header.Get("Set-Cookie"); got != "studio_state=abc; Path=/; HttpOnly" {
			t.Errorf("Set-Cookie %q", got)
		}
	})

	t.Run("a relative Location is resolved against the auth address", func(t *testing.T) {
		resp, _ := get(t, tr, "x.studio-test.localhost", "/relative-redirect", "")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got, want := resp.Header.Get("Location"), authSrv.URL+"/login?next=x"; got != want {
			t.Errorf("Location %q, want %q", got, want)
		}
	})

	t.Run("preserveLocationHeader keeps a relative Location", func(t *testing.T) {
		resp, _ := get(t, tr, "preserve.studio-test.localhost", "/relative-redirect", "")
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != "/login?next=x" {
			t.Errorf("got %d, Location %q; want 303, /login?next=x", resp.StatusCode, got)
		}
	})

	t.Run("an errors middleware listed before forwardAuth replaces the auth's 503", func(t *testing.T) {
		resp, body := get(t, tr, "reversed.studio-test.localhost", "/starting", "")
		want := "<h1>error page /error/503 for reversed.studio-test.localhost</h1>"
		if resp.StatusCode != http.StatusServiceUnavailable || body != want {
			t.Errorf("got %d %q, want 503 %q", resp.StatusCode, body, want)
		}
	})

	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/missing", http.StatusNotFound, "<h1>No such project</h1>"},
		{"/starting", http.StatusServiceUnavailable, "<h1>Starting…</h1>"},
	} {
		t.Run(fmt.Sprintf("auth %d passes through with its body", c.status), func(t *testing.T) {
			resp, body := get(t, tr, "x.studio-test.localhost", c.path, "")
			if resp.StatusCode != c.status || body != c.body {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, c.status, c.body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}

	t.Run("errors middleware serves the error page for a dead upstream", func(t *testing.T) {
		start := time.Now()
		resp, body := get(t, tr, "dead.studio-test.localhost", "/some/page", "")
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d, want 502", resp.StatusCode)
		}
		if want := "<h1>error page /error/502 for dead.studio-test.localhost</h1>"; body != want {
			t.Errorf("body %q, want %q", body, want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		t.Logf("dead upstream answered in %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("websocket upgrade passes forwardAuth", func(t *testing.T) {
		header := http.Header{"Host": {"x.studio-test.localhost"}, "Cookie": {"theme=dark"}}
		conn, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+tr.Addr+"/ws", header)
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("dial: %v (status %d)", err, status)
		}
		defer conn.Close()
		_, msg, err := conn.ReadMessage()
		if err != nil || string(msg) != "hello" {
			t.Fatalf("read %q, %v", msg, err)
		}
		if got := auth.last().Get("X-Forwarded-Uri"); got != "/ws" {
			t.Errorf("last auth request was for %q, want /ws", got)
		}
	})
}

func get(t *testing.T, tr *Traefik, host, path, cookie string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+tr.Addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// runtimeImage returns a local studio-runtime image, or skips the test.
func runtimeImage(t *testing.T) string {
	t.Helper()
	cli := engine(t)
	list, err := cli.ImageList(context.Background(), image.ListOptions{
		Filters: filters.NewArgs(filters.Arg("reference", "studio-runtime:*")),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range list {
		if len(img.RepoTags) > 0 {
			return img.RepoTags[0]
		}
	}
	t.Skip("skipping: no studio-runtime image; build it with scripts/build-image")
	return ""
}

// runContainer starts the echo server from the runtime image, as its
// unprivileged user, on network with labels, and returns when the engine
// reported it started.
func runContainer(t *testing.T, ctx context.Context, ref, network string, labels map[string]string) time.Time {
	t.Helper()
	cli := engine(t)
	labels[managedLabel] = "upstream"
	created, err := cli.ContainerCreate(ctx, &container.Config{
		Image:  ref,
		User:   "1000:1000",
		Cmd:    []string{"node", "-e", echoServer},
		Labels: labels,
	}, &container.HostConfig{
		NetworkMode: container.NetworkMode(network),
		CapDrop:     []string{"ALL"},
	}, nil, nil, "traefiktest-upstream-"+randomHex(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("remove upstream container: %v", err)
		}
	})
	start := time.Now()
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("docker start took %s", time.Since(start).Round(time.Millisecond))
	return time.Now()
}
