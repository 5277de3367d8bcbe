package proxy_test

import (
	"context"
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
	if cur, _ := e.svc.Get(ctx, e.owner, p.ID); cur.Status != db.ProjectStatusStopped {
		t.Fatalf("the preview woke a held project: %s", cur.Status)
	}
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
	if cur, _ := e.svc.Get(ctx, e.owner, p.ID); cur.Status != db.ProjectStatusStopped {
		t.Fatalf("the share link woke the project: %s", cur.Status)
	}
}
