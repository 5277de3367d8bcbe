package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"studio/db"
)

// Lifetimes and limits of sign-in state.
const (
	RefreshTTL         = 7 * 24 * time.Hour
	SessionIdleTTL     = 7 * 24 * time.Hour
	SessionAbsoluteTTL = 30 * 24 * time.Hour
	InviteTTL          = 7 * 24 * time.Hour
	// ThrottleWindow is how long failures count: per address against its
	// hard limit, per account until a failure-free stretch resets it.
	ThrottleWindow = 15 * time.Minute
)

// Errors people see, in their words.
var (
	ErrInvalidCredentials = errors.New("the email or password is wrong")
	ErrAccountDisabled    = errors.New("this account is disabled; ask an administrator")
	ErrEmailTaken         = errors.New("an account with this email already exists")
	ErrSignupClosed       = errors.New("sign-up is closed on this Studio; ask an administrator for an account")
	ErrInviteRequired     = errors.New("sign-up needs an invite link from an administrator")
	ErrInviteInvalid      = errors.New("this invite link is not valid: it was used already or has expired")
	ErrRefreshInvalid     = errors.New("the sign-in has expired; sign in again")
	ErrWrongPassword      = errors.New("the current password is wrong")
	ErrLastAdmin          = errors.New("the last administrator cannot be demoted or disabled")
	ErrNotFound           = errors.New("not found")
)

// ThrottledError says how long to wait before trying to sign in again.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many sign-in attempts; try again in %d s", e.Seconds())
}

// Seconds is the wait in whole seconds, rounded up and at least one.
func (e *ThrottledError) Seconds() int {
	return max(1, int((e.RetryAfter+time.Second-1)/time.Second))
}

// Meta is what is known about the request that acts.
type Meta struct {
	IP        string
	UserAgent string
}

// Service is accounts, sign-in state and the audit log.
type Service struct {
	pool    *pgxpool.Pool
	q       *db.Queries
	Tokens  *Tokens
	Ring    *Keyring
	Log     *slog.Logger
	Signup  string  // open | invite | closed
	Backoff Backoff // how failures slow one account down
	IPLimit int     // failed sign-ins per address per window, a hard limit
	// ClientLimit is a hard limit on failed sign-ins to one account from
	// one address per window. It keeps a single address from re-arming the
	// account's delay each time it ends: after that many it must stop, and
	// the owner's next attempt finds the account open.
	ClientLimit  int
	now          func() time.Time
	passwordCost int // bcrypt's work factor
	hash         func(password string) (string, error)
	dummyOnce    sync.Once
	dummyHash    []byte // compared against when an email is unknown
}

// NewService wires the account service.
func NewService(pool *pgxpool.Pool, ring *Keyring, signup string, log *slog.Logger, opts ...Option) *Service {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{
		pool: pool, q: db.New(pool), Tokens: NewTokens(ring), Ring: ring, Log: log,
		Signup: signup, Backoff: DefaultBackoff, IPLimit: 100, ClientLimit: 10, now: time.Now,
		passwordCost: DefaultPasswordCost,
	}
	for _, o := range opts {
		o(s)
	}
	s.hash = func(pw string) (string, error) { return hashPassword(pw, s.passwordCost) }
	return s
}

// Option tunes the service.
type Option func(*Service)

// WithPasswordCost hashes passwords with bcrypt's work factor cost instead
// of DefaultPasswordCost: a lower one makes sign-ups cheap where the
// passwords protect nothing, as in a test suite of many accounts.
func WithPasswordCost(cost int) Option { return func(s *Service) { s.passwordCost = cost } }

