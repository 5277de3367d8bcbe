package gitrepo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/object"
)

const secret = "TOP-SECRET-outside-the-project"

// outsideFolder is a folder beside the project holding the secret, and a
// snapshot of it to compare with after the test.
func outsideFolder(t *testing.T) (dir string, snapshot func() string) {
	t.Helper()
	dir = t.TempDir()
	write(t, dir, "a.txt", secret+"\n")
	write(t, dir, "deeper/b.txt", secret+"\n")
	snapshot = func() string {
		var b strings.Builder
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "%s %v %q\n", p, d.Type(), data)
			return nil
		})
		return b.String()
	}
	return dir, snapshot
}

// noSecretCommitted reads every blob of the repository.
func noSecretCommitted(t *testing.T, r *Repo) {
	t.Helper()
	blobs, err := r.r.BlobObjects()
	if err != nil {
		t.Fatal(err)
	}
	blobs.ForEach(func(b *object.Blob) error {
		rd, err := b.Reader()
		if err != nil {
			return err
		}
		defer rd.Close()
		data, _ := io.ReadAll(rd)
		if strings.Contains(string(data), secret) {
			t.Errorf("blob %s holds the secret", b.Hash)
		}
		return nil
	})
}

// The project's code swaps a folder of its work tree for a link to
// outside, again and again, while studio lists, diffs and commits: the
// secret outside is never read, and nothing is written there.
func TestAFolderSwappedForALinkIsNeverFollowed(t *testing.T) {
	t.Parallel()
	outside, snapshot := outsideFolder(t)
	before := snapshot()

	dir := t.TempDir()
	write(t, dir, "app/a.txt", "hello\n")
	write(t, dir, "app/deeper/b.txt", "world\n")
	r, err := Init(dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Commit("First", me); err != nil {
		t.Fatal(err)
	}

	app, real := filepath.Join(dir, "app"), filepath.Join(dir, "app.real")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			os.WriteFile(filepath.Join(app, "a.txt"), fmt.Appendf(nil, "hello %d\n", i), 0o644)
			os.Rename(app, real)
			os.Symlink(outside, app)
			os.Remove(app)
			os.Rename(real, app)
		}
	})

	// Until the diffs have seen the link a few times, as often as the
	// swaps allow.
	var commits, links int
	for i := 0; i < 150 || links < 3 && i < 2000; i++ {
		diff, err := r.Diff()
		if strings.Contains(diff, secret) {
			t.Fatalf("the diff shows the secret (err %v):\n%s", err, diff)
		}
		if strings.Contains(diff, "link to "+outside) {
			links++
		}
		if _, err := r.Status(); err != nil && !errors.Is(err, ErrInvalid) {
			t.Logf("status: %v", err)
		}
		if _, err := r.Commit(fmt.Sprintf("Change %d", i), me); err == nil {
			commits++
		}
	}
	close(stop)
	wg.Wait()

	if links == 0 {
		t.Error("no diff saw the folder as a link: the swaps were not raced")
	}
	t.Logf("%d commits made, %d diffs saw the link", commits, links)
	// Once the project's code stops, studio commits as before.
	// One that staged a file the swaps left mid-change is refused once,
	// to be made again.
	write(t, dir, "app/a.txt", "settled\n")
	_, err = r.Commit("Settled", me)
	if err != nil && !errors.Is(err, ErrNothingToCommit) {
		_, err = r.Commit("Settled", me)
	}
	if err != nil && !errors.Is(err, ErrNothingToCommit) {
		t.Fatalf("a commit after the swaps: %v", err)
	}
	if st, err := r.Status(); err != nil || len(st.Changes) != 0 {
		t.Errorf("after the last commit: %+v, %v", st, err)
	}
	noSecretCommitted(t, r)
	if after := snapshot(); after != before {
		t.Errorf("the outside folder changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// A .git swapped for a link once studio opened it changes nothing: the
// folder opened is the one written.
func TestADotGitSwappedAfterOpenIsNotFollowed(t *testing.T) {
	t.Parallel()
	outside, snapshot := outsideFolder(t)
	dir := t.TempDir()
	write(t, dir, "index.html", "<h1>Hello</h1>\n")
	r, err := Init(dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := snapshot()
	if err := os.Rename(filepath.Join(dir, ".git"), filepath.Join(dir, "moved.git")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, ".git")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit("First", me); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(); after != before {
		t.Errorf("the commit wrote outside:\n%s", after)
	}
	if _, err := os.Stat(filepath.Join(dir, "moved.git", "HEAD")); err != nil {
		t.Errorf("the opened .git was not written: %v", err)
	}
	if got := gitCmd(t, dir, "--git-dir=moved.git", "log", "-1", "--format=%s"); got != "First" {
		t.Errorf("the commit in the opened .git: %q", got)
	}
}
