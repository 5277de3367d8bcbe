// Package github owns a person's GitHub connection: a token they paste or
// one the OAuth web flow gives studio, sealed at rest like provider keys
// and refreshed when GitHub issues expiring tokens, and the REST calls
// made with it. Every call goes through studio's guarded dialer.
package github

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"studio/auth"
	"studio/db"
)

// Errors a person is told about.
var (
	ErrNotConnected  = errors.New("connect GitHub first, on the Settings page")
	ErrReconnect     = errors.New("GitHub refused the connection's token (it was revoked or has expired); reconnect GitHub on the Settings page")
	ErrTokenRefused  = errors.New("GitHub refused the token; check that you copied the whole token and that it has not expired")
	ErrTokenRequired = errors.New("paste a GitHub personal access token")
	ErrTokenGarbled  = errors.New("the token holds spaces or control characters; paste only the token, as GitHub showed it")
	ErrNoOAuth       = errors.New("this studio has no GitHub OAuth App; paste a personal access token instead")
	ErrDeclined      = errors.New("GitHub did not authorize studio; connect again to retry")
	ErrState         = errors.New("the GitHub sign-in could not be matched to this browser session (it expired, was used already or was started elsewhere); connect again")
)

// Failure is GitHub answering in a way studio cannot use, in words a
// person understands.
type Failure struct {
	Message string
	// Kind says which failures a person can act on; 0 is GitHub being
	// unreachable or answering otherwise.
	Kind FailureKind
	// RetryAfter is how long GitHub asks to wait, for Limited.
	RetryAfter time.Duration
}

func (f *Failure) Error() string { return f.Message }

// FailureKind sorts GitHub's refusals.
type FailureKind int

const (
	Unavailable FailureKind = iota
	NotFound                // no such repository, or the token cannot see it
	Refused                 // GitHub refused what was asked, e.g. a name already taken
	Limited                 // GitHub's rate limits
)

// Invalid is input studio refuses before asking GitHub.
type Invalid struct{ Field, Message string }

func (e *Invalid) Error() string { return e.Message }

// Config says where GitHub is and which OAuth App studio is.
type Config struct {
	WebURL       string // https://github.com or a GitHub Enterprise server
	APIURL       string // its REST API
	ClientID     string // empty: no OAuth web flow
	ClientSecret string
	CallbackURL  string // where GitHub sends the browser back
}

// Service connects people to GitHub.
type Service struct {
	cfg  Config
	pool *pgxpool.Pool
	q    *db.Queries
	ring *auth.Keyring
	http *http.Client
	now  func() time.Time
}

// New returns the service; client must dial through the guard.
func New(cfg Config, pool *pgxpool.Pool, ring *auth.Keyring, client *http.Client) *Service {
	cfg.WebURL = strings.TrimRight(cfg.WebURL, "/")
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	return &Service{cfg: cfg, pool: pool, q: db.New(pool), ring: ring, http: client, now: time.Now}
}

// OAuth reports whether the OAuth web flow is offered.
func (s *Service) OAuth() bool { return s.cfg.ClientID != "" }

// WebURL is GitHub's address.
func (s *Service) WebURL() string { return s.cfg.WebURL }

// Serves reports whether a clone address is on GitHub's own host, the
// only place a connection's token is sent.
func (s *Service) Serves(u *url.URL) bool {
	web, err := url.Parse(s.cfg.WebURL)
	return err == nil && u.Scheme == web.Scheme && strings.EqualFold(u.Host, web.Host)
}

// Connection is what may be shown of a person's connection: never a token.
type Connection struct {
	Login       string    `json:"login"`
	Method      string    `json:"method"` // token | oauth
	ConnectedAt time.Time `json:"connected_at"`
}

func toConnection(r db.GithubConnection) Connection {
	return Connection{Login: r.Login, Method: r.Method, ConnectedAt: r.ConnectedAt}
}

func aad(userID uuid.UUID, which string) []byte { return auth.GitHubTokenAAD(userID, which) }

