package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/auth"
	"studio/db"
	"studio/db/dbtest"
	"studio/internal/githubfake"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// newService is the service on a fresh database, talking to GitHub at
// web (its API under /api/v3), with one person in the database.
func newService(t *testing.T, web, clientID, secret string) (*Service, uuid.UUID) {
	t.Helper()
	pool := dbtest.New(t)
	ring, err := auth.LoadKeyring(strings.Repeat("k", 32), "", "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.New(pool).CreateUser(context.Background(), db.CreateUserParams{Email: uuid.NewString()[:8] + "@example.com", PasswordHash: "x", Role: "user"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{WebURL: web, APIURL: web + "/api/v3", ClientID: clientID, ClientSecret: secret, CallbackURL: "http://studio.test/settings/github/callback"}
	return New(cfg, pool, ring, http.DefaultClient), u.ID
}

func failureOf(t *testing.T, err error, kind FailureKind, want string) {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) || f.Kind != kind || !strings.Contains(f.Message, want) {
		t.Fatalf("got %v (%#v), want a failure of kind %d saying %q", err, f, kind, want)
	}
}

func invalidOf(t *testing.T, err error, field, want string) {
	t.Helper()
	var e *Invalid
	if !errors.As(err, &e) || e.Field != field || !strings.Contains(e.Message, want) {
		t.Fatalf("got %v, want %s refused saying %q", err, field, want)
	}
}

// A repository made for a person is empty; its branches are read from
// GitHub as they are pushed; names GitHub would not take are refused
// before GitHub is asked.
func TestGitHubCreateRepoAndBranches(t *testing.T) {
	t.Parallel()
	gh := githubfake.New(t)
	s, user := newService(t, gh.URL, "", "")
	ctx := context.Background()
	if _, err := s.ConnectToken(ctx, user, gh.Issue("octo-ada")); err != nil {
		t.Fatal(err)
	}

	repo, err := s.CreateRepo(ctx, user, " site ", true, "The site")
	if err != nil {
		t.Fatal(err)
	}
	if repo.FullName != "octo-ada/site" || repo.CloneURL != gh.CloneURL("octo-ada/site") || repo.HTMLURL != gh.URL+"/octo-ada/site" || !repo.Private || repo.DefaultBranch != "main" || repo.Description != "The site" {
		t.Fatalf("created: %+v", repo)
	}
	_, err = s.CreateRepo(ctx, user, "site", false, "")
	failureOf(t, err, Refused, `a repository named site already exists on your GitHub account`)
	for _, name := range []string{"", ".", "..", "my site", "a/b", "ünï", strings.Repeat("x", 101)} {
		_, err := s.CreateRepo(ctx, user, name, false, "")
		invalidOf(t, err, "name", "is not a GitHub repository name")
	}

	if got, err := s.Branches(ctx, user, "octo-ada/site"); err != nil || len(got) != 0 {
		t.Fatalf("an empty repository's branches: %v %v", got, err)
	}
	gh.PushCommit(t, "octo-ada/site", "main", map[string]string{"index.html": "hi"}, "first")
	gh.PushCommit(t, "octo-ada/site", "feature", map[string]string{"b.txt": "b"}, "second")
	if got, err := s.Branches(ctx, user, "octo-ada/site"); err != nil || strings.Join(got, ",") != "feature,main" {
		t.Fatalf("branches: %v %v", got, err)
	}
	_, err = s.Branches(ctx, user, "octo-ada/nothing")
	failureOf(t, err, NotFound, "the repository octo-ada/nothing does not exist on GitHub, or the connection's token has no access to it")
	for _, bad := range []string{"site", "octo-ada/", "/site", "a/b/c", "octo ada/site", "../x"} {
		_, err := s.Branches(ctx, user, bad)
		invalidOf(t, err, "repo", "give it as owner/name")
	}
}

// GitHub's refusals: only 401 means the token is gone; rate limits, the
// primary and the secondary ones, say how long to wait.
func TestGitHubRefusals(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		status  int
		headers map[string]string
		body    string
		reconn  bool
		kind    FailureKind
		want    string
		wait    time.Duration
	}{
		{"revoked", 401, nil, `{"message":"Bad credentials"}`, true, 0, "", 0},
		{"secondary, Retry-After", 403, map[string]string{"Retry-After": "42"}, `{"message":"You have exceeded a secondary rate limit."}`, false, Limited, "GitHub is limiting requests; try again in 42 s", 42 * time.Second},
		{"secondary, message only", 403, nil, `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`, false, Limited, "try again in 60 s", time.Minute},
		{"429", 429, map[string]string{"Retry-After": "7"}, `{}`, false, Limited, "try again in 7 s", 7 * time.Second},
		{"primary", 403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": fmt.Sprint(now.Add(90 * time.Second).Unix())}, `{"message":"API rate limit exceeded"}`, false, Limited, "try again in 90 s", 90 * time.Second},
		{"forbidden", 403, nil, `{"message":"Resource not accessible by personal access token"}`, false, Refused, "GitHub refused: Resource not accessible by personal access token", 0},
		{"not found", 404, nil, `{"message":"Not Found"}`, false, NotFound, "the connection's token has no access to it", 0},
		{"server error", 502, nil, `oops`, false, Unavailable, "GitHub answered 502 Bad Gateway", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.headers {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			s := New(Config{WebURL: srv.URL, APIURL: srv.URL}, nil, nil, srv.Client())
			s.now = func() time.Time { return now }
			var out any
			_, err := s.get(context.Background(), "tok", "/user", &out)
			if tc.reconn {
				if !errors.Is(err, ErrReconnect) {
					t.Fatalf("got %v, want ErrReconnect", err)
				}
				return
			}
			failureOf(t, err, tc.kind, tc.want)
			if f := err.(*Failure); f.RetryAfter != tc.wait {
				t.Fatalf("retry after %v, want %v", f.RetryAfter, tc.wait)
			}
		})
	}
}

