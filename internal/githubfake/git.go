// Package githubfake is GitHub on loopback for tests: its REST API in
// GitHub's real shapes, its OAuth pages, and real git smart HTTP (Debian's
// git http-backend behind Go's CGI handler) with tokens as Basic auth; and
// a plain public git server. Only the REST API is a stand-in; the git
// protocol is git's own.
package githubfake

import (
	"fmt"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const backend = "/usr/lib/git-core/git-http-backend"

// GitServer is a real, anonymous git smart-HTTP server on loopback
// serving the bare repositories under Root.
type GitServer struct {
	*httptest.Server
	Root string
}

// NewGitServer starts a git server that lives as long as the test.
func NewGitServer(t testing.TB) *GitServer {
	t.Helper()
	root := gitRoot(t)
	srv := httptest.NewServer(gitHandler(root))
	t.Cleanup(srv.Close)
	return &GitServer{Server: srv, Root: root}
}

func gitRoot(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend is missing (apt-get install git): %v", err)
	}
	return t.TempDir()
}

func gitHandler(root string) *cgi.Handler {
	return &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
}

// Repo makes a bare repository name.git with one commit per branch, each
// holding the files given, and returns its clone address.
func (g *GitServer) Repo(t testing.TB, name string, branches map[string]map[string]string) string {
	t.Helper()
	makeBare(t, filepath.Join(g.Root, name+".git"), branches)
	return g.URL + "/" + name + ".git"
}

// author is who the fixtures' commits are by; someoneElse pushes the
// commits studio did not make.
var (
	author      = []string{"GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.com"}
	someoneElse = []string{"GIT_AUTHOR_NAME=Someone Else", "GIT_AUTHOR_EMAIL=someone@example.com", "GIT_COMMITTER_NAME=Someone Else", "GIT_COMMITTER_EMAIL=someone@example.com"}
)

// run runs git in dir without the machine's or the user's git settings.
func run(env []string, dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull}, env...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %v: %w\n%s", args, err, out)
	}
	return string(out), nil
}

// git runs git in dir as the test author and fails the test on error.
func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := run(author, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// makeBare makes an empty bare repository at path whose default branch
// is main and which accepts pushes over HTTP, then commits each branch's
// files: main first, the others branching from it in name order.
func makeBare(t testing.TB, path string, branches map[string]map[string]string) {
	t.Helper()
	if err := initBare(path, "", false); err != nil {
		t.Fatal(err)
	}
	if len(branches) == 0 {
		return
	}
	names := make([]string, 0, len(branches))
	for b := range branches {
		if b != "main" {
			names = append(names, b)
		}
	}
	slices.Sort(names)
	if _, ok := branches["main"]; ok {
		names = append([]string{"main"}, names...)
	}
	work := t.TempDir()
	git(t, work, "init", "-q", "-b", names[0])
	for _, branch := range names {
		git(t, work, "checkout", "-q", "-B", branch)
		writeFiles(t, work, branches[branch])
		git(t, work, "add", "-A")
		git(t, work, "commit", "-q", "--allow-empty", "-m", "on "+branch)
		git(t, work, "push", "-q", path, branch)
	}
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pushCommit adds a commit with files to branch of the bare repository
// at path, as someone other than studio; a new branch starts from HEAD.
func pushCommit(t testing.TB, path, branch string, files map[string]string, message string) {
	t.Helper()
	work := t.TempDir()
	git(t, work, "clone", "-q", path, ".")
	if strings.TrimSpace(git(t, work, "branch", "-r", "--list", "origin/"+branch)) != "" {
		git(t, work, "checkout", "-q", "-B", branch, "origin/"+branch)
	} else {
		git(t, work, "checkout", "-q", "-B", branch)
	}
	writeFiles(t, work, files)
	git(t, work, "add", "-A")
	if _, err := run(someoneElse, work, "commit", "-q", "--allow-empty", "-m", message); err != nil {
		t.Fatal(err)
	}
	git(t, work, "push", "-q", "origin", branch)
}

// branchHeads lists the bare repository's branches and their commits,
// in name order.
func branchHeads(path string) ([][2]string, error) {
	list, err := run(nil, path, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		if name, sha, ok := strings.Cut(line, " "); ok {
			out = append(out, [2]string{name, sha})
		}
	}
	return out, nil
}