// Status is the person's connection, or ErrNotConnected.
func (s *Service) Status(ctx context.Context, userID uuid.UUID) (Connection, error) {
	row, err := s.q.GetGitHubConnection(ctx, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Connection{}, ErrNotConnected
	} else if err != nil {
		return Connection{}, err
	}
	return toConnection(row), nil
}

// ConnectToken checks a personal access token with GitHub and stores it.
// A token GitHub refuses is not stored.
func (s *Service) ConnectToken(ctx context.Context, userID uuid.UUID, token string) (Connection, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return Connection{}, ErrTokenRequired
	}
	if strings.IndexFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return Connection{}, ErrTokenGarbled
	}
	if len(token) > 1024 {
		return Connection{}, ErrTokenRefused
	}
	login, err := s.user(ctx, token)
	if errors.Is(err, ErrReconnect) {
		return Connection{}, ErrTokenRefused
	} else if err != nil {
		return Connection{}, err
	}
	return s.store(ctx, userID, login, "token", tokens{Access: token})
}

// Disconnect forgets the person's token.
func (s *Service) Disconnect(ctx context.Context, userID uuid.UUID) error {
	n, err := s.q.DeleteGitHubConnection(ctx, userID)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotConnected
	}
	return nil
}

// tokens are what GitHub gives: an access token, and for expiring tokens
// a refresh token and when the access token expires.
type tokens struct {
	Access, Refresh string
	Expires         *time.Time
}

func (s *Service) seal(userID uuid.UUID, t tokens) (access, refresh string, err error) {
	if access, err = s.ring.Seal([]byte(t.Access), aad(userID, "access")); err != nil {
		return "", "", err
	}
	if t.Refresh != "" {
		if refresh, err = s.ring.Seal([]byte(t.Refresh), aad(userID, "refresh")); err != nil {
			return "", "", err
		}
	}
	return access, refresh, nil
}

func (s *Service) store(ctx context.Context, userID uuid.UUID, login, method string, t tokens) (Connection, error) {
	access, refresh, err := s.seal(userID, t)
	if err != nil {
		return Connection{}, err
	}
	row, err := s.q.UpsertGitHubConnection(ctx, db.UpsertGitHubConnectionParams{
		UserID: userID, Login: login, AccessToken: access, RefreshToken: refresh, ExpiresAt: t.Expires, Method: method,
	})
	if err != nil {
		return Connection{}, fmt.Errorf("store the GitHub connection: %w", err)
	}
	return toConnection(row), nil
}

// refreshMargin is how long before it expires an access token is
// refreshed: longer than a clone may take with it.
const refreshMargin = 5 * time.Minute

// refreshTimeout bounds a refresh, which runs to its end even when the
// request that needed it is cancelled: GitHub has spent the refresh token
// once it answers, so its answer must be stored.
const refreshTimeout = 15 * time.Second

// expiring reports whether an access token is expired or about to be.
func (s *Service) expiring(expires *time.Time) bool {
	return expires != nil && s.now().Add(refreshMargin).After(*expires)
}

