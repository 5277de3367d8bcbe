package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/auth"
	"studio/db"
	"studio/proxy"
)

// TestPreviewGrantEndsWithTheSession: the owner's preview cookie stops
// working once the browser session that asked for it ends — signed out,
// ended by a password change made elsewhere, or by the account being
// disabled — while a grant from a session that still stands keeps working.
func TestPreviewGrantEndsWithTheSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name      string
		end       func(e *env, other uuid.UUID) error
		otherLive bool // does the owner's other session survive?
	}{
		{"sign out", func(e *env, _ uuid.UUID) error { return e.auth.RevokeSession(ctx, e.session) }, true},
		{"password changed in another session", func(e *env, other uuid.UUID) error {
			return e.auth.ChangePassword(ctx, e.owner, other, "old password 1234", "new password 5678", auth.Meta{})
		}, true},
		{"account disabled", func(e *env, _ uuid.UUID) error {
			admin, err := db.New(e.pool).CreateUser(ctx, db.CreateUserParams{Email: "admin-" + uuid.NewString()[:8] + "@example.com", PasswordHash: "x", Role: "admin"})
			if err != nil {
				return err
			}
			_, err = e.auth.SetDisabled(ctx, admin.ID, e.owner, true, auth.Meta{})
			return err
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			hash, _ := auth.HashPassword("old password 1234")
			if _, err := e.pool.Exec(ctx, "UPDATE users SET password_hash = $2 WHERE id = $1", e.owner, hash); err != nil {
				t.Fatal(err)
			}
			_, other, err := e.auth.CreateSession(ctx, e.owner, auth.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			p := e.projectServedBy(devServer(t))
			victim := e.browser()
			if code, _ := e.signIn(victim, p, "/"); code != 200 {
				t.Fatalf("sign in: %d", code)
			}
			elsewhere := e.browser()
			if code := e.signInAs(elsewhere, p, proxy.Holder{User: e.owner, Session: other.ID}); code != 200 {
				t.Fatalf("sign in from the other session: %d", code)
			}
			// A link signed before the session ends, spent after.
			late, _, _ := e.signer.Link(e.host(p.Slug)+"/", e.holder(), p.ID, "/")

			if err := tc.end(e, other.ID); err != nil {
				t.Fatal(err)
			}
			body, h := refusedWithin(t, victim, e.host(p.Slug)+"/", 403, 5*time.Second)
			if !strings.Contains(body, `/login?next=`) || h.Get("Cache-Control") != "no-store" {
				t.Fatalf("a browser is not asked to sign in again: %q", body)
			}
			if c := h.Get("Set-Cookie"); !strings.HasPrefix(c, "studio_preview=;") || !strings.Contains(c, "Max-Age=0") {
				t.Fatalf("the ended grant is not cleared: %q", c)
			}
			if code, _, _ := get(t, victim, e.host(p.Slug)+"/"); code != 404 {
				t.Fatalf("after the grant is cleared: %d", code)
			}
			// 403 for the ended session; 404 if the link's minute ran out
			// first on a slow machine. Either way it signs nobody in.
			if code, _, _ := get(t, e.browser(), late); code != 403 && code != 404 {
				t.Fatalf("a link from the ended session still signs in: %d", code)
			}
			code, _, _ := get(t, elsewhere, e.host(p.Slug)+"/")
			if tc.otherLive && code != 200 || !tc.otherLive && code == 200 {
				t.Fatalf("the other session's grant: %d (should work: %v)", code, tc.otherLive)
			}
		})
	}
}

// TestAPIGrantEndsWithTheAccount: a link asked for by an API client names
// no browser session; its cookie is short and ends with the account.
func TestAPIGrantEndsWithTheAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	p := e.projectServedBy(devServer(t))
	c := e.browser()
	if code := e.signInAs(c, p, proxy.Holder{User: e.owner}); code != 200 {
		t.Fatalf("sign in with an API link: %d", code)
	}
	if _, err := e.pool.Exec(ctx, "UPDATE users SET disabled_at = now() WHERE id = $1", e.owner); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, c, e.host(p.Slug)+"/", 403, 5*time.Second)
}

// TestShareLinkEndsWithTheOwner: a disabled owner's share link opens
// nothing, neither for a visitor who used it before nor for a new one.
func TestShareLinkEndsWithTheOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	p := e.projectServedBy(devServer(t))
	shared, err := e.share(p.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	visitor := e.browser()
	if code, _, _ := get(t, visitor, e.host(p.Slug)+"/?share="+shared.ShareToken); code != 200 {
		t.Fatalf("share link: %d", code)
	}
	if _, err := e.pool.Exec(ctx, "UPDATE users SET disabled_at = now() WHERE id = $1", e.owner); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, visitor, e.host(p.Slug)+"/", 404, 5*time.Second)
	if code, _, _ := get(t, e.browser(), e.host(p.Slug)+"/?share="+shared.ShareToken); code != 404 {
		t.Fatalf("a disabled owner's share link signs a new visitor in: %d", code)
	}
}

// devServer stands in for a project's dev server.
func devServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "from the dev server") }))
	t.Cleanup(srv.Close)
	return srv
}

func (e *env) signInAs(c *http.Client, p db.Project, h proxy.Holder) int {
	e.t.Helper()
	link, _, err := e.signer.Link(e.host(p.Slug)+"/", h, p.ID, "/")
	if err != nil {
		e.t.Fatal(err)
	}
	code, _, _ := get(e.t, c, link)
	return code
}

// refusedWithin polls, as a browser, until u answers want: a sign-in is
// re-checked every few seconds, not on every request.
func refusedWithin(t *testing.T, c *http.Client, u string, want int, limit time.Duration) (string, http.Header) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		code, body, h := get(t, c, u, "Accept", "text/html")
		if code == want {
			return body, h
		}
		if code != 200 || time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d within %s", u, code, want, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
