package githubfake

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// GitHub is GitHub on loopback: /login/oauth/authorize and
// /login/oauth/access_token, the REST API under /api/v3 (user,
// user/repos to list and create, repos/{owner}/{repo}/branches), and on
// every other path git smart HTTP for the repositories it holds, which
// asks for Basic auth with a live token of the owner for a private
// repository and for every push, as GitHub does.
type GitHub struct {
	*httptest.Server
	Root             string // the bare repositories, {owner}/{name}.git
	ClientID, Secret string // the OAuth App's
	Expiring         bool   // tokens expire at once and come with refresh tokens; set before use
	Approver         string // who presses Authorize on the authorize page a browser is shown

	t         testing.TB
	mu        sync.Mutex
	tokens    map[string]string // live access token → login
	codes     map[string]string // unused OAuth code → login
	refresh   map[string]string // unused refresh token → login
	repos     map[string][]*repo
	n         int
	refreshes int
}

type repo struct {
	owner, name, description string
	private                  bool
}

// New starts a GitHub that lives as long as the test.
func New(t testing.TB) *GitHub {
	t.Helper()
	f := &GitHub{Root: gitRoot(t), ClientID: "Iv1.test", Secret: "client-secret", t: t,
		tokens: map[string]string{}, codes: map[string]string{}, refresh: map[string]string{}, repos: map[string][]*repo{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", f.authorize)
	mux.HandleFunc("POST /login/oauth/authorize", f.approve)
	mux.HandleFunc("POST /login/oauth/access_token", f.accessToken)
	mux.HandleFunc("GET /api/v3/user", f.user)
	mux.HandleFunc("GET /api/v3/user/repos", f.userRepos)
	mux.HandleFunc("POST /api/v3/user/repos", f.createRepo)
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/branches", f.branches)
	mux.Handle("/", f.gitAccess(gitHandler(f.Root)))
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Server.Close)
	return f
}

// Issue makes a live token for login.
func (f *GitHub) Issue(login string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	token := fmt.Sprintf("gho_%s%04dsecretTOKENvalue", strings.ReplaceAll(login, "-", ""), f.n)
	f.tokens[token] = login
	return token
}

// Revoke ends a token.
func (f *GitHub) Revoke(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tokens, token)
}

// Login is whose a live token is, "" for any other.
func (f *GitHub) Login(token string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens[token]
}

// Tokens are the live access tokens.
func (f *GitHub) Tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.tokens))
	for tok := range f.tokens {
		out = append(out, tok)
	}
	return out
}

// Refreshes counts the refresh grants answered.
func (f *GitHub) Refreshes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refreshes
}

// AddRepo makes login/name, a bare repository with one commit per branch
// holding the files given (empty without branches), listed after the
// repositories added before it; it returns the clone address.
func (f *GitHub) AddRepo(login, name string, private bool, branches map[string]map[string]string) string {
	f.t.Helper()
	makeBare(f.t, f.bare(login+"/"+name), branches)
	f.mu.Lock()
	f.repos[login] = append(f.repos[login], &repo{owner: login, name: name, private: private})
	f.mu.Unlock()
	return f.CloneURL(login + "/" + name)
}

// Describe sets a repository's description.
func (f *GitHub) Describe(fullName, description string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.find(fullName); r != nil {
		r.description = description
	}
}

// CloneURL is where git reaches owner/name.
func (f *GitHub) CloneURL(fullName string) string { return f.URL + "/" + fullName + ".git" }

func (f *GitHub) bare(fullName string) string {
	return filepath.Join(f.Root, filepath.FromSlash(fullName)+".git")
}

// find is the repository owner/name; f.mu is held.
func (f *GitHub) find(fullName string) *repo {
	owner, name, _ := strings.Cut(fullName, "/")
	for _, r := range f.repos[owner] {
		if strings.EqualFold(r.name, name) {
			return r
		}
	}
	return nil
}

// PushCommit adds a commit to branch of owner/name as someone other than
// studio, as a collaborator pushing from elsewhere would.
func (f *GitHub) PushCommit(t testing.TB, fullName, branch string, files map[string]string, message string) {
	t.Helper()
	pushCommit(t, f.bare(fullName), branch, files, message)
}

// HeadMessage is the message of branch's last commit in owner/name.
func (f *GitHub) HeadMessage(t testing.TB, fullName, branch string) string {
	t.Helper()
	return strings.TrimSpace(git(t, f.bare(fullName), "log", "-1", "--format=%B", branch))
}

