// Package gitrepo brings a git repository into studio: a shallow clone
// over HTTP(S), in pure Go, whose every connection goes through studio's
// guarded dialer and whose download is bounded. No git process runs, so
// no credential ever appears in a process list, and the clone's
// .git/config keeps only the address it came from.
package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"studio/internal/text"
	"studio/netguard"
)

// ErrInvalid is what every refusal of a clone Is.
var ErrInvalid = errors.New("cannot import the repository")

// Error is a refused clone, push, pull or commit, in words a person
// understands. Conflict marks a refusal the repository's state causes
// (changes not committed, a branch gone its own way), not the input or
// the server.
type Error struct {
	Message  string
	Conflict bool
}

func (e *Error) Error() string        { return e.Message }
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func refuse(format string, a ...any) error { return &Error{Message: fmt.Sprintf(format, a...)} }

func conflict(format string, a ...any) error {
	return &Error{Message: fmt.Sprintf(format, a...), Conflict: true}
}

// Limits bound a clone.
type Limits struct {
	MaxBytes int64 // downloaded, and the checked-out files together
	MaxFiles int
	Timeout  time.Duration
}

// DefaultLimits match STUDIO_IMPORT_MAX_SIZE's default.
var DefaultLimits = Limits{MaxBytes: 100 << 20, MaxFiles: 10_000, Timeout: 2 * time.Minute}

// Cloner clones through one guarded dialer.
type Cloner struct {
	dialer *netguard.Dialer
}

// New returns a Cloner whose connections all go through d.
func New(d *netguard.Dialer) *Cloner { return &Cloner{dialer: d} }

// The go-git HTTP transport is process-wide; it takes each clone's
// transport from the request's context, and refuses a request without one.
type ctxKey struct{}

var install sync.Once

func installTransport() {
	install.Do(func() {
		c := &http.Client{
			Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
				rt, ok := req.Context().Value(ctxKey{}).(http.RoundTripper)
				if !ok {
					return nil, errors.New("git over HTTP is only dialled through studio's guard")
				}
				return rt.RoundTrip(req)
			}),
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return errors.New("too many redirects")
				}
				if req.URL.Scheme != "https" && req.URL.Scheme != "http" || req.URL.User != nil {
					return fmt.Errorf("a redirect to %s is not followed", req.URL.Redacted())
				}
				return nil
			},
		}
		t := githttp.NewClient(c)
		client.InstallProtocol("https", t)
		client.InstallProtocol("http", t)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// budget counts the bytes one clone downloads and stops it past the limit.
type budget struct {
	base  http.RoundTripper
	left  atomic.Int64
	limit int64
}

func (b *budget) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := b.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	res.Body = &countedBody{ReadCloser: res.Body, b: b}
	return res, nil
}

type countedBody struct {
	io.ReadCloser
	b *budget
}

var errTooLarge = errors.New("download past the limit")

func (c *countedBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if c.b.left.Add(-int64(n)) < 0 {
		return n, errTooLarge
	}
	return n, err
}

// CheckURL refuses an address studio does not clone from: not http(s),
// with credentials in it (they would be written to .git/config), or
// without a host.
func CheckURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, refuse("give the repository's HTTPS address, such as https://github.com/owner/repo.git")
	}
	if !utf8.ValidString(raw) || len(raw) > 2048 {
		return nil, refuse("the repository's address is not valid text")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http" {
		return nil, refuse("%q is not an HTTPS address of a repository, such as https://github.com/owner/repo.git", text.Clip(raw, 80))
	}
	if u.User != nil {
		return nil, refuse("the address holds a user name or password; studio never stores credentials in a repository's address")
	}
	if u.Fragment != "" || u.RawQuery != "" {
		return nil, refuse("the repository's address has a query or fragment; give the clone address itself")
	}
	return u, nil
}

// CheckBranch refuses a branch name git would not accept.
func CheckBranch(branch string) error {
	if branch == "" {
		return nil
	}
	if !utf8.ValidString(branch) || len(branch) > 255 || strings.ContainsAny(branch, " ~^:?*[\\\x00\x7f") ||
		strings.Contains(branch, "..") || strings.HasPrefix(branch, "-") || strings.HasPrefix(branch, "/") || strings.HasSuffix(branch, "/") ||
		strings.HasSuffix(branch, ".lock") || strings.Contains(branch, "@{") {
		return refuse("%q is not a branch name", text.Clip(branch, 80))
	}
	return nil
}

