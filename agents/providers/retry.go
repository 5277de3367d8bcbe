package providers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy decides how often a request is tried again after a 429, a 5xx
// or a connection failure. Only a request that has delivered nothing is
// retried: once part of an answer has reached the caller, an error ends the
// stream. The SDKs' own retries are off, so this is the only policy.
type RetryPolicy struct {
	Attempts  int           // tries in all, the first included
	BaseDelay time.Duration // wait before the second try; doubles each time, ±20%
	MaxWait   time.Duration // total waiting across all tries; a longer Retry-After gives up instead
	// Sleep waits d or until ctx ends. Tests replace it to record the delays
	// instead of spending them.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetryPolicy is three tries within about twenty seconds.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Attempts: 3, BaseDelay: time.Second, MaxWait: 20 * time.Second, Sleep: sleep}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r RetryPolicy) backoff(try int) time.Duration {
	d := r.BaseDelay << (try - 1)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// withRetries runs try until it succeeds, fails for good, or the policy is
// spent. try must return an *Error for anything worth retrying.
func (p *Provider) withRetries(ctx context.Context, what string, try func() error) error {
	var waited time.Duration
	for n := 1; ; n++ {
		err := try()
		var perr *Error
		if err == nil || !errors.As(err, &perr) || !perr.retryable || n >= p.retry.Attempts {
			return err
		}
		delay := max(p.retry.backoff(n), perr.RetryAfter)
		if waited+delay > p.retry.MaxWait {
			if perr.RetryAfter > 0 {
				perr.msg += fmt.Sprintf(" (it asked to wait %s)", perr.RetryAfter.Round(time.Second))
			}
			return perr
		}
		p.log.WarnContext(ctx, "provider request failed, retrying",
			"provider", p.name, "op", what, "try", n, "status", perr.StatusCode, "delay", delay, "error", perr.msg)
		if err := p.retry.Sleep(ctx, delay); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return p.timeout(err)
			}
			return err
		}
		waited += delay
	}
}
