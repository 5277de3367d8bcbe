package proxy_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/db"
	"studio/internal/testwait"
	"studio/projects"
)

// TestAdminStopHoldsAgainstThePreview: the owner's preview cookie does not
// wake a project an administrator stopped.
func TestAdminStopHoldsAgainstThePreview(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	p := e.activeProject("static")
	owner := e.browser()
	e.signIn(owner, p, "/")
	admin, err := db.New(e.pool).CreateUser(ctx, db.CreateUserParams{Email: "admin-" + uuid.NewString()[:8] + "@example.com", PasswordHash: "x", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	held, err := e.svc.OpenAsAdmin(ctx, projects.Admin{ID: admin.ID}, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// For up to a second the proxy may still hold the project's active row
	// and find its dev server gone; after that it says why.
	var code int
	var body string
	testwait.Eventually(t, 3*time.Second, func() bool {
		code, body, _ = get(t, owner, e.host(p.Slug)+"/", "Accept", "text/html")
		return !strings.Contains(body, `http-equiv="refresh"`)
	}, "the preview stops waiting for the dev server")
	if code != 503 || !strings.Contains(body, "An administrator stopped this project") {
		t.Fatalf("preview of a held project: %d %q", code, body)
	}
	e.stillStopped(p.ID, "the preview woke a held project")
}

// TestDisabledOwnersShareLinkDoesNotWake: a disabled owner's share link
// opens nothing — it answers like a revoked one — and never starts the
// project again.
func TestDisabledOwnersShareLinkDoesNotWake(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	p := e.activeProject("static")
	shared, err := e.share(p.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Stop(ctx, e.owner, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.New(e.pool).DisableUser(ctx, e.owner); err != nil {
		t.Fatal(err)
	}
	visitor := e.browser()
	code, body, _ := get(t, visitor, e.host(p.Slug)+"/?share="+shared.ShareToken, "Accept", "text/html")
	if code != 404 || strings.Contains(body, "disabled") {
		t.Fatalf("share link of a disabled owner's project: %d %q", code, body)
	}
	e.stillStopped(p.ID, "the share link woke the project")
}

// TestBackgroundRequestsDoNotWake: an open page's background requests (the
// dev server's client pinging, its websocket, a fetch) leave a stopped
// project stopped; opening the page wakes it.
func TestBackgroundRequestsDoNotWake(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	p := e.activeProject("static")
	owner := e.browser()
	e.signIn(owner, p, "/")
	if _, err := e.svc.Stop(ctx, e.owner, p.ID); err != nil {
		t.Fatal(err)
	}
	// For up to a second the proxy may still hold the project's active row.
	upgrade := []string{"Sec-Fetch-Mode", "websocket", "Upgrade", "websocket", "Connection", "Upgrade"}
	testwait.Eventually(t, 5*time.Second, func() bool {
		code, _, _ := get(t, owner, e.host(p.Slug)+"/", upgrade...)
		return code == 503
	}, "the proxy sees the project stopped")
	for _, mode := range []string{"cors", "no-cors", "same-origin"} {
		// A fetch finds no server, as when the dev server is down.
		req, _ := http.NewRequest("GET", e.host(p.Slug)+"/__vite_ping", nil)
		req.Header.Set("Sec-Fetch-Mode", mode)
		if res, err := owner.Do(req); err == nil {
			res.Body.Close()
			t.Errorf("a %s fetch of a stopped project got %d, want no answer", mode, res.StatusCode)
		}
	}
	if code, _, _ := get(t, owner, e.host(p.Slug)+"/", upgrade...); code != 503 {
		t.Errorf("a websocket to a stopped project: %d, want 503", code)
	}
	e.stillStopped(p.ID, "background requests woke the project")
	if code, body, _ := get(t, owner, e.host(p.Slug)+"/", "Sec-Fetch-Mode", "navigate", "Accept", "text/html"); code != 503 || !strings.Contains(body, "Waking") {
		t.Fatalf("opening the page: %d %q, want the waking page", code, body)
	}
}

// stillStopped fails the test unless the project is still stopped.
func (e *env) stillStopped(id uuid.UUID, what string) {
	e.t.Helper()
	if cur, _ := e.svc.Get(context.Background(), e.owner, id); cur.Status != db.ProjectStatusStopped {
		e.t.Fatalf("%s: %s", what, cur.Status)
	}
}
