package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeGitHub is GitHub on loopback: its REST API speaking GitHub's real
// shapes (/login/oauth/authorize and /access_token, /api/v3/user,
// /api/v3/user/repos with Link headers) — the only fake — and, on every
// other path, a real git smart-HTTP server (git http-backend behind Go's
// CGI handler) that asks for Basic auth with a live token, as GitHub does
// for private repositories.
type fakeGitHub struct {
	*gitServer
	clientID, secret string
	expiring         bool // tokens expire and come with refresh tokens

	mu       sync.Mutex
	tokens   map[string]string // live access token → login
	codes    map[string]string // unused OAuth code → login
	refresh  map[string]string // unused refresh token → login
	repos    map[string][]fakeRepo
	n        int
	refreshs int // refresh grants answered
}

type fakeRepo struct {
	Name    string
	Private bool
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend is missing (apt-get install git): %v", err)
	}
	f := &fakeGitHub{clientID: "Iv1.test", secret: "client-secret", tokens: map[string]string{}, codes: map[string]string{}, refresh: map[string]string{}, repos: map[string][]fakeRepo{}}
	root := t.TempDir()
	git := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", f.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", f.accessToken)
	mux.HandleFunc("GET /api/v3/user", f.user)
	mux.HandleFunc("GET /api/v3/user/repos", f.userRepos)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		if !ok || f.login(pass) == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
			http.Error(w, "Invalid username or token.", http.StatusUnauthorized)
			return
		}
		git.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.gitServer = &gitServer{Server: srv, root: root}
	return f
}

// issue makes a live token for login.
func (f *fakeGitHub) issue(login string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	token := fmt.Sprintf("gho_%s%04dsecretTOKENvalue", strings.ReplaceAll(login, "-", ""), f.n)
	f.tokens[token] = login
	return token
}

func (f *fakeGitHub) revoke(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tokens, token)
}

func (f *fakeGitHub) login(token string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens[token]
}

func (f *fakeGitHub) bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "token "} {
		if strings.HasPrefix(h, p) {
			return f.login(strings.TrimPrefix(h, p))
		}
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func badCredentials(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
}

// authorize stands for the person approving studio: GitHub sends the
// browser back with a code and the state it was given.
func (f *fakeGitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != f.clientID {
		http.Error(w, "unknown client", http.StatusNotFound)
		return
	}
	f.mu.Lock()
	f.n++
	code := fmt.Sprintf("code%d", f.n)
	f.codes[code] = q.Get("login") // the test names who approves
	f.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (f *fakeGitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	if r.Header.Get("Accept") != "application/json" {
		http.Error(w, "access_token=only-json-is-tested", http.StatusOK)
		return
	}
	if r.PostForm.Get("client_id") != f.clientID || r.PostForm.Get("client_secret") != f.secret {
		writeJSON(w, http.StatusOK, map[string]string{"error": "incorrect_client_credentials", "error_description": "The client_id and/or client_secret passed are incorrect."})
		return
	}
	f.mu.Lock()
	var login string
	var ok bool
	if r.PostForm.Get("grant_type") == "refresh_token" {
		rt := r.PostForm.Get("refresh_token")
		login, ok = f.refresh[rt]
		delete(f.refresh, rt) // a refresh token is good once
		f.refreshs++
		if !ok {
			f.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]string{"error": "bad_refresh_token", "error_description": "The refresh token passed is incorrect or expired."})
			return
		}
	} else {
		login, ok = f.codes[r.PostForm.Get("code")]
		delete(f.codes, r.PostForm.Get("code"))
		if !ok {
			f.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]string{"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."})
			return
		}
	}
	f.mu.Unlock()
	body := map[string]any{"access_token": f.issue(login), "token_type": "bearer", "scope": "repo"}
	if f.expiring {
		f.mu.Lock()
		f.n++
		rt := fmt.Sprintf("ghr_refresh%04dsecret", f.n)
		f.refresh[rt] = login
		f.mu.Unlock()
		// Shorter than studio's margin: every use refreshes first.
		body["expires_in"], body["refresh_token"], body["refresh_token_expires_in"] = 30, rt, 15897600
	}
	writeJSON(w, http.StatusOK, body)
}

func (f *fakeGitHub) user(w http.ResponseWriter, r *http.Request) {
	login := f.bearer(r)
	if login == "" {
		badCredentials(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": login, "id": 1, "type": "User"})
}

// userRepos pages like GitHub: per_page, page, and a Link header with
// rel="next" and rel="last".
func (f *fakeGitHub) userRepos(w http.ResponseWriter, r *http.Request) {
	login := f.bearer(r)
	if login == "" {
		badCredentials(w)
		return
	}
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 || per > 100 {
		per = 30
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	f.mu.Lock()
	all := f.repos[login]
	f.mu.Unlock()
	last := max((len(all)+per-1)/per, 1)
	out := []map[string]any{}
	for i := (page - 1) * per; i < min(page*per, len(all)); i++ {
		repo := all[i]
		out = append(out, map[string]any{
			"id": i + 1, "name": repo.Name, "full_name": login + "/" + repo.Name, "private": repo.Private,
			"owner":       map[string]any{"login": login},
			"html_url":    f.URL + "/" + login + "/" + repo.Name,
			"description": nil, "clone_url": f.URL + "/" + login + "/" + repo.Name + ".git",
			"default_branch": "main", "pushed_at": "2026-01-01T00:00:00Z",
		})
	}
	if len(out) > 0 && out[0]["name"] == "site" {
		out[0]["description"] = "The team's site"
	}
	link := func(p int, rel string) string {
		v := url.Values{"per_page": {strconv.Itoa(per)}, "page": {strconv.Itoa(p)}, "sort": {"pushed"}}
		return fmt.Sprintf(`<%s/api/v3/user/repos?%s>; rel="%s"`, f.URL, v.Encode(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(page-1, "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	writeJSON(w, http.StatusOK, out)
}
