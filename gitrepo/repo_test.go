package gitrepo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"studio/netguard"
)

// remoteRepo is a bare repository served by privateServer, and a way for
// "someone else" to commit to it with the git binary.
type remoteRepo struct {
	url, bare, token string
}

func newRemote(t *testing.T) (*Cloner, remoteRepo) {
	t.Helper()
	const token = "ghp_pushAndPullToken0123456789"
	url, bare := privateServerAt(t, token)
	allow, err := netguard.ParseAllowList("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return New(netguard.NewDialer(allow)), remoteRepo{url: url, bare: bare, token: token}
}

func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Other", "GIT_AUTHOR_EMAIL=other@example.com", "GIT_COMMITTER_NAME=Other", "GIT_COMMITTER_EMAIL=other@example.com", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// someoneElse commits files to main of the bare repository directly.
func (rr remoteRepo) someoneElse(t *testing.T, message string, files map[string]string) {
	t.Helper()
	work := t.TempDir()
	gitCmd(t, work, "clone", "-q", rr.bare, ".")
	for p, body := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(work, p)), 0o755)
		if err := os.WriteFile(filepath.Join(work, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitCmd(t, work, "add", "-A")
	gitCmd(t, work, "commit", "-q", "-m", message)
	gitCmd(t, work, "push", "-q", "origin", "main")
}

func (rr remoteRepo) headMessage(t *testing.T) string {
	return gitCmd(t, rr.bare, "log", "-1", "--format=%s", "main")
}

var me = Signature{Name: "Ada", Email: "ada@example.com"}

func write(t *testing.T, dir, p, body string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
	if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestStatusDiffCommitPushPull(t *testing.T) {
	t.Parallel()
	c, rr := newRemote(t)
	ctx := context.Background()
	cred := Credentials{Token: rr.token}
	dir := filepath.Join(t.TempDir(), "project")
	if err := c.Clone(ctx, rr.url, "", dir, DefaultLimits, cred, nil); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Branch() != "main" {
		t.Fatalf("branch %q", r.Branch())
	}
	if st, err := r.Status(); err != nil || len(st.Changes) != 0 {
		t.Fatalf("a fresh clone: %+v %v", st, err)
	}

	write(t, dir, "index.html", "<h1>Changed</h1>\n")
	write(t, dir, "notes/new.txt", "new\n")
	write(t, dir, "node_modules/x/index.js", "left out\n")
	write(t, dir, ".studio/state", "left out\n")
	st, err := r.Status()
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(st); got != "index.html:modified notes/new.txt:added" {
		t.Fatalf("status %s", got)
	}
	diff, err := r.Diff("index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--- a/index.html", "+++ b/index.html", "-<h1>Private</h1>", "\\ No newline at end of file", "+<h1>Changed</h1>"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if strings.Contains(diff, "new.txt") {
		t.Errorf("a diff of one path shows others:\n%s", diff)
	}
	if all, _ := r.Diff(); !strings.Contains(all, "--- /dev/null\n+++ b/notes/new.txt\n@@ -0,0 +1,1 @@\n+new\n") {
		t.Errorf("the new file's diff:\n%s", all)
	}

	if _, err := r.Commit("  ", me); err == nil || !strings.Contains(err.Error(), "write a commit message") {
		t.Fatalf("an empty message: %v", err)
	}
	commit, err := r.Commit("Say what changed", me)
	if err != nil {
		t.Fatal(err)
	}
	if commit.Author != "Ada" || commit.Message != "Say what changed" {
		t.Fatalf("commit %+v", commit)
	}
	if _, err := r.Commit("again", me); !errors.Is(err, ErrNothingToCommit) {
		t.Fatalf("a commit without changes: %v", err)
	}
	if log, err := r.Log(10); err != nil || len(log) != 2 || log[0].Hash != commit.Hash || log[1].Message != "first" {
		t.Fatalf("log %+v %v", log, err)
	}

	// Push: a token that does not work is refused; the right one lands it.
	if err := c.Push(ctx, r, rr.url, "main", DefaultLimits, Credentials{Token: "ghp_wrong"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("push with a wrong token: %v", err)
	}
	if err := c.Push(ctx, r, rr.url, "main", DefaultLimits, cred); err != nil {
		t.Fatal(err)
	}
	if got := rr.headMessage(t); got != "Say what changed" {
		t.Fatalf("the server's main is at %q", got)
	}
	if err := c.Push(ctx, r, rr.url, "main", DefaultLimits, cred); !errors.Is(err, ErrUpToDate) {
		t.Fatalf("a second push: %v", err)
	}

	// Someone else's commit is pulled.
	rr.someoneElse(t, "From a colleague", map[string]string{"about.html": "about\n"})
	res, err := c.Pull(ctx, r, rr.url, "main", DefaultLimits, cred)
	if err != nil {
		t.Fatal(err)
	}
	if res.From != commit.Hash || res.To == commit.Hash {
		t.Fatalf("pull %+v", res)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "about.html")); string(b) != "about\n" {
		t.Fatalf("about.html after the pull: %q", b)
	}
	// What git does not track stays: dependencies, studio's folder, an
	// ignored file.
	for _, p := range []string{"node_modules/x/index.js", ".studio/state"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("the pull removed %s: %v", p, err)
		}
	}
	if clean, _ := r.Clean(); !clean {
		st, _ := r.Status()
		t.Fatalf("the work tree after a pull: %s", changes(st))
	}
	if _, err := c.Pull(ctx, r, rr.url, "main", DefaultLimits, cred); !errors.Is(err, ErrUpToDate) {
		t.Fatalf("a second pull: %v", err)
	}

	// Changes not committed: the pull is refused, nothing moves.
	write(t, dir, "index.html", "<h1>Mine</h1>\n")
	if _, err := c.Pull(ctx, r, rr.url, "main", DefaultLimits, cred); err == nil || !strings.Contains(err.Error(), "not committed") {
		t.Fatalf("a pull onto changes: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "index.html")); string(b) != "<h1>Mine</h1>\n" {
		t.Fatalf("the refused pull touched index.html: %q", b)
	}

	// Diverged: both sides have a commit; pull and push each refuse.
	if _, err := r.Commit("Mine", me); err != nil {
		t.Fatal(err)
	}
	rr.someoneElse(t, "Theirs", map[string]string{"index.html": "<h1>Theirs</h1>\n"})
	if _, err := c.Pull(ctx, r, rr.url, "main", DefaultLimits, cred); err == nil || !strings.Contains(err.Error(), "gone their own way") {
		t.Fatalf("a pull of a diverged branch: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "index.html")); string(b) != "<h1>Mine</h1>\n" {
		t.Fatalf("the refused pull touched index.html: %q", b)
	}
	if err := c.Push(ctx, r, rr.url, "main", DefaultLimits, cred); err == nil || !strings.Contains(err.Error(), "pull them first") {
		t.Fatalf("a push onto a diverged branch: %v", err)
	}
	if got := rr.headMessage(t); got != "Theirs" {
		t.Fatalf("the refused push moved the server's main to %q", got)
	}
	// A new branch takes the work.
	if err := c.Push(ctx, r, rr.url, "mine", DefaultLimits, cred); err != nil {
		t.Fatal(err)
	}
	if got := gitCmd(t, rr.bare, "log", "-1", "--format=%s", "mine"); got != "Mine" {
		t.Fatalf("the new branch is at %q", got)
	}

	// The token is in none of the project's files.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), rr.token) {
				t.Errorf("%s holds the token", p)
			}
		}
		return nil
	})
}

