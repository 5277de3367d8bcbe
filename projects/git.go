package projects

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/db"
	"studio/gitrepo"
	"studio/internal/text"
)

// GitLink is the repository a project pushes to and pulls from.
type GitLink struct {
	URL    string `json:"url"`
	Branch string `json:"branch"`
	GitHub bool   `json:"github"` // pushes and pulls send the owner's GitHub token
}

// GitState is what the Git panel shows.
type GitState struct {
	Repository bool             `json:"repository"` // the project has a .git folder
	Branch     string           `json:"branch"`
	Link       *GitLink         `json:"link"`
	Status     gitrepo.Status   `json:"status"`
	Log        []gitrepo.Commit `json:"log"`
	Suggestion string           `json:"suggested_message"` // from the last run's answer
}

// gitLocks makes this replica's git operations on one project take turns.
var gitLocks sync.Map // project id → *sync.Mutex

func lockGit(id uuid.UUID) (unlock func()) {
	m, _ := gitLocks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// GitLink is where the project pushes and pulls; nil when it has no link.
func (h *Handle) GitLink(ctx context.Context) (*GitLink, error) {
	row, err := h.s.q.GetProjectGitLink(ctx, h.p.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &GitLink{URL: row.RemoteUrl, Branch: row.Branch, GitHub: row.Github}, nil
}

// LinkGit sets where the project pushes and pulls.
func (h *Handle) LinkGit(ctx context.Context, l GitLink) (GitLink, error) {
	u, err := gitrepo.CheckURL(l.URL)
	if err != nil {
		return GitLink{}, err
	}
	if l.Branch == "" {
		l.Branch = "main"
	}
	if err := gitrepo.CheckBranch(l.Branch); err != nil {
		return GitLink{}, err
	}
	l.URL = u.String()
	_, err = h.s.q.SetProjectGitLink(ctx, db.SetProjectGitLinkParams{ProjectID: h.p.ID, RemoteUrl: l.URL, Branch: l.Branch, Github: l.GitHub})
	return l, err
}

// UnlinkGit forgets where the project pushes and pulls; its repository
// and history stay.
func (h *Handle) UnlinkGit(ctx context.Context) error {
	return h.s.q.DeleteProjectGitLink(ctx, h.p.ID)
}

// GitState is the project's repository as the Git panel shows it, with
// the last logN commits.
func (h *Handle) GitState(ctx context.Context, logN int) (GitState, error) {
	var st GitState
	link, err := h.GitLink(ctx)
	if err != nil {
		return st, err
	}
	st.Link = link
	if answer, err := h.s.q.LastRunAnswerForProject(ctx, h.p.ID); err == nil {
		st.Suggestion = suggestMessage(answer)
	}
	defer lockGit(h.p.ID)()
	r, err := gitrepo.Open(h.Dir())
	if errors.Is(err, gitrepo.ErrNoRepository) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	defer r.Close()
	st.Repository, st.Branch = true, r.Branch()
	if st.Status, err = r.Status(); err != nil {
		return st, err
	}
	st.Log, err = r.Log(logN)
	return st, err
}

// suggestMessage makes a commit message of a run's answer: its first
// line as the subject, the rest clipped.
func suggestMessage(answer string) string {
	answer = strings.TrimSpace(answer)
	subject, body, _ := strings.Cut(answer, "\n")
	subject = strings.TrimSpace(strings.TrimLeft(subject, "#*- "))
	if subject == "" {
		return ""
	}
	msg := text.Clip(subject, 72)
	if body = strings.TrimSpace(body); body != "" {
		msg += "\n\n" + text.Clip(body, 2000)
	}
	return msg
}

// GitDiff is the unified diff of the project's changes since its last
// commit, of paths or of all of them.
func (h *Handle) GitDiff(ctx context.Context, paths ...string) (string, error) {
	defer lockGit(h.p.ID)()
	r, err := gitrepo.Open(h.Dir())
	if err != nil {
		return "", err
	}
	defer r.Close()
	return r.Diff(paths...)
}

// GitCommit records every change as one commit, making the project's
// repository first when it has none (on the linked branch, or main).
func (h *Handle) GitCommit(ctx context.Context, message string, who gitrepo.Signature) (gitrepo.Commit, error) {
	if _, err := gitrepo.CheckMessage(message); err != nil {
		return gitrepo.Commit{}, err
	}
	branch := "main"
	if link, err := h.GitLink(ctx); err != nil {
		return gitrepo.Commit{}, err
	} else if link != nil {
		branch = link.Branch
	}
	defer lockGit(h.p.ID)()
	r, err := gitrepo.Init(h.Dir(), branch)
	if err != nil {
		return gitrepo.Commit{}, err
	}
	defer r.Close()
	// What git wrote (a new .git, objects, the index) is handed over
	// whether or not the commit was made.
	c, err := r.Commit(message, who)
	if herr := handOver(h.Dir()); err == nil {
		err = herr
	}
	return c, err
}

// Refusals of a push or a pull.
var (
	ErrNotLinked = errors.New("link the project to a repository first")
	ErrNoCommits = errors.New("the project has no commits yet; commit first")
)

// GitPush sends the project's commits to branch ("" = the linked one) of
// its linked repository, and says where they went.
func (h *Handle) GitPush(ctx context.Context, c *gitrepo.Cloner, branch string, lim gitrepo.Limits, cred gitrepo.Credentials) (GitLink, error) {
	link, r, release, err := h.linked(ctx)
	if err != nil {
		return GitLink{}, err
	}
	defer release()
	if branch != "" {
		link.Branch = branch
	}
	return link, c.Push(ctx, r, link.URL, link.Branch, lim, cred)
}

// GitPull fast-forwards the project to its linked branch. A checkpoint is
// taken first, so the pull can be undone like a run.
func (h *Handle) GitPull(ctx context.Context, c *gitrepo.Cloner, lim gitrepo.Limits, cred gitrepo.Credentials) (gitrepo.PullResult, error) {
	link, r, release, err := h.linked(ctx)
	if err != nil {
		return gitrepo.PullResult{}, err
	}
	defer release()
	if clean, err := r.Clean(); err != nil || !clean {
		// Pull refuses it with its own words; no checkpoint is needed.
		return c.Pull(ctx, r, link.URL, link.Branch, lim, cred)
	}
	if _, err := h.s.checkpoint(ctx, h.p, "Before pulling "+link.Branch); err != nil {
		return gitrepo.PullResult{}, err
	}
	// What the fetch wrote stays, pulled or refused: hand it over either way.
	res, err := c.Pull(ctx, r, link.URL, link.Branch, lim, cred)
	if herr := handOver(h.Dir()); err == nil {
		err = herr
	}
	return res, err
}

// linked is the project's link and repository, locked for one exchange;
// the func returned closes the repository and unlocks it.
func (h *Handle) linked(ctx context.Context) (GitLink, *gitrepo.Repo, func(), error) {
	link, err := h.GitLink(ctx)
	if err != nil {
		return GitLink{}, nil, nil, err
	}
	if link == nil {
		return GitLink{}, nil, nil, ErrNotLinked
	}
	unlock := lockGit(h.p.ID)
	r, err := gitrepo.Open(h.Dir())
	if errors.Is(err, gitrepo.ErrNoRepository) {
		err = ErrNoCommits
	}
	if err != nil {
		unlock()
		return GitLink{}, nil, nil, err
	}
	return *link, r, func() { r.Close(); unlock() }, nil
}

// handOver gives what git wrote as root (objects, the index, pulled
// files) to the container's user, so the project's own commands can
// change it. It walks within the folder only, never through a link.
func handOver(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // changed meanwhile by the project's code: skip it
		}
		if d.IsDir() && (p == "node_modules" || p == ".studio") {
			return fs.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == 0 {
			return chownProject(root, p)
		}
		return nil
	})
}
