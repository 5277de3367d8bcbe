package auth_test

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/crypto/bcrypt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"studio/auth"
	"studio/db"
	"studio/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// cheapHashes keeps hundreds of sign-ups fast; production's cost 12 is
// tested in package auth.
var cheapHashes = auth.WithPasswordCost(bcrypt.MinCost)

var meta = auth.Meta{IP: "127.0.0.1", UserAgent: "test"}

func newService(t *testing.T, signup string) (*auth.Service, *pgxpool.Pool) {
	t.Helper()
	pool := dbtest.New(t)
	ring, err := auth.LoadKeyring(strings.Repeat("t", 32), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewService(pool, ring, signup, nil, cheapHashes), pool
}

func TestRegisterFirstIsAdmin(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	ctx := context.Background()
	first, err := s.Register(ctx, "  First@Example.COM ", "a long password", "First", "", meta)
	if err != nil {
		t.Fatal(err)
	}
	if first.Email != "first@example.com" || !first.Role.IsAdmin() {
		t.Fatalf("first user %q role %q", first.Email, first.Role)
	}
	second, err := s.Register(ctx, "second@example.com", "a long password", "", "", meta)
	if err != nil || second.Role != db.UserRoleUser {
		t.Fatalf("second user: %v %v", second.Role, err)
	}
	if _, err := s.Register(ctx, "FIRST@example.com", "a long password", "", "", meta); !errors.Is(err, auth.ErrEmailTaken) {
		t.Fatalf("duplicate email: %v", err)
	}
	bad := map[string]struct{ email, pw string }{
		"short password": {"a@example.com", "short"},
		"long password":  {"a@example.com", strings.Repeat("é", 40)},
		"bad email":      {"not-an-email", "a long password"},
	}
	for name, b := range bad {
		if _, err := s.Register(ctx, b.email, b.pw, "", "", meta); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestConcurrentFirstSignupsMakeOneAdmin(t *testing.T) {
	t.Parallel()
	s, pool := newService(t, "open")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if _, err := s.Register(context.Background(), uuid.NewString()[:8]+"@example.com", "a long password", "", "", meta); err != nil {
				t.Error(err, i)
			}
		})
	}
	wg.Wait()
	if n, _ := db.New(pool).CountAdmins(context.Background()); n != 1 {
		t.Fatalf("%d admins, want 1", n)
	}
}

func TestSignupModes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	closed, _ := newService(t, "closed")
	admin, err := closed.Register(ctx, "admin@example.com", "a long password", "", "", meta)
	if err != nil {
		t.Fatalf("the first account must always be possible: %v", err)
	}
	if _, err := closed.Register(ctx, "b@example.com", "a long password", "", "", meta); !errors.Is(err, auth.ErrSignupClosed) {
		t.Fatalf("closed: %v", err)
	}

	inv, _ := newService(t, "invite")
	admin, _ = inv.Register(ctx, "admin@example.com", "a long password", "", "", meta)
	if _, err := inv.Register(ctx, "b@example.com", "a long password", "", "", meta); !errors.Is(err, auth.ErrInviteRequired) {
		t.Fatalf("invite without token: %v", err)
	}
	token, _, err := inv.CreateInvite(ctx, admin.ID, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Register(ctx, "b@example.com", "a long password", "", "wrong", meta); !errors.Is(err, auth.ErrInviteInvalid) {
		t.Fatalf("wrong invite: %v", err)
	}
	if _, err := inv.Register(ctx, "b@example.com", "a long password", "", token, meta); err != nil {
		t.Fatalf("valid invite: %v", err)
	}
	if _, err := inv.Register(ctx, "c@example.com", "a long password", "", token, meta); !errors.Is(err, auth.ErrInviteInvalid) {
		t.Fatalf("reused invite: %v", err)
	}
}