// A search ends after searchPages pages, and when GitHub's next page does
// not move forward.
func TestGitHubSearchIsBounded(t *testing.T) {
	t.Parallel()
	for name, next := range map[string]func(page int) int{
		"endless": func(p int) int { return p + 1 },
		"loops":   func(int) int { return 1 },
		"back":    func(p int) int { return max(p-1, 1) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				var p int
				fmt.Sscan(r.URL.Query().Get("page"), &p)
				w.Header().Set("Link", fmt.Sprintf(`<%s/user/repos?page=%d>; rel="next"`, srv.URL, next(p)))
				fmt.Fprint(w, `[{"name":"other","full_name":"o/other"}]`)
			}))
			t.Cleanup(srv.Close)
			s := New(Config{WebURL: srv.URL, APIURL: srv.URL}, nil, nil, srv.Client())
			page, err := s.repos(context.Background(), "tok", "site", 1)
			if err != nil || len(page.Repos) != 0 {
				t.Fatalf("search: %v %v", page, err)
			}
			if n := calls.Load(); n > searchPages {
				t.Fatalf("GitHub was asked %d times", n)
			}
		})
	}
}

// A pasted token is trimmed; one with spaces or control characters
// inside is refused before GitHub is asked.
func TestGitHubTokenGarbled(t *testing.T) {
	t.Parallel()
	s := New(Config{WebURL: "http://127.0.0.1:1", APIURL: "http://127.0.0.1:1"}, nil, nil, http.DefaultClient)
	for _, token := range []string{"ghp_ab cd", "ghp_ab\ncd", "ghp_ab\x00cd", "ghp_ab\x7fcd", "ghp_ab\u2028cd", "ghp_ab\u00a0cd"} {
		if _, err := s.ConnectToken(context.Background(), uuid.New(), "  "+token+"\n"); !errors.Is(err, ErrTokenGarbled) {
			t.Errorf("%q: %v", token, err)
		}
	}
}

// An access token is refreshed five minutes before it expires.
func TestGitHubRefreshMargin(t *testing.T) {
	now := time.Now()
	s := &Service{now: func() time.Time { return now }}
	for d, want := range map[time.Duration]bool{-time.Minute: true, 4 * time.Minute: true, 6 * time.Minute: false} {
		at := now.Add(d)
		if got := s.expiring(&at); got != want {
			t.Errorf("expires in %v: expiring %v, want %v", d, got, want)
		}
	}
	if s.expiring(nil) {
		t.Error("a token without expiry is expiring")
	}
}

// A refresh finishes and is stored even when the request that needed it
// is cancelled while GitHub answers: the spent refresh token is not kept.
func TestGitHubRefreshOutlivesTheRequest(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var refreshes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.URL.Path != "/login/oauth/access_token" || r.PostForm.Get("refresh_token") != "ghr_first" {
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, `{"error":"bad_refresh_token"}`)
			return
		}
		refreshes.Add(1)
		cancel() // the person gives up while GitHub answers
		time.Sleep(50 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"gho_second","refresh_token":"ghr_second","expires_in":28800}`)
	}))
	t.Cleanup(srv.Close)
	s, user := newService(t, srv.URL, "Iv1.test", "secret")
	soon := time.Now().Add(2 * time.Minute)
	if _, err := s.store(context.Background(), user, "octo-ada", "oauth", tokens{Access: "gho_first", Refresh: "ghr_first", Expires: &soon}); err != nil {
		t.Fatal(err)
	}
	if token, err := s.Token(ctx, user); err != nil || token != "gho_second" {
		t.Fatalf("refresh during a cancelled request: %q %v", token, err)
	}
	if token, err := s.Token(context.Background(), user); err != nil || token != "gho_second" || refreshes.Load() != 1 {
		t.Fatalf("after: %q %v, %d refreshes", token, err, refreshes.Load())
	}
}