// Register creates an account. The first account becomes an administrator.
// Everything that can refuse a sign-up is looked at before bcrypt runs, so
// refused sign-ups cost no CPU; refusals that guess (an invite, an email)
// count against the address like failed sign-ins.
func (s *Service) Register(ctx context.Context, email, password, name, invite string, meta Meta) (db.User, error) {
	addr, err := NormalizeEmail(email)
	if err != nil {
		return db.User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return db.User{}, err
	}
	ipKey := "ip:" + clientNetwork(meta.IP)
	if _, err := s.throttled(ctx, ipKey, s.IPLimit); err != nil {
		return db.User{}, err
	}
	if err := s.signupAllowed(ctx, addr, invite); err != nil {
		if errors.Is(err, ErrInviteInvalid) || errors.Is(err, ErrEmailTaken) {
			if err := s.q.AddLoginFailure(ctx, ipKey); err != nil {
				return db.User{}, err
			}
		}
		return db.User{}, err
	}
	hash, err := s.hash(password)
	if err != nil {
		return db.User{}, err
	}
	var user db.User
	err = db.InTx(ctx, s.pool, func(q *db.Queries) error {
		if err := q.LockSignups(ctx); err != nil {
			return err
		}
		var inv db.Invite
		if s.Signup != "open" {
			n, err := q.CountUsers(ctx)
			if err != nil {
				return err
			}
			// The very first account is always allowed: someone must administer.
			if n > 0 {
				if s.Signup == "closed" {
					return ErrSignupClosed
				}
				if invite == "" {
					return ErrInviteRequired
				}
				inv, err = q.UseInvite(ctx, HashToken(invite))
				if errors.Is(err, pgx.ErrNoRows) {
					return ErrInviteInvalid
				} else if err != nil {
					return err
				}
			}
		}
		user, err = q.CreateFirstUserAsAdmin(ctx, db.CreateFirstUserAsAdminParams{Email: addr, Name: name, PasswordHash: hash})
		if isUniqueViolation(err) {
			return ErrEmailTaken
		} else if err != nil {
			return err
		}
		if inv.ID != uuid.Nil {
			if err := q.SetInviteUser(ctx, db.SetInviteUserParams{ID: inv.ID, UsedBy: &user.ID}); err != nil {
				return err
			}
		}
		return addAudit(ctx, q, &user.ID, "user.register", user.Email, meta, map[string]any{"role": user.Role})
	})
	return user, err
}

// signupAllowed is a first, unlocked look at what Register's transaction
// would refuse; the transaction still decides, under its lock.
func (s *Service) signupAllowed(ctx context.Context, addr, invite string) error {
	if s.Signup != "open" {
		n, err := s.q.CountUsers(ctx)
		if err != nil {
			return fmt.Errorf("count users: %w", err)
		}
		switch {
		case n == 0: // the very first account is always allowed
		case s.Signup == "closed":
			return ErrSignupClosed
		case invite == "":
			return ErrInviteRequired
		default:
			usable, err := s.q.InviteUsable(ctx, HashToken(invite))
			if err != nil {
				return fmt.Errorf("look up invite: %w", err)
			}
			if !usable {
				return ErrInviteInvalid
			}
		}
	}
	if _, err := s.q.GetUserByEmail(ctx, addr); err == nil {
		return ErrEmailTaken
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("look up email: %w", err)
	}
	return nil
}

// Login checks an email and password. A wrong email and a wrong password
// give the same error after the same bcrypt work, so neither reveals
// whether an account exists. Failures are counted in the database, so
// every replica throttles alike: an address has a hard limit, an account
// only slows down (Backoff), so no one can lock its owner out.
func (s *Service) Login(ctx context.Context, email, password string, meta Meta) (db.User, error) {
	addr, _ := NormalizeEmail(email)
	if addr == "" {
		addr = email
	}
	client := clientNetwork(meta.IP)
	ipKey, clientKey := "ip:"+client, "account-ip:"+addr+" "+client
	if _, err := s.throttled(ctx, ipKey, s.IPLimit); err != nil {
		return db.User{}, err
	}
	failures, err := s.throttled(ctx, clientKey, s.ClientLimit)
	if err != nil {
		return db.User{}, err
	}
	known, err := s.knownClient(ctx, addr, client, failures)
	if err != nil {
		return db.User{}, err
	}
	if err := s.takeAccountAttempt(ctx, addr, known); err != nil {
		return db.User{}, err
	}
	s.dummyOnce.Do(func() {
		s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("a password nobody has"), s.passwordCost)
	})
	user, err := s.q.GetUserByEmail(ctx, addr)
	hash := s.dummyHash
	if err == nil {
		hash = []byte(user.PasswordHash)
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return db.User{}, err
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || err != nil {
		for _, k := range []string{ipKey, clientKey} {
			if err := s.q.AddLoginFailure(ctx, k); err != nil {
				return db.User{}, err
			}
		}
		if err := s.forgetOldFailures(ctx); err != nil {
			return db.User{}, err
		}
		_ = addAudit(ctx, s.q, nil, "login.failed", addr, meta, nil)
		return db.User{}, ErrInvalidCredentials
	}
	if user.DisabledAt != nil {
		return db.User{}, ErrAccountDisabled
	}
	if err := s.q.ClearSignInDelay(ctx, addr); err != nil {
		return db.User{}, err
	}
	if err := s.q.ClearLoginFailures(ctx, clientKey); err != nil {
		return db.User{}, err
	}
	if err := s.rememberClient(ctx, addr, client); err != nil {
		return db.User{}, err
	}
	_ = addAudit(ctx, s.q, &user.ID, "login", user.Email, meta, nil)
	return user, nil
}

