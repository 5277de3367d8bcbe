package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"studio/internal/rootfs"
	"studio/internal/text"
)

// ErrNoRepository means the project's folder has no git repository yet.
var ErrNoRepository = errors.New("the project has no git repository yet")

// ErrNothingToCommit means the work tree is the same as the last commit.
var ErrNothingToCommit = errors.New("there are no changes to commit")

// Repo is a project's own repository. Its work tree and its .git folder
// are each held open as an os.Root, so no symbolic link in either,
// written by the project's code before or while studio works in it,
// leads a read or a write outside it. Only go-git reads it: no setting
// of the repository's own (hooks, filters, fsmonitor, credential
// helpers, an ssh command) ever runs anything. Close releases it.
type Repo struct {
	r       *git.Repository
	wt, dot *rootfs.FS
}

// alwaysLeftOut are never part of a commit, whatever .gitignore says:
// installed dependencies and studio's own folder.
var alwaysLeftOut = []string{"node_modules/", ".studio/"}

// Open opens the repository of the project folder dir.
func Open(dir string) (*Repo, error) {
	st, r, err := storage(dir)
	if err != nil {
		return nil, err
	}
	if r.r, err = git.Open(st, r.wt); err != nil {
		r.Close()
	}
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, ErrNoRepository
	}
	if err != nil {
		return nil, refuse("the project's .git folder cannot be read: %v", err)
	}
	return r, nil
}

// Close releases the repository's folders.
func (r *Repo) Close() error { return errors.Join(r.dot.Close(), r.wt.Close()) }

// Init makes a new repository in the project folder dir whose first
// branch is branch, or opens the one already there.
func Init(dir, branch string) (*Repo, error) {
	if r, err := Open(dir); !errors.Is(err, ErrNoRepository) {
		return r, err
	}
	if err := CheckBranch(branch); err != nil || branch == "" {
		return nil, refuse("%q is not a branch name", branch)
	}
	if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	st, r, err := storage(dir)
	if err != nil {
		return nil, err
	}
	if r.r, err = git.InitWithOptions(st, r.wt, git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(branch)}); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// storage opens dir's work tree and its .git, each held as an os.Root,
// in a Repo still without its repository, and the storage on that .git.
// A .git that is a link or a file (a linked work tree's "gitdir:") is
// refused: it would point somewhere else. Once open, a .git swapped for
// a link changes nothing: the folder itself is held.
func storage(dir string) (*filesystem.Storage, *Repo, error) {
	wt, err := rootfs.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	dot, err := openDotGit(wt)
	if err != nil {
		wt.Close()
		return nil, nil, err
	}
	st := filesystem.NewStorageWithOptions(dot, cache.NewObjectLRUDefault(), filesystem.Options{AlternatesFS: dot})
	return st, &Repo{wt: wt, dot: dot}, nil
}

func openDotGit(wt *rootfs.FS) (*rootfs.FS, error) {
	fi, err := wt.Lstat(".git")
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, ErrNoRepository
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, refuse("the project's .git is not a folder; studio only opens a repository kept in the project itself")
	}
	dot, err := wt.Sub(".git")
	if err != nil {
		return nil, refuse("the project's .git folder cannot be opened: %v", err)
	}
	return dot, nil
}

// Branch is the branch the work tree is on ("" when HEAD is detached).
func (r *Repo) Branch() string {
	head, err := r.r.Storer.Reference(plumbing.HEAD)
	if err != nil || head.Type() != plumbing.SymbolicReference || !head.Target().IsBranch() {
		return ""
	}
	return head.Target().Short()
}

// head is the commit HEAD points at; ok is false before the first commit.
func (r *Repo) head() (c *object.Commit, ok bool, err error) {
	ref, err := r.r.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	c, err = r.r.CommitObject(ref.Hash())
	return c, err == nil, err
}

// Change is one path that differs between the last commit and the work
// tree.
type Change struct {
	Path   string `json:"path"`
	Status string `json:"status"` // added, modified, deleted
}

// MaxChanges bounds a status: past it the list is cut and Truncated says so.
const MaxChanges = 1000

// Status is what a commit would record now, sorted by path.
type Status struct {
	Changes   []Change `json:"changes"`
	Truncated bool     `json:"truncated"`
}

