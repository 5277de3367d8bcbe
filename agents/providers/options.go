package providers

import (
	"cmp"
	"log/slog"
	"net/http"
	"time"
)

// Option tunes a Provider.
type Option func(*settings)

type settings struct {
	httpClient  *http.Client
	retry       RetryPolicy
	idleTimeout time.Duration
	log         *slog.Logger
}

// WithHTTPClient sends requests through c (its transport, proxies, TLS
// settings); without it a provider uses a netguard client with
// netguard.DefaultAllow. c should come from netguard.NewClient, so that a
// base URL cannot reach internal addresses nor be redirected. The client's
// Timeout should be zero: streams last long and the idle timeout already
// bounds silence.
func WithHTTPClient(c *http.Client) Option {
	return func(s *settings) { s.httpClient = c }
}

// WithRetryPolicy replaces DefaultRetryPolicy; zero fields keep the default.
func WithRetryPolicy(r RetryPolicy) Option {
	return func(s *settings) {
		def := DefaultRetryPolicy()
		s.retry = RetryPolicy{
			Attempts:  cmp.Or(r.Attempts, def.Attempts),
			BaseDelay: cmp.Or(r.BaseDelay, def.BaseDelay),
			MaxWait:   cmp.Or(r.MaxWait, def.MaxWait),
			Sleep:     r.Sleep,
		}
		if s.retry.Sleep == nil {
			s.retry.Sleep = def.Sleep
		}
	}
}

// WithIdleTimeout replaces DefaultIdleTimeout; d <= 0 keeps it.
func WithIdleTimeout(d time.Duration) Option {
	return func(s *settings) {
		if d > 0 {
			s.idleTimeout = d
		}
	}
}

// WithLogger sets where retries are logged; slog.Default otherwise.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.log = l }
}