// TokenPair is what an API sign-in returns.
type TokenPair struct {
	Access    string
	ExpiresAt time.Time
	Refresh   string
}

// IssueTokens starts a new refresh-token family for the user.
func (s *Service) IssueTokens(ctx context.Context, userID uuid.UUID) (TokenPair, error) {
	return s.issue(ctx, s.q, userID, uuid.New())
}

func (s *Service) issue(ctx context.Context, q *db.Queries, userID, family uuid.UUID) (TokenPair, error) {
	access, exp, err := s.Tokens.Issue(userID)
	if err != nil {
		return TokenPair{}, err
	}
	refresh, hash := RandomToken()
	if _, err := q.CreateRefreshToken(ctx, db.CreateRefreshTokenParams{
		TokenHash: hash, UserID: userID, FamilyID: family, ExpiresAt: time.Now().Add(RefreshTTL),
	}); err != nil {
		return TokenPair{}, fmt.Errorf("store refresh token: %w", err)
	}
	return TokenPair{Access: access, ExpiresAt: exp, Refresh: refresh}, nil
}

// Refresh spends a refresh token for a new pair. A token presented a
// second time means it was copied: its whole family is revoked, so both
// the thief and the owner must sign in again, and the event is audited.
func (s *Service) Refresh(ctx context.Context, refresh string, meta Meta) (db.User, TokenPair, error) {
	if refresh == "" {
		return db.User{}, TokenPair{}, ErrRefreshInvalid
	}
	hash := HashToken(refresh)
	var user db.User
	var pair TokenPair
	reused := false
	err := db.InTx(ctx, s.pool, func(q *db.Queries) error {
		old, err := q.SpendRefreshToken(ctx, hash)
		if errors.Is(err, pgx.ErrNoRows) {
			prior, err := q.GetRefreshTokenByHash(ctx, hash)
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrRefreshInvalid
			} else if err != nil {
				return err
			}
			if prior.RevokedAt != nil && prior.ExpiresAt.After(time.Now()) {
				reused, user.ID = true, prior.UserID
				n, err := q.RevokeRefreshFamily(ctx, prior.FamilyID)
				if err != nil {
					return err
				}
				return addAudit(ctx, q, &prior.UserID, "token.reuse_detected", prior.UserID.String(), meta,
					map[string]any{"family_id": prior.FamilyID, "revoked": n})
			}
			return ErrRefreshInvalid
		} else if err != nil {
			return err
		}
		user, err = q.GetUserByID(ctx, old.UserID)
		if err != nil {
			return err
		}
		if user.DisabledAt != nil {
			return ErrAccountDisabled
		}
		pair, err = s.issue(ctx, q, user.ID, old.FamilyID)
		if err != nil {
			return err
		}
		next, err := q.GetRefreshTokenByHash(ctx, HashToken(pair.Refresh))
		if err != nil {
			return err
		}
		return q.SetRefreshTokenReplacement(ctx, db.SetRefreshTokenReplacementParams{ID: old.ID, ReplacedBy: &next.ID})
	})
	if reused {
		s.Log.Warn("a refresh token was used twice; its family was revoked", "user_id", user.ID, "ip", meta.IP)
		return db.User{}, TokenPair{}, ErrRefreshInvalid
	}
	return user, pair, err
}