func (r *Repo) worktree() (*git.Worktree, error) {
	wt, err := r.r.Worktree()
	if err != nil {
		return nil, err
	}
	for _, p := range alwaysLeftOut {
		wt.Excludes = append(wt.Excludes, gitignore.ParsePattern(p, nil))
	}
	return wt, nil
}

// Status compares the work tree with the last commit.
func (r *Repo) Status() (Status, error) {
	wt, err := r.worktree()
	if err != nil {
		return Status{}, err
	}
	st, err := wt.Status()
	if err != nil {
		return Status{}, refuse("the project's changes cannot be listed: %v", err)
	}
	var out Status
	for p, fs := range st {
		status := ""
		switch {
		case fs.Worktree == git.Deleted || fs.Staging == git.Deleted && fs.Worktree != git.Untracked:
			status = "deleted"
		case fs.Worktree == git.Untracked || fs.Staging == git.Added:
			status = "added"
		case fs.Worktree == git.Unmodified && fs.Staging == git.Unmodified:
			continue
		default:
			status = "modified"
		}
		out.Changes = append(out.Changes, Change{Path: p, Status: status})
	}
	sort.Slice(out.Changes, func(i, j int) bool { return out.Changes[i].Path < out.Changes[j].Path })
	if len(out.Changes) > MaxChanges {
		out.Changes, out.Truncated = out.Changes[:MaxChanges], true
	}
	return out, nil
}

// Clean reports whether the work tree holds no change.
func (r *Repo) Clean() (bool, error) {
	st, err := r.Status()
	return len(st.Changes) == 0, err
}

// Signature names who commits.
type Signature struct {
	Name  string
	Email string
}

// Commit is one commit of the history.
type Commit struct {
	Hash    string    `json:"hash"`
	Message string    `json:"message"`
	Author  string    `json:"author"`
	Email   string    `json:"email"`
	When    time.Time `json:"when"`
}

func toCommit(c *object.Commit) Commit {
	return Commit{Hash: c.Hash.String(), Message: strings.TrimSpace(c.Message), Author: c.Author.Name, Email: c.Author.Email, When: c.Author.When}
}

// MaxMessage bounds a commit message.
const MaxMessage = 10_000

// CheckMessage refuses a commit message git would keep badly.
func CheckMessage(message string) (string, error) {
	message = strings.TrimSpace(strings.ReplaceAll(message, "\r\n", "\n"))
	switch {
	case message == "":
		return "", refuse("write a commit message")
	case len(message) > MaxMessage:
		return "", refuse("the commit message is longer than %d characters", MaxMessage)
	case strings.ContainsRune(message, 0):
		return "", refuse("the commit message holds a NUL character")
	}
	return message + "\n", nil
}

// Commit records every change of the work tree (new, changed and deleted
// files, as Status lists them) as one commit on the current branch.
func (r *Repo) Commit(message string, who Signature) (Commit, error) {
	message, err := CheckMessage(message)
	if err != nil {
		return Commit{}, err
	}
	wt, err := r.worktree()
	if err != nil {
		return Commit{}, err
	}
	st, err := r.Status()
	if err != nil {
		return Commit{}, err
	}
	if len(st.Changes) == 0 {
		return Commit{}, ErrNothingToCommit
	}
	if st.Truncated {
		return Commit{}, conflict("more than %d files changed; add the folders that should not be committed to .gitignore", MaxChanges)
	}
	var deleted []string
	for _, ch := range st.Changes {
		if ch.Status == "deleted" {
			deleted = append(deleted, ch.Path)
			continue
		}
		if _, err = wt.Add(ch.Path); err != nil {
			return Commit{}, refuse("%s cannot be added to the commit: %v", ch.Path, err)
		}
	}
	if err := r.checkIndex(deleted); err != nil {
		return Commit{}, err
	}
	sig := &object.Signature{Name: who.Name, Email: who.Email, When: time.Now()}
	hash, err := wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return Commit{}, refuse("the commit could not be made: %v", err)
	}
	c, err := r.r.CommitObject(hash)
	if err != nil {
		return Commit{}, err
	}
	return toCommit(c), nil
}