// Credentials authenticate one clone; the zero value clones anonymously.
// The token travels only in that clone's requests (HTTP Basic, as GitHub
// takes it): never into .git/config, an error or a log line.
type Credentials struct {
	Token string
}

func (cr Credentials) auth() transport.AuthMethod {
	if cr.Token == "" {
		return nil
	}
	return &githttp.BasicAuth{Username: "x-access-token", Password: cr.Token}
}

// Clone makes a shallow clone of branch ("" = the repository's default)
// of the repository at rawURL into dir, which must not exist, with cred
// when the repository asks for them. progress, which may be nil, receives
// the server's progress lines. On any failure dir is removed.
func (c *Cloner) Clone(ctx context.Context, rawURL, branch, dir string, lim Limits, cred Credentials, progress func(string)) (err error) {
	return hideToken(cred, c.clone(ctx, rawURL, branch, dir, lim, cred, progress))
}

func (c *Cloner) clone(ctx context.Context, rawURL, branch, dir string, lim Limits, cred Credentials, progress func(string)) (err error) {
	if err := CheckBranch(branch); err != nil {
		return err
	}
	ctx, cancel, b, err := c.dial(ctx, rawURL, lim)
	if err != nil {
		return err
	}
	defer cancel()
	u, _ := CheckURL(rawURL)
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	opts := &git.CloneOptions{URL: u.String(), Auth: cred.auth(), Depth: 1, SingleBranch: true, Tags: git.NoTags}
	if branch != "" {
		opts.ReferenceName = plumbing.NewBranchReferenceName(branch)
	}
	if progress != nil {
		opts.Progress = lineWriter(progress)
	}
	// The checkout writes through dir held as an os.Root, so no link in
	// the repository leads a write outside it.
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		return err
	}
	st, r, err := storage(dir)
	if err != nil {
		return err
	}
	_, err = git.CloneContext(ctx, st, r.wt, opts)
	r.Close()
	switch {
	case err == nil:
	case errors.Is(err, errTooLarge) || b.left.Load() < 0:
		return refuse("the repository is larger than the %s an import may download (STUDIO_IMPORT_MAX_SIZE)", text.Bytes(lim.MaxBytes))
	case errors.Is(err, transport.ErrRepositoryNotFound) && cred.Token != "":
		return refuse("there is no repository at %s, or the credentials studio sent have no access to it", u.Redacted())
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return refuse("there is no repository at %s (or it is private)", u.Redacted())
	case cred.Token != "" && (errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed)):
		return refuse("the repository at %s refused the credentials studio sent; they may have been revoked or lack access to it", u.Redacted())
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return refuse("the repository at %s asks for credentials; only public repositories can be imported by address", u.Redacted())
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return refuse("the repository at %s is empty", u.Redacted())
	case branch != "" && (errors.Is(err, plumbing.ErrReferenceNotFound) || strings.Contains(err.Error(), "couldn't find remote ref")):
		return refuse("the repository has no branch %q", text.Clip(branch, 80))
	case errors.Is(err, netguard.ErrBlocked):
		return refuse("%v", err)
	case ctx.Err() != nil:
		return refuse("the clone did not finish within %s", lim.Timeout)
	default:
		return refuse("the repository could not be cloned: %v", err)
	}
	return checkTree(dir, lim)
}

// checkTree refuses a checked-out tree over the limits.
func checkTree(dir string, lim Limits) error {
	var files int
	var total int64
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == ".git" {
			return fs.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		if files++; files > lim.MaxFiles {
			return refuse("the repository has more than %d files, the most an import may have", lim.MaxFiles)
		}
		if fi, err := d.Info(); err == nil && d.Type().IsRegular() {
			if total += fi.Size(); total > lim.MaxBytes {
				return refuse("the repository's files are more than the %s an import may have (STUDIO_IMPORT_MAX_SIZE)", text.Bytes(lim.MaxBytes))
			}
		}
		return nil
	})
}

// guardedTransport dials through d only, with no proxy from the
// environment.
func guardedTransport(d *netguard.Dialer) http.RoundTripper {
	return netguard.NewClient(d).Transport
}

// lineWriter turns the server's progress stream into lines.
type lineWriter func(string)

func (w lineWriter) Write(p []byte) (int, error) {
	for _, line := range strings.FieldsFunc(string(p), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if line = strings.TrimSpace(line); line != "" {
			w(line)
		}
	}
	return len(p), nil
}