// Sign-ups that will be refused are refused before bcrypt runs, so a
// closed Studio spends no CPU on them.
func TestRefusedSignupsCostNoHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	closed, _ := newService(t, "closed")
	closed.Register(ctx, "admin@example.com", "a long password", "", "", meta)
	hashes := auth.CountHashes(closed)
	if _, err := closed.Register(ctx, "b@example.com", "a long password", "", "", meta); !errors.Is(err, auth.ErrSignupClosed) {
		t.Fatalf("closed: %v", err)
	}
	if n := hashes(); n != 0 {
		t.Fatalf("closed sign-up hashed the password %d time(s)", n)
	}

	inv, _ := newService(t, "invite")
	admin, _ := inv.Register(ctx, "admin@example.com", "a long password", "", "", meta)
	hashes = auth.CountHashes(inv)
	if _, err := inv.Register(ctx, "b@example.com", "a long password", "", "", meta); !errors.Is(err, auth.ErrInviteRequired) {
		t.Fatalf("no invite: %v", err)
	}
	if _, err := inv.Register(ctx, "b@example.com", "a long password", "", "made-up", meta); !errors.Is(err, auth.ErrInviteInvalid) {
		t.Fatalf("made-up invite: %v", err)
	}
	token, _, _ := inv.CreateInvite(ctx, admin.ID, meta)
	if _, err := inv.Register(ctx, "ADMIN@example.com", "a long password", "", token, meta); !errors.Is(err, auth.ErrEmailTaken) {
		t.Fatalf("taken email: %v", err)
	}
	if n := hashes(); n != 0 {
		t.Fatalf("refused invite sign-ups hashed %d time(s)", n)
	}
	if _, err := inv.Register(ctx, "b@example.com", "a long password", "", token, meta); err != nil || hashes() != 1 {
		t.Fatalf("valid invite: %v, %d hash(es)", err, hashes())
	}
}

// An address over its limit of failures cannot sign up either, and the
// refusal comes before bcrypt; refused sign-ups count as failures.
func TestSignupThrottledBeforeHashing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t, "invite")
	s.IPLimit = 3
	s.Register(ctx, "admin@example.com", "a long password", "", "", meta)
	hashes := auth.CountHashes(s)
	m := auth.Meta{IP: "203.0.113.9"}
	for range 3 {
		if _, err := s.Register(ctx, uuid.NewString()[:8]+"@example.com", "a long password", "", "guessed-invite", m); !errors.Is(err, auth.ErrInviteInvalid) {
			t.Fatalf("guessed invite: %v", err)
		}
	}
	var th *auth.ThrottledError
	if _, err := s.Register(ctx, "c@example.com", "a long password", "", "guessed-invite", m); !errors.As(err, &th) {
		t.Fatalf("after 3 refused sign-ups: %v", err)
	}
	if n := hashes(); n != 0 {
		t.Fatalf("throttled sign-ups hashed %d time(s)", n)
	}
}