// Log is the current branch's history, newest first, at most n commits. A
// shallow clone's history ends where the clone began.
func (r *Repo) Log(n int) ([]Commit, error) {
	c, ok, err := r.head()
	if err != nil || !ok {
		return nil, err
	}
	out := []Commit{toCommit(c)}
	for len(out) < n && c.NumParents() > 0 {
		if c, err = c.Parent(0); err != nil {
			break // the edge of a shallow clone
		}
		out = append(out, toCommit(c))
	}
	return out, nil
}

// maxDiffFile is the largest file whose lines a diff shows.
const maxDiffFile = 1 << 20

// MaxDiff bounds a diff's text; past it the diff is cut with a note.
const MaxDiff = 512 << 10

// Diff is the unified diff from the last commit to the work tree of the
// paths given, or of every change when none is given.
func (r *Repo) Diff(paths ...string) (string, error) {
	st, err := r.Status()
	if err != nil {
		return "", err
	}
	want := map[string]bool{}
	for _, p := range paths {
		want[strings.TrimPrefix(filepath.ToSlash(filepath.Clean(p)), "./")] = true
	}
	head, _, err := r.head()
	if err != nil {
		return "", err
	}
	var tree *object.Tree
	if head != nil {
		if tree, err = head.Tree(); err != nil {
			return "", err
		}
	}
	var buf bytes.Buffer
	for _, ch := range st.Changes {
		if len(want) > 0 && !want[ch.Path] {
			continue
		}
		before, beforeOK := r.committed(tree, ch.Path)
		after, afterOK := r.current(ch.Path)
		writeFileDiff(&buf, ch.Path, before, beforeOK, after, afterOK)
		if buf.Len() > MaxDiff {
			buf.Truncate(MaxDiff)
			buf.WriteString("\n… the diff is cut here: it is longer than " + text.Bytes(MaxDiff) + "\n")
			break
		}
	}
	return buf.String(), nil
}

// content is a side of a file's diff: its text, or why its lines are not
// shown.
type content struct {
	text string
	note string // "binary", "too large", "link to …"
}

func (r *Repo) committed(tree *object.Tree, p string) (content, bool) {
	if tree == nil {
		return content{}, false
	}
	f, err := tree.File(p)
	if err != nil {
		return content{}, false
	}
	if f.Mode.IsFile() && f.Size > maxDiffFile {
		return content{note: "too large to show"}, true
	}
	rd, err := f.Reader()
	if err != nil {
		return content{note: "unreadable"}, true
	}
	defer rd.Close()
	data, _ := io.ReadAll(io.LimitReader(rd, maxDiffFile))
	if f.Mode.String() == "0120000" {
		return content{note: "link to " + string(data)}, true
	}
	return textOf(data), true
}

// current reads a work tree file through the held folder: a link is
// shown as where it points, never followed.
func (r *Repo) current(p string) (content, bool) {
	fs := r.wt
	fi, err := fs.Lstat(p)
	if err != nil {
		return content{}, false
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, _ := fs.Readlink(p)
		return content{note: "link to " + target}, true
	}
	if !fi.Mode().IsRegular() {
		return content{note: "not a regular file"}, true
	}
	if fi.Size() > maxDiffFile {
		return content{note: "too large to show"}, true
	}
	f, err := fs.Open(p)
	if err != nil {
		return content{note: "unreadable"}, true
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, maxDiffFile))
	return textOf(data), true
}

func textOf(data []byte) content {
	if bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0 {
		return content{note: "binary"}
	}
	return content{text: string(data)}
}

// writeFileDiff writes one file's part of a unified diff.
func writeFileDiff(w *bytes.Buffer, p string, before content, beforeOK bool, after content, afterOK bool) {
	from, to := "a/"+p, "b/"+p
	if !beforeOK {
		from = "/dev/null"
	}
	if !afterOK {
		to = "/dev/null"
	}
	fmt.Fprintf(w, "diff --git a/%s b/%s\n", p, p)
	if before.note != "" || after.note != "" {
		fmt.Fprintf(w, "--- %s\n+++ %s\n", from, to)
		fmt.Fprintf(w, "@@ %s @@\n", describe(before, beforeOK)+" → "+describe(after, afterOK))
		return
	}
	fmt.Fprintf(w, "--- %s\n+++ %s\n", from, to)
	w.WriteString(unified(before.text, after.text, 3))
}

func describe(c content, ok bool) string {
	switch {
	case !ok:
		return "none"
	case c.note != "":
		return c.note
	default:
		return "text"
	}
}
