package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
// without looking at the password. Otherwise it takes the attempt and, if
// a failure now would start a delay, holds the account for that long at
// once: parallel guesses cannot all pass through one opening. A right
// password clears the hold (clearAccountDelay).
func (s *Service) takeAccountAttempt(ctx context.Context, account string) error {
	return db.InTx(ctx, s.pool, func(q *db.Queries) error {
		row, err := q.LockSignInDelay(ctx, account)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read sign-in delay: %w", err)
		}
		now := s.now()
		if wait := row.NextAllowedAt.Sub(now); wait > 0 {
			return &ThrottledError{RetryAfter: wait}
		}
		failures := int(row.Failures)
		if now.Sub(row.LastFailedAt) > ThrottleWindow {
			failures = 0
		}
		if hold := s.Backoff.Delay(failures + 1); hold > 0 {
			return q.HoldSignInAttempts(ctx, db.HoldSignInAttemptsParams{Account: account, NextAllowedAt: now.Add(hold)})
		}
		return nil
	})
}

// addAccountFailure counts a failed attempt and starts the delay it earns.
// It also forgets failures that left the window, so guesses at made-up
// addresses do not pile up rows.
func (s *Service) addAccountFailure(ctx context.Context, account string) error {
	now := s.now()
	if err := s.q.PruneSignInDelays(ctx, db.PruneSignInDelaysParams{Now: now, WindowLength: interval(ThrottleWindow)}); err != nil {
		return fmt.Errorf("prune sign-in delays: %w", err)
	}
	if err := s.q.PruneLoginFailures(ctx, interval(ThrottleWindow)); err != nil {
		return fmt.Errorf("prune login failures: %w", err)
	}
	failures, err := s.q.AddSignInFailure(ctx, db.AddSignInFailureParams{Account: account, FailedAt: now, WindowLength: interval(ThrottleWindow)})
	if err != nil {
		return fmt.Errorf("count failed sign-in: %w", err)
	}
	next := now.Add(s.Backoff.Delay(int(failures)))
	if err := s.q.HoldSignInAttempts(ctx, db.HoldSignInAttemptsParams{Account: account, NextAllowedAt: next}); err != nil {
		return fmt.Errorf("start sign-in delay: %w", err)
	}
	return nil
}

// throttled refuses a key (an address) that reached its hard limit of
// failures in the window.
func (s *Service) throttled(ctx context.Context, key string, limit int) error {
	r, err := s.q.RecentLoginFailures(ctx, db.RecentLoginFailuresParams{Key: key, WindowLength: interval(ThrottleWindow)})
	if err != nil {
		return err
	}
	if int(r.Failures) < limit {
		return nil
	}
	wait := time.Until(r.Oldest.Add(ThrottleWindow))
	if wait < time.Second {
		wait = time.Second
	}
	return &ThrottledError{RetryAfter: wait}
}