func TestLoginSameErrorAndThrottle(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	ctx := context.Background()
	if _, err := s.Register(ctx, "a@example.com", "a long password", "", "", meta); err != nil {
		t.Fatal(err)
	}
	_, errEmail := s.Login(ctx, "nobody@example.com", "a long password", meta)
	_, errPw := s.Login(ctx, "a@example.com", "wrong password", meta)
	if errEmail != auth.ErrInvalidCredentials || errPw != auth.ErrInvalidCredentials {
		t.Fatalf("enumeration: %v vs %v", errEmail, errPw)
	}
	if _, err := s.Login(ctx, "A@Example.com", "a long password", meta); err != nil {
		t.Fatalf("good login (resets the account counter): %v", err)
	}
	for i := 0; i < s.Backoff.Free; i++ {
		if _, err := s.Login(ctx, "a@example.com", "wrong password", meta); err != auth.ErrInvalidCredentials {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	_, err := s.Login(ctx, "a@example.com", "a long password", meta)
	var th *auth.ThrottledError
	if !errors.As(err, &th) || th.RetryAfter <= 0 || th.RetryAfter > s.Backoff.First {
		t.Fatalf("attempt after %d failures: %v", s.Backoff.Free, err)
	}
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// withClock makes the service's sign-in throttle read time from a clock
// the test moves.
func withClock(s *auth.Service) *fakeClock {
	clock := &fakeClock{now: time.Now().Truncate(time.Second)}
	auth.SetClock(s, clock.Now)
	return clock
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestBackoffSchedule(t *testing.T) {
	b := auth.DefaultBackoff
	want := map[int]time.Duration{0: 0, 4: 0, 5: time.Second, 6: 2 * time.Second, 7: 4 * time.Second,
		10: 32 * time.Second, 11: time.Minute, 50: time.Minute, 1000: time.Minute}
	for failures, d := range want {
		if got := b.Delay(failures); got != d {
			t.Errorf("after %d failures: %s, want %s", failures, got, d)
		}
	}
}

// An attacker at one address fails 50 times against one account; the
// owner, at another address, still signs in once the current delay (at
// most a minute) has passed, and is never asked to wait longer.
func TestOneClientCannotKeepTheOwnerOut(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	clock := withClock(s)
	ctx := context.Background()
	if _, err := s.Register(ctx, "owner@example.com", "the owner's password", "", "", meta); err != nil {
		t.Fatal(err)
	}
	attacker, owner := auth.Meta{IP: "192.0.2.66"}, auth.Meta{IP: "198.51.100.7"}
	failed, hardLimited := 0, false
	for range 50 {
		_, err := s.Login(ctx, "owner@example.com", "a wrong guess", attacker)
		var th *auth.ThrottledError
		switch {
		case err == auth.ErrInvalidCredentials:
			failed++
		case errors.As(err, &th) && th.RetryAfter <= s.Backoff.Max:
			clock.Add(th.RetryAfter) // the attacker waits out every account delay
		case errors.As(err, &th):
			if failed < s.ClientLimit {
				t.Fatalf("the account delay %s is over the cap %s", th.RetryAfter, s.Backoff.Max)
			}
			hardLimited = true // the address's own limit: the attacker stops here
		default:
			t.Fatalf("attacker attempt: %v", err)
		}
	}
	if !hardLimited {
		t.Fatalf("the attacker's address was never held by its hard limit (%d failures)", failed)
	}
	_, err := s.Login(ctx, "owner@example.com", "the owner's password", owner)
	var th *auth.ThrottledError
	if errors.As(err, &th) {
		if th.RetryAfter > s.Backoff.Max {
			t.Fatalf("the owner is asked to wait %s, more than the cap", th.RetryAfter)
		}
		clock.Add(th.RetryAfter)
		_, err = s.Login(ctx, "owner@example.com", "the owner's password", owner)
	}
	if err != nil {
		t.Fatalf("the owner cannot sign in after the delay: %v", err)
	}
	// The right password reset the account: the next mistake is a plain failure.
	if _, err := s.Login(ctx, "owner@example.com", "a typo", owner); err != auth.ErrInvalidCredentials {
		t.Fatalf("after a good sign-in the counter did not reset: %v", err)
	}
}

// The attacker's best play from one address: a guess the instant each
// delay ends, always ahead of the owner. The address soon reaches its hard
// limit for this account, and the owner gets in within a couple of
// minutes.
func TestOneClientRearmingEveryDelayCannotKeepTheOwnerOut(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	clock := withClock(s)
	ctx := context.Background()
	s.Register(ctx, "owner@example.com", "the owner's password", "", "", meta)
	attacker, owner := auth.Meta{IP: "192.0.2.66"}, auth.Meta{IP: "198.51.100.7"}
	for range s.Backoff.Free {
		s.Login(ctx, "owner@example.com", "a wrong guess", attacker)
	}
	start := clock.Now()
	for round := 0; ; round++ {
		if _, err := s.Login(ctx, "owner@example.com", "a wrong guess", attacker); err == nil {
			t.Fatal("a wrong guess signed in")
		}
		_, err := s.Login(ctx, "owner@example.com", "the owner's password", owner)
		if err == nil {
			break
		}
		var th *auth.ThrottledError
		if !errors.As(err, &th) || th.RetryAfter > s.Backoff.Max {
			t.Fatalf("round %d, the owner: %v", round, err)
		}
		if waited := clock.Now().Sub(start); waited > 3*time.Minute {
			t.Fatalf("the owner is still kept out after %s", waited)
		}
		clock.Add(th.RetryAfter)
	}
}

// During a delay the password is not even checked: the right one is
// refused like a wrong one, so guesses inside a delay teach nothing.
func TestDelayAnswersWithoutCheckingThePassword(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	clock := withClock(s)
	ctx := context.Background()
	s.Register(ctx, "a@example.com", "a long password", "", "", meta)
	for range s.Backoff.Free {
		s.Login(ctx, "a@example.com", "wrong password", meta)
	}
	var th *auth.ThrottledError
	if _, err := s.Login(ctx, "a@example.com", "a long password", meta); !errors.As(err, &th) || th.RetryAfter != s.Backoff.First {
		t.Fatalf("right password during the delay: %v", err)
	}
	clock.Add(th.RetryAfter / 2)
	if _, err := s.Login(ctx, "a@example.com", "a long password", meta); !errors.As(err, &th) || th.RetryAfter != s.Backoff.First/2 {
		t.Fatalf("halfway through the delay: %v", err)
	}
	clock.Add(th.RetryAfter)
	if _, err := s.Login(ctx, "a@example.com", "a long password", meta); err != nil {
		t.Fatalf("after the delay: %v", err)
	}
}

// Guesses at made-up addresses leave no rows behind once their failures
// are out of the window.
func TestOldDelaysAreForgotten(t *testing.T) {
	t.Parallel()
	s, pool := newService(t, "open")
	clock := withClock(s)
	ctx := context.Background()
	for range 3 {
		s.Login(ctx, "made-up@example.com", "a guess", meta)
	}
	clock.Add(auth.ThrottleWindow + time.Second)
	s.Login(ctx, "other@example.com", "a guess", meta)
	var accounts []string
	rows, _ := pool.Query(ctx, "SELECT account FROM sign_in_delays")
	for rows.Next() {
		var a string
		rows.Scan(&a)
		accounts = append(accounts, a)
	}
	if len(accounts) != 1 || accounts[0] != "other@example.com" {
		t.Fatalf("sign_in_delays holds %v", accounts)
	}
}

// parallelGuesses sends n wrong passwords at once and counts how many
// were checked (the rest were told to wait).
func parallelGuesses(s *auth.Service, n int) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	checked := 0
	for i := range n {
		wg.Go(func() {
			_, err := s.Login(context.Background(), "a@example.com", "wrong password", auth.Meta{IP: "192.0.2." + strconv.Itoa(i)})
			if err == auth.ErrInvalidCredentials {
				mu.Lock()
				checked++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return checked
}

// Parallel guesses cannot share one opening between two delays, nor
// overrun the free tries of a fresh account.
func TestParallelGuessesTakeOneOpening(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	clock := withClock(s)
	s.Register(context.Background(), "a@example.com", "a long password", "", "", meta)
	if checked := parallelGuesses(s, 20); checked != s.Backoff.Free {
		t.Fatalf("%d parallel guesses were checked on a fresh account, want %d", checked, s.Backoff.Free)
	}
	clock.Add(s.Backoff.First)
	if checked := parallelGuesses(s, 10); checked != 1 {
		t.Fatalf("%d parallel guesses were checked in one opening, want 1", checked)
	}
}

func TestIPThrottle(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	s.IPLimit = 3
	ctx := context.Background()
	m := auth.Meta{IP: "10.9.8.7"}
	for i := range 3 {
		if _, err := s.Login(ctx, uuid.NewString()+"@example.com", "wrong password", m); err != auth.ErrInvalidCredentials {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	var th *auth.ThrottledError
	if _, err := s.Login(ctx, "x@example.com", "wrong password", m); !errors.As(err, &th) {
		t.Fatalf("per-address throttle: %v", err)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	ctx := context.Background()
	u, _ := s.Register(ctx, "a@example.com", "a long password", "", "", meta)
	pair, err := s.IssueTokens(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserForAccessToken(ctx, pair.Access); err != nil || got.ID != u.ID {
		t.Fatalf("access token: %v", err)
	}
	_, next, err := s.Refresh(ctx, pair.Refresh, meta)
	if err != nil || next.Refresh == pair.Refresh {
		t.Fatalf("refresh: %v", err)
	}
	// The old token again: theft. Both the old and the new one stop working.
	if _, _, err := s.Refresh(ctx, pair.Refresh, meta); !errors.Is(err, auth.ErrRefreshInvalid) {
		t.Fatalf("reuse: %v", err)
	}
	if _, _, err := s.Refresh(ctx, next.Refresh, meta); !errors.Is(err, auth.ErrRefreshInvalid) {
		t.Fatalf("family not revoked: %v", err)
	}
	if _, _, err := s.Refresh(ctx, "made-up", meta); !errors.Is(err, auth.ErrRefreshInvalid) {
		t.Fatalf("unknown token: %v", err)
	}
	// Logout revokes.
	p2, _ := s.IssueTokens(ctx, u.ID)
	if err := s.Logout(ctx, p2.Refresh); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Refresh(ctx, p2.Refresh, meta); !errors.Is(err, auth.ErrRefreshInvalid) {
		t.Fatalf("after logout: %v", err)
	}
}

func TestDisableStopsEverythingAtOnce(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	ctx := context.Background()
	admin, _ := s.Register(ctx, "admin@example.com", "a long password", "", "", meta)
	u, _ := s.Register(ctx, "u@example.com", "a long password", "", "", meta)
	pair, _ := s.IssueTokens(ctx, u.ID)
	cookie, _, _ := s.CreateSession(ctx, u.ID, meta)
	if _, err := s.SetDisabled(ctx, admin.ID, u.ID, true, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserForAccessToken(ctx, pair.Access); !errors.Is(err, auth.ErrAccountDisabled) {
		t.Fatalf("access token of a disabled user: %v", err)
	}
	if _, _, err := s.SessionUser(ctx, cookie); err == nil {
		t.Fatal("session of a disabled user still works")
	}
	if _, _, err := s.Refresh(ctx, pair.Refresh, meta); err == nil {
		t.Fatal("refresh of a disabled user works")
	}
	if _, err := s.Login(ctx, "u@example.com", "a long password", meta); !errors.Is(err, auth.ErrAccountDisabled) {
		t.Fatalf("login of a disabled user: %v", err)
	}
	if _, err := s.SetDisabled(ctx, admin.ID, u.ID, false, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "u@example.com", "a long password", meta); err != nil {
		t.Fatalf("after enable: %v", err)
	}
	if _, err := s.SetDisabled(ctx, admin.ID, admin.ID, true, meta); !errors.Is(err, auth.ErrLastAdmin) {
		t.Fatalf("disabling the last admin: %v", err)
	}
	if _, err := s.SetRole(ctx, admin.ID, admin.ID, db.UserRoleUser, meta); !errors.Is(err, auth.ErrLastAdmin) {
		t.Fatalf("demoting the last admin: %v", err)
	}
	if _, err := s.SetRole(ctx, admin.ID, u.ID, db.UserRoleAdmin, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRole(ctx, admin.ID, admin.ID, db.UserRoleUser, meta); err != nil {
		t.Fatalf("demote with another admin left: %v", err)
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	ctx := context.Background()
	u, _ := s.Register(ctx, "a@example.com", "a long password", "", "", meta)
	keep, keepSess, _ := s.CreateSession(ctx, u.ID, meta)
	other, _, _ := s.CreateSession(ctx, u.ID, meta)
	if err := s.ChangePassword(ctx, u.ID, keepSess.ID, "wrong password", "another long one", meta); !errors.Is(err, auth.ErrWrongPassword) {
		t.Fatalf("wrong current password: %v", err)
	}
	if err := s.ChangePassword(ctx, u.ID, keepSess.ID, "a long password", "another long one", meta); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionUser(ctx, keep); err != nil {
		t.Fatalf("the current session ended: %v", err)
	}
	if _, _, err := s.SessionUser(ctx, other); err == nil {
		t.Fatal("another session survived a password change")
	}
	if _, err := s.Login(ctx, "a@example.com", "another long one", meta); err != nil {
		t.Fatal(err)
	}
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	s, pool := newService(t, "open")
	ctx := context.Background()
	u, _ := s.Register(ctx, "a@example.com", "a long password", "", "", meta)
	tok, sess, _ := s.CreateSession(ctx, u.ID, meta)
	if _, _, err := s.SessionUser(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(ctx, "UPDATE sessions SET last_seen_at = now() - interval '8 days' WHERE id = $1", sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionUser(ctx, tok); err == nil {
		t.Fatal("idle session still works")
	}
	tok2, sess2, _ := s.CreateSession(ctx, u.ID, meta)
	pool.Exec(ctx, "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1", sess2.ID)
	if _, _, err := s.SessionUser(ctx, tok2); err == nil {
		t.Fatal("session past its absolute limit still works")
	}
	tok3, sess3, _ := s.CreateSession(ctx, u.ID, meta)
	s.RevokeSession(ctx, sess3.ID)
	if _, _, err := s.SessionUser(ctx, tok3); err == nil {
		t.Fatal("revoked session still works")
	}
}

// BenchmarkSessionUser is the per-page cost of loading a browser session:
// one indexed query joining the session and its user.
func BenchmarkSessionUser(b *testing.B) {
	pool := dbtest.New(b)
	ring, _ := auth.LoadKeyring(strings.Repeat("t", 32), "", "")
	s := auth.NewService(pool, ring, "open", nil, cheapHashes)
	ctx := context.Background()
	u, err := s.Register(ctx, "a@example.com", "a long password", "", "", meta)
	if err != nil {
		b.Fatal(err)
	}
	tok, _, _ := s.CreateSession(ctx, u.ID, meta)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := s.SessionUser(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func TestKeyRotationReseals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	dir := t.TempDir()
	ring, err := auth.LoadKeyring("", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	s := auth.NewService(pool, ring, "open", nil, cheapHashes)
	u, _ := s.Register(ctx, "a@example.com", "a long password", "", "", meta)
	key := "sk-rotate-me-1234"
	if _, err := s.SetProvider(ctx, u.ID, "openai", &key, nil); err != nil {
		t.Fatal(err)
	}
	// A GitHub connection's tokens are re-sealed too.
	ghAccess, ghRefresh := "gho_rotate-me", "ghr_rotate-me"
	sa, _ := ring.Seal([]byte(ghAccess), auth.GitHubTokenAAD(u.ID, "access"))
	sr, _ := ring.Seal([]byte(ghRefresh), auth.GitHubTokenAAD(u.ID, "refresh"))
	if _, err := pool.Exec(ctx, "INSERT INTO github_connections (user_id, login, access_token, refresh_token, method) VALUES ($1, 'ada', $2, $3, 'oauth')", u.ID, sa, sr); err != nil {
		t.Fatal(err)
	}
	old := ring.Current().ID
	next, n, err := s.RotateKey(ctx, 0)
	if err != nil || n != 2 {
		t.Fatalf("rotate: %d %v", n, err)
	}
	pool.QueryRow(ctx, "SELECT access_token, refresh_token FROM github_connections").Scan(&sa, &sr)
	for which, v := range map[string][2]string{"access": {sa, ghAccess}, "refresh": {sr, ghRefresh}} {
		plain, err := ring.Open(v[0], auth.GitHubTokenAAD(u.ID, which))
		if auth.SealedWith(v[0]) != next.ID || err != nil || string(plain) != v[1] {
			t.Fatalf("GitHub %s token after rotation: sealed with %s, %q %v", which, auth.SealedWith(v[0]), plain, err)
		}
	}
	var sealed string
	pool.QueryRow(ctx, "SELECT api_key FROM provider_credentials").Scan(&sealed)
	if auth.SealedWith(sealed) == old || auth.SealedWith(sealed) != next.ID || ring.Current().ID != next.ID {
		t.Fatalf("still sealed with %s", auth.SealedWith(sealed))
	}
	// A fresh load of the key file (another replica, a restart) opens it.
	again, _ := auth.LoadKeyring("", "", dir)
	got, _, err := auth.NewService(pool, again, "open", nil, cheapHashes).ProviderKey(ctx, u.ID, "openai")
	if err != nil || got != key {
		t.Fatalf("after rotation: %q %v", got, err)
	}
	// Tampering with the stored value is detected, not decrypted to garbage.
	pool.Exec(ctx, "UPDATE provider_credentials SET api_key = left(api_key, -4) || 'AAAA'")
	if _, _, err := s.ProviderKey(ctx, u.ID, "openai"); !errors.Is(err, auth.ErrSealed) {
		t.Fatalf("tampered ciphertext: %v", err)
	}
}

// Two rotations in a row stop halfway (a stored value that cannot be
// opened stops the re-seal); every other secret still opens from the key
// file alone, and a third run, once the bad value is gone, finishes.
func TestFailedRotationsLoseNoSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	dir := t.TempDir()
	ring, _ := auth.LoadKeyring("", "", dir)
	s := auth.NewService(pool, ring, "open", nil, cheapHashes)
	keys := map[uuid.UUID]string{}
	for i := range 4 {
		u, err := s.Register(ctx, uuid.NewString()[:8]+"@example.com", "a long password", "", "", meta)
		if err != nil {
			t.Fatal(err)
		}
		k := "sk-secret-" + strconv.Itoa(i) + "-abcdef"
		if _, err := s.SetProvider(ctx, u.ID, "openai", &k, nil); err != nil {
			t.Fatal(err)
		}
		keys[u.ID] = k
	}
	broken, _ := s.Register(ctx, "broken@example.com", "a long password", "", "", meta)
	k := "sk-broken-abcdef"
	s.SetProvider(ctx, broken.ID, "anthropic", &k, nil)
	pool.Exec(ctx, "UPDATE provider_credentials SET api_key = left(api_key, -4) || 'AAAA' WHERE user_id = $1", broken.ID)
	first := ring.Current().ID
	for i := range 2 {
		if _, _, err := s.RotateKey(ctx, 0); err == nil || !strings.Contains(err.Error(), broken.ID.String()) {
			t.Fatalf("rotation %d with a broken value: %v", i+1, err)
		}
	}
	check := func(when string) {
		t.Helper()
		fresh, err := auth.LoadKeyring("", "", dir)
		if err != nil {
			t.Fatal(err)
		}
		reader := auth.NewService(pool, fresh, "open", nil, cheapHashes)
		for id, want := range keys {
			if got, _, err := reader.ProviderKey(ctx, id, "openai"); err != nil || got != want {
				t.Fatalf("%s: user %s's key: %q %v", when, id, got, err)
			}
		}
	}
	check("after two failed rotations")
	if ring.Current().ID != first {
		t.Fatal("a failed rotation made its key current")
	}
	s.DeleteProvider(ctx, broken.ID, "anthropic")
	next, n, err := s.RotateKey(ctx, 0)
	if err != nil || n != 4 || next.ID == first {
		t.Fatalf("third rotation: %d %v", n, err)
	}
	check("after the rotation finished")
}

// Two administrators rotating at once: one waits for the other, both
// finish, and every secret still opens.
func TestConcurrentRotationsTakeTurns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	dir := t.TempDir()
	ring, _ := auth.LoadKeyring("", "", dir)
	s := auth.NewService(pool, ring, "open", nil, cheapHashes)
	u, _ := s.Register(ctx, "a@example.com", "a long password", "", "", meta)
	key := "sk-concurrent-abcdef"
	s.SetProvider(ctx, u.ID, "openai", &key, nil)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			other, _ := auth.LoadKeyring("", "", dir) // another rotate-key process
			if _, _, err := auth.NewService(pool, other, "open", nil, cheapHashes).RotateKey(ctx, 100*time.Millisecond); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	fresh, _ := auth.LoadKeyring("", "", dir)
	if n := len(fresh.All()); n != 3 {
		t.Errorf("%d keys after two rotations, want 3", n)
	}
	if got, _, err := auth.NewService(pool, fresh, "open", nil, cheapHashes).ProviderKey(ctx, u.ID, "openai"); err != nil || got != key {
		t.Fatalf("after concurrent rotations: %q %v", got, err)
	}
}

// An attacker who keeps the account's delay armed (guessing the moment each
// delay ends) does not hold up a client the owner signed in from before: it
// signs in at once. A client never seen is held like the attacker.
func TestTheOwnersClientIsNotHeldByAnArmedDelay(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	clock := withClock(s)
	ctx := context.Background()
	s.Register(ctx, "owner@example.com", "the owner's password", "", "", meta)
	attacker, owner, stranger := auth.Meta{IP: "192.0.2.66"}, auth.Meta{IP: "198.51.100.7"}, auth.Meta{IP: "203.0.113.9"}
	if _, err := s.Login(ctx, "owner@example.com", "the owner's password", owner); err != nil {
		t.Fatal(err)
	}
	for range s.Backoff.Free + 3 {
		if _, err := s.Login(ctx, "owner@example.com", "a wrong guess", attacker); err == nil {
			t.Fatal("a wrong guess signed in")
		}
		var th *auth.ThrottledError
		if _, err := s.Login(ctx, "owner@example.com", "a wrong guess", attacker); errors.As(err, &th) {
			clock.Add(th.RetryAfter) // the attacker takes every opening
		}
	}
	// The opening is the attacker's again (from a second address): the
	// delay runs.
	if _, err := s.Login(ctx, "owner@example.com", "a wrong guess", auth.Meta{IP: "192.0.2.67"}); err != auth.ErrInvalidCredentials {
		t.Fatalf("the attacker at the opening: %v", err)
	}
	if _, err := s.Login(ctx, "owner@example.com", "the owner's password", stranger); !errors.As(err, new(*auth.ThrottledError)) {
		t.Fatalf("a client never seen during the delay: %v", err)
	}
	if _, err := s.Login(ctx, "owner@example.com", "the owner's password", owner); err != nil {
		t.Fatalf("the owner's known client while the attacker keeps the delay armed: %v", err)
	}
}

// The addresses of one IPv6 /64 are one client.
func TestAnIPv6NetworkIsOneClient(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	ctx := context.Background()
	s.Register(ctx, "a@example.com", "a long password", "", "", meta)
	for i := range s.ClientLimit {
		s.Login(ctx, "a@example.com", "wrong password", auth.Meta{IP: fmt.Sprintf("2001:db8:1:2::%x", i+1)})
	}
	var th *auth.ThrottledError
	if _, err := s.Login(ctx, "a@example.com", "a long password", auth.Meta{IP: "2001:db8:1:2:ffff::1"}); !errors.As(err, &th) {
		t.Fatalf("another address of the same /64: %v, want throttled", err)
	}
	if _, err := s.Login(ctx, "a@example.com", "a long password", auth.Meta{IP: "2001:db8:1:3::1"}); err != nil && !errors.As(err, &th) {
		t.Fatalf("another /64: %v", err)
	}
}