// Logout revokes the refresh token's whole family.
func (s *Service) Logout(ctx context.Context, refresh string) error {
	if refresh == "" {
		return nil
	}
	t, err := s.q.GetRefreshTokenByHash(ctx, HashToken(refresh))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	_, err = s.q.RevokeRefreshFamily(ctx, t.FamilyID)
	return err
}

// UserForAccessToken verifies a bearer token and loads its user, refusing a
// disabled user at once.
func (s *Service) UserForAccessToken(ctx context.Context, token string) (db.User, error) {
	id, err := s.Tokens.Verify(token)
	if err != nil {
		return db.User{}, err
	}
	user, err := s.q.GetUserByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.User{}, ErrTokenInvalid
	} else if err != nil {
		return db.User{}, err
	}
	if user.DisabledAt != nil {
		return db.User{}, ErrAccountDisabled
	}
	return user, nil
}

// CreateSession starts a browser session and returns the random id for
// the cookie; only its hash is stored.
func (s *Service) CreateSession(ctx context.Context, userID uuid.UUID, meta Meta) (string, db.Session, error) {
	token, hash := RandomToken()
	sess, err := s.q.CreateSession(ctx, db.CreateSessionParams{
		TokenHash: hash, UserID: userID, IP: meta.IP, UserAgent: truncate(meta.UserAgent, 300),
		ExpiresAt: time.Now().Add(SessionAbsoluteTTL),
	})
	if err != nil {
		return "", db.Session{}, fmt.Errorf("create session: %w", err)
	}
	return token, sess, nil
}

// SessionUser loads a live session and its user in one indexed query, and
// refreshes the idle clock at most once a minute.
func (s *Service) SessionUser(ctx context.Context, token string) (db.Session, db.User, error) {
	row, err := s.q.GetActiveSession(ctx, db.GetActiveSessionParams{TokenHash: HashToken(token), IdleLimit: interval(SessionIdleTTL)})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Session{}, db.User{}, ErrNotFound
	} else if err != nil {
		return db.Session{}, db.User{}, err
	}
	if time.Since(row.Session.LastSeenAt) > time.Minute {
		if err := s.q.TouchSession(ctx, row.Session.ID); err != nil {
			s.Log.Warn("touch session", "err", err)
		}
	}
	return row.Session, row.User, nil
}

// RevokeSession ends one browser session.
func (s *Service) RevokeSession(ctx context.Context, id uuid.UUID) error {
	return s.q.RevokeSession(ctx, id)
}

// DeleteSession removes a browser session's row, as when the browser signs
// in again and the new session replaces it.
func (s *Service) DeleteSession(ctx context.Context, id uuid.UUID) error {
	if err := s.q.DeleteSession(ctx, id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// UpdateName changes a user's display name.
func (s *Service) UpdateName(ctx context.Context, userID uuid.UUID, name string) (db.User, error) {
	return s.q.UpdateUserName(ctx, db.UpdateUserNameParams{ID: userID, Name: truncate(name, 100)})
}

// ChangePassword needs the current password; every other session and all
// refresh tokens of the user end.
func (s *Service) ChangePassword(ctx context.Context, userID, keepSession uuid.UUID, current, next string, meta Meta) error {
	user, err := s.q.GetUserByID(ctx, userID)
	if err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(user.PasswordHash), []byte(current)) != nil {
		return ErrWrongPassword
	}
	hash, err := s.hash(next)
	if err != nil {
		return err
	}
	return db.InTx(ctx, s.pool, func(q *db.Queries) error {
		if err := q.UpdateUserPassword(ctx, db.UpdateUserPasswordParams{ID: userID, PasswordHash: hash}); err != nil {
			return err
		}
		if err := q.RevokeOtherSessions(ctx, db.RevokeOtherSessionsParams{UserID: userID, ID: keepSession}); err != nil {
			return err
		}
		if err := q.RevokeUserRefreshTokens(ctx, userID); err != nil {
			return err
		}
		return addAudit(ctx, q, &userID, "user.password_changed", user.Email, meta, nil)
	})
}

// SetDisabled disables or enables an account. Disabling ends its sessions
// and refresh tokens at once; its access tokens are refused from the next
// request on, because every request loads the user.
func (s *Service) SetDisabled(ctx context.Context, actor, target uuid.UUID, disabled bool, meta Meta) (db.User, error) {
	var user db.User
	err := db.InTx(ctx, s.pool, func(q *db.Queries) error {
		var err error
		if !disabled {
			user, err = q.EnableUser(ctx, target)
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			} else if err != nil {
				return err
			}
			return addAudit(ctx, q, &actor, "user.enable", user.Email, meta, nil)
		}
		if err := s.keepAnAdmin(ctx, q, target); err != nil {
			return err
		}
		user, err = q.DisableUser(ctx, target)
		if errors.Is(err, pgx.ErrNoRows) {
			user, err = q.GetUserByID(ctx, target) // already disabled, or absent
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err
		} else if err != nil {
			return err
		}
		if err := q.RevokeUserSessions(ctx, target); err != nil {
			return err
		}
		if err := q.RevokeUserRefreshTokens(ctx, target); err != nil {
			return err
		}
		return addAudit(ctx, q, &actor, "user.disable", user.Email, meta, nil)
	})
	return user, err
}