func changes(st Status) string {
	var out []string
	for _, ch := range st.Changes {
		out = append(out, ch.Path+":"+ch.Status)
	}
	return strings.Join(out, " ")
}

// A project that was not cloned gets a repository on its first commit and
// pushes it to an empty repository (one just created on GitHub, say).
func TestInitCommitPushToAnEmptyRepository(t *testing.T) {
	t.Parallel()
	c, rr := newRemote(t)
	empty := filepath.Join(filepath.Dir(rr.bare), "empty.git")
	gitCmd(t, filepath.Dir(rr.bare), "init", "-q", "--bare", "-b", "main", empty)
	gitCmd(t, empty, "config", "http.receivepack", "true")
	url := strings.TrimSuffix(rr.url, "secret.git") + "empty.git"

	dir := t.TempDir()
	if _, err := Open(dir); !errors.Is(err, ErrNoRepository) {
		t.Fatalf("Open of a folder without .git: %v", err)
	}
	write(t, dir, "index.html", "<h1>Hello</h1>\n")
	r, err := Init(dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	if log, err := r.Log(5); err != nil || len(log) != 0 {
		t.Fatalf("the log before the first commit: %v %v", log, err)
	}
	if err := c.Push(context.Background(), r, url, "main", DefaultLimits, Credentials{Token: rr.token}); err == nil || !strings.Contains(err.Error(), "commit first") {
		t.Fatalf("a push before any commit: %v", err)
	}
	if _, err := r.Commit("First", me); err != nil {
		t.Fatal(err)
	}
	if err := c.Push(context.Background(), r, url, "main", DefaultLimits, Credentials{Token: rr.token}); err != nil {
		t.Fatal(err)
	}
	if got := gitCmd(t, empty, "show", "main:index.html"); got != "<h1>Hello</h1>" {
		t.Fatalf("the pushed index.html: %q", got)
	}
}

// The project's code owns its folder, .git included: a link there never
// leads studio's reads outside it.
func TestLinksDoNotLeadOutside(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	write(t, outside, "secret.txt", "top secret\n")

	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, ".git")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not a folder") {
		t.Fatalf("a .git that is a link: %v", err)
	}

	dir = t.TempDir()
	r, err := Init(dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "leak.txt")); err != nil {
		t.Fatal(err)
	}
	diff, err := r.Diff()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(diff, "top secret") || !strings.Contains(diff, "link to "+filepath.Join(outside, "secret.txt")) {
		t.Fatalf("the diff of a link:\n%s", diff)
	}
	// An alternates file pointing outside is not followed either.
	os.MkdirAll(filepath.Join(dir, ".git", "objects", "info"), 0o755)
	write(t, dir, ".git/objects/info/alternates", outside+"\n")
	if _, err := r.Commit("A link", me); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
}

func TestUnified(t *testing.T) {
	got := unified("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n", "a\nB\nc\nd\ne\nf\ng\nh\ni\nJ\n", 1)
	want := "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n@@ -9,2 +9,2 @@\n i\n-j\n+J\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := unified("", "x\n", 3); got != "@@ -0,0 +1,1 @@\n+x\n" {
		t.Fatalf("an added file: %q", got)
	}
	if got := unified("x\n", "", 3); got != "@@ -1,1 +0,0 @@\n-x\n" {
		t.Fatalf("a removed file: %q", got)
	}
}