// Show is a file's text at branch of owner/name.
func (f *GitHub) Show(t testing.TB, fullName, branch, path string) string {
	t.Helper()
	return git(t, f.bare(fullName), "show", branch+":"+path)
}

func (f *GitHub) bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "token "} {
		if strings.HasPrefix(h, p) {
			return f.Login(strings.TrimPrefix(h, p))
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

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
}

// gitPath is /{owner}/{name}.git/…
var gitPath = regexp.MustCompile(`^/([^/]+)/([^/]+)\.git(/|$)`)

// gitAccess lets git through as GitHub would: anyone may read a public
// repository; reading a private one and pushing take the owner's live
// token as the Basic auth password.
func (f *GitHub) gitAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := gitPath.FindStringSubmatch(r.URL.Path)
		if m == nil {
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		found := f.find(m[1] + "/" + m[2])
		private := found == nil || found.private
		f.mu.Unlock()
		push := r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack")
		if private || push {
			_, pass, ok := r.BasicAuth()
			login := ""
			if ok {
				login = f.Login(pass)
			}
			if login == "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
				http.Error(w, "Invalid username or token.", http.StatusUnauthorized)
				return
			}
			if found == nil || !strings.EqualFold(login, m[1]) {
				http.Error(w, "Repository not found.", http.StatusNotFound)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authorize is GitHub's page asking the person to approve studio. A
// request naming the approving login (handler tests, without a browser)
// is approved at once; a browser is shown an Authorize button, pressed
// as Approver.
func (f *GitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != f.ClientID {
		http.Error(w, "unknown client", http.StatusNotFound)
		return
	}
	if login := q.Get("login"); login != "" {
		f.sendBack(w, r, login, q)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	authorizePage.Execute(w, q)
}

var authorizePage = template.Must(template.New("authorize").Parse(`<!doctype html>
<title>Authorize application</title>
<h1>Authorize studio</h1>
<form method="post">
<input type="hidden" name="client_id" value="{{.Get "client_id"}}">
<input type="hidden" name="redirect_uri" value="{{.Get "redirect_uri"}}">
<input type="hidden" name="state" value="{{.Get "state"}}">
<button type="submit" name="authorize" value="1" id="js-oauth-authorize-btn">Authorize</button>
</form>`))

// approve is the Authorize button, pressed as Approver.
func (f *GitHub) approve(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f.mu.Lock()
	approver := f.Approver
	f.mu.Unlock()
	if r.PostForm.Get("client_id") != f.ClientID || approver == "" {
		http.Error(w, "unknown client, or no one to approve", http.StatusNotFound)
		return
	}
	f.sendBack(w, r, approver, r.PostForm)
}

// sendBack sends the browser back to studio with a code for login and
// the state it was given.
func (f *GitHub) sendBack(w http.ResponseWriter, r *http.Request, login string, q url.Values) {
	f.mu.Lock()
	f.n++
	code := fmt.Sprintf("code%d", f.n)
	f.codes[code] = login
	f.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (f *GitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	if r.Header.Get("Accept") != "application/json" {
		http.Error(w, "access_token=only-json-is-tested", http.StatusOK)
		return
	}
	if r.PostForm.Get("client_id") != f.ClientID || r.PostForm.Get("client_secret") != f.Secret {
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
		f.refreshes++
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
	expiring := f.Expiring
	f.mu.Unlock()
	body := map[string]any{"access_token": f.Issue(login), "token_type": "bearer", "scope": "repo"}
	if expiring {
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

func (f *GitHub) user(w http.ResponseWriter, r *http.Request) {
	login := f.bearer(r)
	if login == "" {
		badCredentials(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": login, "id": 1, "type": "User"})
}

// object is a repository as GitHub's REST API shows it.
func (f *GitHub) object(id int, r *repo) map[string]any {
	full := r.owner + "/" + r.name
	var description any
	if r.description != "" {
		description = r.description
	}
	return map[string]any{
		"id": id, "name": r.name, "full_name": full, "private": r.private,
		"owner":       map[string]any{"login": r.owner, "type": "User"},
		"html_url":    f.URL + "/" + full,
		"description": description, "clone_url": f.CloneURL(full),
		"default_branch": "main", "pushed_at": "2026-01-01T00:00:00Z",
	}
}

// paging reads per_page and page as GitHub does.
func paging(r *http.Request) (per, page int) {
	q := r.URL.Query()
	per, _ = strconv.Atoi(q.Get("per_page"))
	if per <= 0 || per > 100 {
		per = 30
	}
	page, _ = strconv.Atoi(q.Get("page"))
	return per, max(page, 1)
}

// link sets GitHub's Link header: rel="prev", "next" and "last".
func (f *GitHub) link(w http.ResponseWriter, path string, per, page, total int) {
	last := max((total+per-1)/per, 1)
	at := func(p int, rel string) string {
		v := url.Values{"per_page": {strconv.Itoa(per)}, "page": {strconv.Itoa(p)}}
		return fmt.Sprintf(`<%s/api/v3%s?%s>; rel="%s"`, f.URL, path, v.Encode(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, at(page-1, "prev"))
	}
	if page < last {
		links = append(links, at(page+1, "next"), at(last, "last"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
}

// userRepos pages like GitHub: per_page, page, and a Link header.
func (f *GitHub) userRepos(w http.ResponseWriter, r *http.Request) {
	login := f.bearer(r)
	if login == "" {
		badCredentials(w)
		return
	}
	per, page := paging(r)
	f.mu.Lock()
	all := f.repos[login]
	out := []map[string]any{}
	for i := (page - 1) * per; i < min(page*per, len(all)); i++ {
		out = append(out, f.object(i+1, all[i]))
	}
	f.mu.Unlock()
	f.link(w, "/user/repos", per, page, len(all))
	writeJSON(w, http.StatusOK, out)
}

// createRepo is POST /user/repos: an empty repository that takes pushes,
// or with auto_init one commit holding a README.
func (f *GitHub) createRepo(w http.ResponseWriter, r *http.Request) {
	login := f.bearer(r)
	if login == "" {
		badCredentials(w)
		return
	}
	var req struct {
		Name        string `json:"name"`
		Private     bool   `json:"private"`
		Description string `json:"description"`
		AutoInit    bool   `json:"auto_init"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if req.Name == "" || !regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`).MatchString(req.Name) || req.Name == "." || req.Name == ".." {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Repository creation failed.",
			"errors": []map[string]string{{"resource": "Repository", "code": "custom", "field": "name", "message": "name is invalid"}}})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(login+"/"+req.Name) != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Repository creation failed.",
			"errors": []map[string]string{{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}}})
		return
	}
	if err := initBare(f.bare(login+"/"+req.Name), req.Name, req.AutoInit); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
		return
	}
	created := &repo{owner: login, name: req.Name, description: req.Description, private: req.Private}
	f.repos[login] = append([]*repo{created}, f.repos[login]...)
	writeJSON(w, http.StatusCreated, f.object(len(f.repos[login]), created))
}

// initBare makes an empty bare repository that takes pushes; with
// readme (auto_init), main starts with a commit holding a README.
func initBare(path, name string, readme bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if _, err := run(nil, filepath.Dir(path), "init", "-q", "--bare", "-b", "main", path); err != nil {
		return err
	}
	if _, err := run(nil, path, "config", "http.receivepack", "true"); err != nil {
		return err
	}
	if !readme {
		return nil
	}
	work, err := os.MkdirTemp("", "githubfake")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("# "+name+"\n"), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "Initial commit"}, {"push", "-q", path, "main"}} {
		if _, err := run(author, work, args...); err != nil {
			return err
		}
	}
	return nil
}

// branches is GET /repos/{owner}/{repo}/branches, read from the bare
// repository, paged like the listing. A private repository is found only
// with its owner's token.
func (f *GitHub) branches(w http.ResponseWriter, r *http.Request) {
	owner, name := r.PathValue("owner"), r.PathValue("repo")
	login := ""
	if r.Header.Get("Authorization") != "" {
		if login = f.bearer(r); login == "" {
			badCredentials(w)
			return
		}
	}
	f.mu.Lock()
	found := f.find(owner + "/" + name)
	f.mu.Unlock()
	if found == nil || found.private && !strings.EqualFold(login, owner) {
		notFound(w)
		return
	}
	heads, err := branchHeads(f.bare(found.owner + "/" + found.name))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
		return
	}
	per, page := paging(r)
	out := []map[string]any{}
	for i := (page - 1) * per; i < min(page*per, len(heads)); i++ {
		out = append(out, map[string]any{
			"name":      heads[i][0],
			"commit":    map[string]string{"sha": heads[i][1], "url": fmt.Sprintf("%s/api/v3/repos/%s/%s/commits/%s", f.URL, found.owner, found.name, heads[i][1])},
			"protected": false,
		})
	}
	f.link(w, "/repos/"+found.owner+"/"+found.name+"/branches", per, page, len(heads))
	writeJSON(w, http.StatusOK, out)
}