// Token is the person's access token for one call, refreshed first when
// it has expired. It never leaves the server.
func (s *Service) Token(ctx context.Context, userID uuid.UUID) (string, error) {
	row, err := s.q.GetGitHubConnection(ctx, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotConnected
	} else if err != nil {
		return "", err
	}
	if !s.expiring(row.ExpiresAt) {
		return s.open(userID, row.AccessToken, "access")
	}
	if row.RefreshToken == "" {
		return "", ErrReconnect
	}
	var token string
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	// The row stays locked while GitHub answers: a refresh token is good
	// once, so two replicas must not both spend it.
	err = db.InTx(ctx, s.pool, func(q *db.Queries) error {
		row, err := q.LockGitHubConnection(ctx, userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotConnected
		} else if err != nil {
			return err
		}
		if !s.expiring(row.ExpiresAt) {
			token, err = s.open(userID, row.AccessToken, "access")
			return err
		}
		refresh, err := s.open(userID, row.RefreshToken, "refresh")
		if err != nil {
			return err
		}
		fresh, err := s.exchange(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
		if err != nil {
			return err
		}
		access, sealedRefresh, err := s.seal(userID, fresh)
		if err != nil {
			return err
		}
		token = fresh.Access
		return q.UpdateGitHubTokens(ctx, db.UpdateGitHubTokensParams{UserID: userID, AccessToken: access, RefreshToken: sealedRefresh, ExpiresAt: fresh.Expires})
	})
	return token, err
}

func (s *Service) open(userID uuid.UUID, sealed, which string) (string, error) {
	plain, err := s.ring.Open(sealed, aad(userID, which))
	if err != nil {
		return "", fmt.Errorf("open the GitHub %s token: %w", which, err)
	}
	return string(plain), nil
}

// AuthorizeURL starts the OAuth web flow for a browser session: a
// single-use state, bound to the session, goes into GitHub's address.
func (s *Service) AuthorizeURL(ctx context.Context, sessionID uuid.UUID) (string, error) {
	if !s.OAuth() {
		return "", ErrNoOAuth
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	state := base64.RawURLEncoding.EncodeToString(raw)
	if err := s.q.CreateGitHubOAuthState(ctx, db.CreateGitHubOAuthStateParams{StateHash: hashState(state), SessionID: sessionID}); err != nil {
		return "", fmt.Errorf("store the OAuth state: %w", err)
	}
	q := url.Values{"client_id": {s.cfg.ClientID}, "redirect_uri": {s.cfg.CallbackURL}, "state": {state}, "scope": {"repo"}, "allow_signup": {"false"}}
	return s.cfg.WebURL + "/login/oauth/authorize?" + q.Encode(), nil
}

func hashState(state string) []byte {
	h := sha256.Sum256([]byte(state))
	return h[:]
}

// Finish ends the OAuth web flow: the state must be the session's latest,
// unused and recent; the code is exchanged for a token, which is stored.
func (s *Service) Finish(ctx context.Context, sessionID, userID uuid.UUID, state, code string) (Connection, error) {
	if !s.OAuth() {
		return Connection{}, ErrNoOAuth
	}
	if state == "" {
		return Connection{}, ErrState
	}
	n, err := s.q.ConsumeGitHubOAuthState(ctx, db.ConsumeGitHubOAuthStateParams{StateHash: hashState(state), SessionID: sessionID})
	if err != nil {
		return Connection{}, err
	}
	if n == 0 {
		return Connection{}, ErrState
	}
	if code == "" {
		return Connection{}, ErrDeclined
	}
	t, err := s.exchange(ctx, url.Values{"code": {code}, "redirect_uri": {s.cfg.CallbackURL}})
	if err != nil {
		return Connection{}, err
	}
	login, err := s.user(ctx, t.Access)
	if err != nil {
		return Connection{}, err
	}
	return s.store(ctx, userID, login, "oauth", t)
}

// exchange posts to GitHub's token endpoint: a code, or a refresh token.
func (s *Service) exchange(ctx context.Context, form url.Values) (tokens, error) {
	form.Set("client_id", s.cfg.ClientID)
	form.Set("client_secret", s.cfg.ClientSecret)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebURL+"/login/oauth/access_token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := s.http.Do(req)
	if err != nil {
		return tokens{}, unreachable(err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken      string `json:"access_token"`
		RefreshToken     string `json:"refresh_token"`
		ExpiresIn        int64  `json:"expires_in"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
		return tokens{}, &Failure{Message: fmt.Sprintf("GitHub's token endpoint answered %s", res.Status)}
	}
	switch {
	case body.Error == "bad_refresh_token":
		return tokens{}, ErrReconnect
	case body.Error != "":
		// GitHub's own words, e.g. "The code passed is incorrect or expired."
		return tokens{}, &Failure{Message: "GitHub refused the sign-in: " + clip(body.ErrorDescription, body.Error)}
	case body.AccessToken == "":
		return tokens{}, &Failure{Message: "GitHub's token endpoint gave no token"}
	}
	t := tokens{Access: body.AccessToken, Refresh: body.RefreshToken}
	if body.ExpiresIn > 0 {
		at := s.now().Add(time.Duration(body.ExpiresIn) * time.Second)
		t.Expires = &at
	}
	return t, nil
}

func clip(s, fallback string) string {
	if s == "" {
		s = fallback
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

func unreachable(err error) error {
	return &Failure{Message: "GitHub could not be reached: " + err.Error()}
}

// get calls GitHub's REST API with a token and decodes the JSON answer.
func (s *Service) get(ctx context.Context, token, path string, out any) (http.Header, error) {
	return s.call(ctx, token, http.MethodGet, path, nil, out)
}

// call sends a request to GitHub's REST API with a token, and decodes a
// 2xx JSON answer into out; any other answer is an error.
func (s *Service) call(ctx context.Context, token, method, path string, body, out any) (http.Header, error) {
	var sent io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		sent = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.cfg.APIURL+path, sent)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.http.Do(req)
	if err != nil {
		return nil, unreachable(err)
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, s.refusal(res)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 4<<20)).Decode(out); err != nil {
		return nil, &Failure{Message: "GitHub's answer could not be read"}
	}
	return res.Header, nil
}

// apiError is the body of GitHub's refusals.
type apiError struct {
	Message string `json:"message"`
	Errors  []struct {
		Field   string `json:"field"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// refusal reads an answer other than 2xx. Only 401 means the token is
// revoked or expired; a 403 or 429 may be a rate limit, the primary one
// (X-RateLimit-Remaining: 0) or a secondary one (Retry-After, or a
// message saying so).
func (s *Service) refusal(res *http.Response) error {
	var body apiError
	json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&body)
	limited := res.StatusCode == http.StatusTooManyRequests ||
		res.StatusCode == http.StatusForbidden && (res.Header.Get("Retry-After") != "" ||
			res.Header.Get("X-RateLimit-Remaining") == "0" ||
			strings.Contains(strings.ToLower(body.Message), "rate limit"))
	switch {
	case res.StatusCode == http.StatusUnauthorized:
		return ErrReconnect
	case limited:
		wait := s.retryAfter(res.Header)
		return &Failure{Kind: Limited, RetryAfter: wait, Message: fmt.Sprintf("GitHub is limiting requests; try again in %d s", int(wait.Seconds()))}
	case res.StatusCode == http.StatusNotFound:
		return &Failure{Kind: NotFound, Message: "GitHub has nothing at that address, or the connection's token has no access to it"}
	case res.StatusCode == http.StatusForbidden || res.StatusCode == http.StatusUnprocessableEntity:
		return &Failure{Kind: Refused, Message: "GitHub refused: " + clip(body.detail(), res.Status)}
	}
	return &Failure{Message: fmt.Sprintf("GitHub answered %s", res.Status)}
}

// detail is GitHub's message with its first error's, e.g.
// "Repository creation failed. (name already exists on this account)".
func (e apiError) detail() string {
	if len(e.Errors) > 0 && e.Errors[0].Message != "" {
		return strings.TrimSpace(e.Message + " (" + e.Errors[0].Message + ")")
	}
	return e.Message
}

// retryAfter is how long GitHub asks to wait: Retry-After, else until
// X-RateLimit-Reset when the limit is used up, else a minute, as GitHub's
// documentation advises for secondary limits.
func (s *Service) retryAfter(h http.Header) time.Duration {
	if n, err := strconv.Atoi(h.Get("Retry-After")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && h.Get("X-RateLimit-Remaining") == "0" {
		if d := time.Unix(reset, 0).Sub(s.now()).Round(time.Second); d > 0 {
			return d
		}
	}
	return time.Minute
}

// user is the login a token belongs to.
func (s *Service) user(ctx context.Context, token string) (string, error) {
	var u struct {
		Login string `json:"login"`
	}
	if _, err := s.get(ctx, token, "/user", &u); err != nil {
		return "", err
	}
	if u.Login == "" {
		return "", &Failure{Message: "GitHub did not say whose token it is"}
	}
	return u.Login, nil
}
