package gitrepo

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"studio/internal/text"
	"studio/netguard"
)

// ErrUpToDate means a push or a pull had nothing to move.
var ErrUpToDate = errors.New("already up to date")

// remote is a repository's address for one push or pull. It lives only in
// memory: .git/config is never read for where to send the work (the
// project's code could change it) nor written with it.
func (r *Repo) remote(u string) *git.Remote {
	return git.NewRemote(r.r.Storer, &config.RemoteConfig{Name: "studio", URLs: []string{u}})
}

// dial checks the address and readies ctx for one exchange with it
// through the guard, bounded by lim; the CancelFunc ends it.
func (c *Cloner) dial(ctx context.Context, rawURL string, lim Limits) (context.Context, context.CancelFunc, *budget, error) {
	u, err := CheckURL(rawURL)
	if err != nil {
		return nil, nil, nil, err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	if err := c.dialer.Check(ctx, u.Hostname()+":"+port); err != nil {
		return nil, nil, nil, refuse("%v", err)
	}
	installTransport()
	b := &budget{base: guardedTransport(c.dialer), limit: lim.MaxBytes}
	b.left.Store(lim.MaxBytes)
	ctx = context.WithValue(ctx, ctxKey{}, http.RoundTripper(b))
	cancel := context.CancelFunc(func() {})
	if lim.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, lim.Timeout)
	}
	return ctx, cancel, b, nil
}

// Push sends the current branch's commits to branch of the repository at
// rawURL. It never forces: a branch that has commits the project lacks is
// refused, to be pulled first.
func (c *Cloner) Push(ctx context.Context, r *Repo, rawURL, branch string, lim Limits, cred Credentials) error {
	return hideToken(cred, c.push(ctx, r, rawURL, branch, lim, cred))
}

func (c *Cloner) push(ctx context.Context, r *Repo, rawURL, branch string, lim Limits, cred Credentials) error {
	local := r.Branch()
	if local == "" {
		return conflict("the project is not on a branch; nothing to push")
	}
	if _, ok, err := r.head(); err != nil || !ok {
		return conflict("there is no commit to push yet; commit first")
	}
	if err := checkTarget(branch); err != nil {
		return err
	}
	ctx, cancel, b, err := c.dial(ctx, rawURL, lim)
	if err != nil {
		return err
	}
	defer cancel()
	spec := config.RefSpec("refs/heads/" + local + ":refs/heads/" + branch)
	err = r.remote(rawURL).PushContext(ctx, &git.PushOptions{RemoteName: "studio", RefSpecs: []config.RefSpec{spec}, Auth: cred.auth()})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		return ErrUpToDate
	case strings.Contains(err.Error(), "non-fast-forward"), errors.Is(err, plumbing.ErrObjectNotFound):
		return conflict("the branch %q has commits this project does not have; pull them first (studio never overwrites a branch)", branch)
	}
	return exchangeError(ctx, err, rawURL, lim, cred, b)
}

// checkTarget refuses a missing or invalid branch to push to or pull from.
func checkTarget(branch string) error {
	if branch == "" {
		return refuse("name the branch")
	}
	return CheckBranch(branch)
}

// PullResult says what a pull did.
type PullResult struct {
	From, To string // commit hashes; equal when up to date
}

// Pull brings the commits of branch of the repository at rawURL into the
// current branch when that is a fast-forward of a clean work tree. It
// never merges: a work tree with changes, or a branch that has gone its
// own way, is refused with what to do instead.
func (c *Cloner) Pull(ctx context.Context, r *Repo, rawURL, branch string, lim Limits, cred Credentials) (PullResult, error) {
	res, err := c.pull(ctx, r, rawURL, branch, lim, cred)
	return res, hideToken(cred, err)
}

