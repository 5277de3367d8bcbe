package traefiktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// notFound is the body of Traefik's answer when no router matches (Go's
// http.NotFoundHandler).
const notFound = "404 page not found\n"

// WaitHost waits until Traefik routes host: until a GET / with that Host
// on the web entry point gets anything but Traefik's own "no router" 404.
// It fails the test after timeout.
func (tr *Traefik) WaitHost(t testing.TB, host string, timeout time.Duration) {
	t.Helper()
	var last string
	deadline := time.Now().Add(timeout)
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 250*time.Millisecond) {
		routed, status, err := tr.routes(host)
		if routed {
			return
		}
		last = fmt.Sprint(status, err)
		if time.Now().After(deadline) {
			t.Fatalf("Traefik did not route %s within %s (last answer: %s)", host, timeout, last)
		}
		time.Sleep(pause)
	}
}

func (tr *Traefik) routes(host string) (bool, int, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+tr.Addr+"/", nil)
	if err != nil {
		return false, 0, err
	}
	req.Host = host
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return false, 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	own := resp.StatusCode == http.StatusNotFound && string(body) == notFound &&
		resp.Header.Get("X-Content-Type-Options") == "nosniff"
	return !own, resp.StatusCode, nil
}

// Router is a router as Traefik's API reports it.
type Router struct {
	Name        string   `json:"name"`
	Rule        string   `json:"rule"`
	Service     string   `json:"service"`
	Middlewares []string `json:"middlewares"`
	EntryPoints []string `json:"entryPoints"`
	Priority    int      `json:"priority"`
	Status      string   `json:"status"` // "enabled", "disabled", "warning"
	Error       []string `json:"error"`
}

// WaitRouter waits until Traefik's API lists the router name (with its
// provider, e.g. "studio-<uuid>@docker") as enabled, and returns it. It
// fails the test after timeout, with the router's errors if it is there
// but not enabled (a missing middleware or service, say).
func (tr *Traefik) WaitRouter(t testing.TB, name string, timeout time.Duration) Router {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 250*time.Millisecond) {
		r, found, err := tr.router(name)
		if err != nil {
			t.Fatal(err)
		}
		if found && r.Status == "enabled" {
			return r
		}
		if found && time.Now().After(deadline) {
			t.Fatalf("router %s is %s: %v", name, r.Status, r.Error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Traefik has no router %s after %s", name, timeout)
		}
		time.Sleep(pause)
	}
}

func (tr *Traefik) router(name string) (Router, bool, error) {
	var r Router
	resp, err := http.Get("http://" + tr.APIAddr + "/api/http/routers/" + name)
	if err != nil {
		return r, false, fmt.Errorf("ask Traefik's API for router %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return r, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return r, false, fmt.Errorf("Traefik's API: router %s: %s", name, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, false, fmt.Errorf("Traefik's API: router %s: %w", name, err)
	}
	return r, true, nil
}
