package gitrepo

import (
	"context"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"studio/netguard"
)

// privateServer is a real git smart-HTTP server on loopback (git
// http-backend behind Go's CGI handler) that serves one repository only
// to Basic auth with the password token, as GitHub does.
func privateServer(t *testing.T, token string) string {
	t.Helper()
	url, _ := privateServerAt(t, token)
	return url
}

// privateServerAt is privateServer, with the bare repository's folder; it
// accepts pushes.
func privateServerAt(t *testing.T, token string) (url, bare string) {
	t.Helper()
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend is missing (apt-get install git): %v", err)
	}
	root, work := t.TempDir(), t.TempDir()
	git := func(dir string, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.com", "HOME="+work)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(root, "init", "-q", "--bare", "-b", "main", "secret.git")
	git(work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "index.html"), []byte("<h1>Private</h1>"), 0o644)
	git(work, "add", "-A")
	git(work, "commit", "-q", "-m", "first")
	git(work, "push", "-q", filepath.Join(root, "secret.git"), "main")
	git(filepath.Join(root, "secret.git"), "config", "http.receivepack", "true")
	backendHandler := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "x-access-token" || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backendHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/secret.git", filepath.Join(root, "secret.git")
}

func TestCloneWithCredentials(t *testing.T) {
	t.Parallel()
	const token = "ghp_theRightToken0123456789"
	url := privateServer(t, token)
	allow, err := netguard.ParseAllowList("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c := New(netguard.NewDialer(allow))
	for _, tc := range []struct {
		name string
		cred Credentials
		want string
	}{
		{"anonymous", Credentials{}, "asks for credentials"},
		{"a wrong token", Credentials{Token: "ghp_wrong"}, "refused the credentials"},
	} {
		dir := filepath.Join(t.TempDir(), "clone")
		err := c.Clone(context.Background(), url, "", dir, DefaultLimits, tc.cred, nil)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) || tc.cred.Token != "" && strings.Contains(err.Error(), tc.cred.Token) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: the failed clone left %s", tc.name, dir)
		}
	}

	dir := filepath.Join(t.TempDir(), "clone")
	if err := c.Clone(context.Background(), url, "", dir, DefaultLimits, Credentials{Token: token}, nil); err != nil {
		t.Fatal(err)
	}
	if page, err := os.ReadFile(filepath.Join(dir, "index.html")); err != nil || string(page) != "<h1>Private</h1>" {
		t.Fatalf("index.html: %q %v", page, err)
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), token) {
				t.Errorf("%s holds the token", p)
			}
		}
		return nil
	})
}