// SetRole promotes or demotes an account; the last administrator stays.
func (s *Service) SetRole(ctx context.Context, actor, target uuid.UUID, role db.UserRole, meta Meta) (db.User, error) {
	if !role.Valid() {
		return db.User{}, fmt.Errorf("unknown role %q", role)
	}
	var user db.User
	err := db.InTx(ctx, s.pool, func(q *db.Queries) error {
		if !role.IsAdmin() {
			if err := s.keepAnAdmin(ctx, q, target); err != nil {
				return err
			}
		}
		var err error
		user, err = q.SetUserRole(ctx, db.SetUserRoleParams{ID: target, Role: role})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		return addAudit(ctx, q, &actor, "user.role", user.Email, meta, map[string]any{"role": role})
	})
	return user, err
}

// keepAnAdmin refuses to take away the last active administrator.
func (s *Service) keepAnAdmin(ctx context.Context, q *db.Queries, target uuid.UUID) error {
	if _, err := q.LockAdmins(ctx); err != nil {
		return err
	}
	u, err := q.GetUserByID(ctx, target)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	if !u.Role.IsAdmin() || u.DisabledAt != nil {
		return nil
	}
	n, err := q.CountAdmins(ctx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return ErrLastAdmin
	}
	return nil
}

// CreateInvite makes a one-time sign-up link token.
func (s *Service) CreateInvite(ctx context.Context, actor uuid.UUID, meta Meta) (string, time.Time, error) {
	token, hash := RandomToken()
	inv, err := s.q.CreateInvite(ctx, db.CreateInviteParams{TokenHash: hash, CreatedBy: &actor, ExpiresAt: time.Now().Add(InviteTTL)})
	if err != nil {
		return "", time.Time{}, err
	}
	_ = addAudit(ctx, s.q, &actor, "invite.create", inv.ID.String(), meta, nil)
	return token, inv.ExpiresAt, nil
}

// Audit records an action.
func (s *Service) Audit(ctx context.Context, actor *uuid.UUID, action, target string, meta Meta, details map[string]any) {
	if err := addAudit(ctx, s.q, actor, action, target, meta, details); err != nil {
		s.Log.Warn("audit log write failed", "action", action, "err", err)
	}
}

func addAudit(ctx context.Context, q *db.Queries, actor *uuid.UUID, action, target string, meta Meta, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	b, _ := json.Marshal(details)
	return q.AddAudit(ctx, db.AddAuditParams{ActorID: actor, Action: action, Target: target, IP: meta.IP, Details: b})
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func interval(d time.Duration) pgtype.Interval {
	return pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ListUsers finds accounts by email or name (all when query is empty).
func (s *Service) ListUsers(ctx context.Context, query string, limit int) ([]db.User, error) {
	return s.q.SearchUsers(ctx, db.SearchUsersParams{Query: query, MaxRows: int32(limit)})
}

// ListAudit returns the newest audit entries.
func (s *Service) ListAudit(ctx context.Context, limit int) ([]db.ListAuditRow, error) {
	return s.q.ListAudit(ctx, db.ListAuditParams{MaxRows: int32(limit)})
}
