package auth

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"studio/db"
)

// Backoff is how failed sign-ins slow an account down: the first Free
// failures cost nothing, then each one doubles the wait before the next
// attempt is checked, from First up to Max. A delay is never a lock: once
// it passes, the right password works, from any address.
type Backoff struct {
	Free  int
	First time.Duration
	Max   time.Duration
}

// DefaultBackoff: five free tries, then 1 s, 2 s, 4 s … capped at a minute.
var DefaultBackoff = Backoff{Free: 5, First: time.Second, Max: time.Minute}

// Delay is the wait that follows the given number of failures in a row.
func (b Backoff) Delay(failures int) time.Duration {
	if failures < b.Free {
		return 0
	}
	d := b.First
	for i := b.Free; i < failures && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// takeAccountAttempt refuses an attempt while the account's delay runs,
// without looking at the password. Otherwise it takes the attempt and
// counts it as a failure at once, starting the delay a failure earns; a
// right password then clears the count (ClearSignInDelay). Counting before
// the check means parallel guesses cannot share one opening, nor overrun
// the free tries.
//
// A known client — one the account signed in from lately, with no failure
// against it in the window — is not held by the delay that failures from
// elsewhere earned: whoever keeps the delay armed cannot keep the owner
// out. Its attempt still counts, and a failure makes it a client like any
// other.
func (s *Service) takeAccountAttempt(ctx context.Context, account string, known bool) error {
	return db.InTx(ctx, s.pool, func(q *db.Queries) error {
		now := s.now()
		row, err := q.LockSignInDelay(ctx, db.LockSignInDelayParams{Account: account, Now: now})
		if err != nil {
			return fmt.Errorf("read sign-in delay: %w", err)
		}
		if wait := row.NextAllowedAt.Sub(now); wait > 0 && !known {
			return &ThrottledError{RetryAfter: wait}
		}
		failures := int(row.Failures)
		if now.Sub(row.LastAttemptAt) > ThrottleWindow {
			failures = 0 // a quiet window forgives
		}
		failures++
		err = q.CountSignInAttempt(ctx, db.CountSignInAttemptParams{
			Account: account, Failures: int32(failures), LastAttemptAt: now, NextAllowedAt: now.Add(s.Backoff.Delay(failures)),
		})
		if err != nil {
			return fmt.Errorf("count sign-in attempt: %w", err)
		}
		return nil
	})
}

// KnownClientFor is how long a client the account signed in from stays
// known.
const KnownClientFor = 30 * 24 * time.Hour

// knownClient reports whether the account signed in from the client within
// KnownClientFor, for a client with no failure against it in the window.
func (s *Service) knownClient(ctx context.Context, account, client string, failures int) (bool, error) {
	if failures > 0 {
		return false, nil
	}
	return s.q.KnownSignInClient(ctx, db.KnownSignInClientParams{Account: account, Client: client, Since: s.now().Add(-KnownClientFor)})
}

// rememberClient records a successful sign-in's client for the account.
func (s *Service) rememberClient(ctx context.Context, account, client string) error {
	now := s.now()
	if err := s.q.RememberSignInClient(ctx, db.RememberSignInClientParams{Account: account, Client: client, SignedInAt: now}); err != nil {
		return fmt.Errorf("remember the sign-in's client: %w", err)
	}
	return s.q.PruneSignInClients(ctx, now.Add(-KnownClientFor))
}

// clientNetwork is what throttling counts as one client: the IPv4
// address, or the /64 an IPv6 address belongs to (one subscriber's share,
// in which every address is theirs to use).
func clientNetwork(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil || addr.Is4() || addr.Is4In6() {
		return ip
	}
	prefix, err := addr.Prefix(64)
	if err != nil {
		return ip
	}
	return prefix.String()
}

// forgetOldFailures drops counts that left the window, so guesses at
// made-up addresses do not pile up rows.
func (s *Service) forgetOldFailures(ctx context.Context) error {
	if err := s.q.PruneSignInDelays(ctx, db.PruneSignInDelaysParams{Now: s.now(), WindowLength: interval(ThrottleWindow)}); err != nil {
		return fmt.Errorf("prune sign-in delays: %w", err)
	}
	if err := s.q.PruneLoginFailures(ctx, interval(ThrottleWindow)); err != nil {
		return fmt.Errorf("prune login failures: %w", err)
	}
	return nil
}

// throttled refuses a key (an address) that reached its hard limit of
// failures in the window; otherwise it gives the key's failures.
func (s *Service) throttled(ctx context.Context, key string, limit int) (failures int, err error) {
	r, err := s.q.RecentLoginFailures(ctx, db.RecentLoginFailuresParams{Key: key, WindowLength: interval(ThrottleWindow)})
	if err != nil {
		return 0, err
	}
	if int(r.Failures) < limit {
		return int(r.Failures), nil
	}
	wait := time.Until(r.Oldest.Add(ThrottleWindow))
	if wait < time.Second {
		wait = time.Second
	}
	return int(r.Failures), &ThrottledError{RetryAfter: wait}
}