func (c *Cloner) pull(ctx context.Context, r *Repo, rawURL, branch string, lim Limits, cred Credentials) (PullResult, error) {
	local := r.Branch()
	if local == "" {
		return PullResult{}, conflict("the project is not on a branch; nothing to pull into")
	}
	clean, err := r.Clean()
	if err != nil {
		return PullResult{}, err
	}
	if !clean {
		return PullResult{}, conflict("the project has changes that are not committed; commit them (or undo them) before pulling")
	}
	if err := checkTarget(branch); err != nil {
		return PullResult{}, err
	}
	ctx, cancel, b, err := c.dial(ctx, rawURL, lim)
	if err != nil {
		return PullResult{}, err
	}
	defer cancel()
	tracking := plumbing.ReferenceName("refs/remotes/studio/" + branch)
	spec := config.RefSpec("+refs/heads/" + branch + ":" + tracking.String())
	err = r.remote(rawURL).FetchContext(ctx, &git.FetchOptions{RemoteName: "studio", RefSpecs: []config.RefSpec{spec}, Auth: cred.auth(), Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if strings.Contains(err.Error(), "couldn't find remote ref") || errors.Is(err, git.NoMatchingRefSpecError{}) {
			return PullResult{}, refuse("the repository has no branch %q", text.Clip(branch, 80))
		}
		return PullResult{}, exchangeError(ctx, err, rawURL, lim, cred, b)
	}
	ref, err := r.r.Storer.Reference(tracking)
	if err != nil {
		return PullResult{}, refuse("the repository has no branch %q", text.Clip(branch, 80))
	}
	theirs, err := r.r.CommitObject(ref.Hash())
	if err != nil {
		return PullResult{}, err
	}
	ours, ok, err := r.head()
	if err != nil {
		return PullResult{}, err
	}
	if ok {
		if ours.Hash == theirs.Hash {
			return PullResult{From: ours.Hash.String(), To: ours.Hash.String()}, ErrUpToDate
		}
		if ahead, _ := theirs.IsAncestor(ours); ahead {
			return PullResult{From: ours.Hash.String(), To: ours.Hash.String()}, ErrUpToDate
		}
		if ff, _ := ours.IsAncestor(theirs); !ff {
			return PullResult{}, conflict("the branch %q and this project have each gone their own way (both have commits the other lacks); studio pulls only when it can fast-forward, and does not merge: push your work to a new branch, or merge on GitHub, then pull", text.Clip(branch, 80))
		}
	}
	wt, err := r.worktree()
	if err != nil {
		return PullResult{}, err
	}
	from := ""
	if ours != nil {
		from = ours.Hash.String()
	}
	// Only the paths the pull changes are written: go-git's hard reset of
	// the whole tree would remove every file git does not track, ignored
	// ones (node_modules, .studio, .env.local, build output) included.
	changed, err := changedPaths(ours, theirs)
	if err != nil {
		return PullResult{}, err
	}
	if err := r.r.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(local), theirs.Hash)); err != nil {
		return PullResult{}, err
	}
	if len(changed) == 0 {
		// The same files under another commit: moving the branch is all.
		return PullResult{From: from, To: theirs.Hash.String()}, nil
	}
	if err := wt.Reset(&git.ResetOptions{Commit: theirs.Hash, Mode: git.HardReset, Files: changed}); err != nil {
		// Put the branch back where it was; the files are as the reset
		// left them, which the checkpoint taken before can restore.
		if ours != nil {
			r.r.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(local), ours.Hash))
		}
		return PullResult{}, refuse("the pulled files could not be written: %v", err)
	}
	return PullResult{From: from, To: theirs.Hash.String()}, nil
}

// changedPaths are the files that differ between two commits' trees
// (every file of to when from is nil).
func changedPaths(from, to *object.Commit) ([]string, error) {
	toTree, err := to.Tree()
	if err != nil {
		return nil, err
	}
	fromTree := &object.Tree{}
	if from != nil {
		if fromTree, err = from.Tree(); err != nil {
			return nil, err
		}
	}
	changes, err := object.DiffTree(fromTree, toTree)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ch := range changes {
		for _, name := range []string{ch.From.Name, ch.To.Name} {
			if name != "" && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// exchangeError words a failed push or fetch.
func exchangeError(ctx context.Context, err error, rawURL string, lim Limits, cred Credentials, b *budget) error {
	u, _ := CheckURL(rawURL)
	where := rawURL
	if u != nil {
		where = u.Redacted()
	}
	switch {
	case errors.Is(err, errTooLarge) || b.left.Load() < 0:
		return refuse("the repository sent more than the %s an exchange may download (STUDIO_IMPORT_MAX_SIZE)", text.Bytes(lim.MaxBytes))
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return refuse("there is no repository at %s, or the credentials have no access to it", where)
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		if cred.Token == "" {
			return refuse("the repository at %s asks for credentials; connect GitHub on the Settings page, then try again", where)
		}
		return refuse("the repository at %s refused the credentials studio sent; they may have been revoked or lack write access", where)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return refuse("the repository at %s is empty; push to it first", where)
	case errors.Is(err, netguard.ErrBlocked):
		return refuse("%v", err)
	case ctx.Err() != nil:
		return refuse("the exchange with %s did not finish within %s", where, lim.Timeout)
	}
	return refuse("the exchange with %s failed: %v", where, err)
}

// hideToken keeps a token a server echoed out of an error.
func hideToken(cred Credentials, err error) error {
	if cred.Token != "" && err != nil && strings.Contains(err.Error(), cred.Token) {
		return refuse("%s", strings.ReplaceAll(err.Error(), cred.Token, "…"))
	}
	return err
}
