package providers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"studio/netguard"
)

// Kinds of *Error, for errors.Is. Failures that are none of these (a 400, a
// 5xx that outlasted the retries) are plain *Error values with StatusCode
// set; a caller's own cancellation comes back as its context error.
var (
	ErrKeyRejected = errors.New("the key was rejected")
	ErrTimeout     = errors.New("the provider did not answer in time")
	ErrUnreadable  = errors.New("the provider sent a response that could not be read")
	ErrInterrupted = errors.New("the answer broke off after it had started")
	ErrRedirected  = errors.New("the server answered with a redirect")
	ErrUnreachable = errors.New("could not connect to the provider")
	ErrTooLong     = errors.New("the answer passed its size limit")
)

// Error is a provider failure whose message is fit to show the user. It never
// contains the API key.
type Error struct {
	Provider   string
	StatusCode int           // the HTTP status the provider answered with, if it did
	RetryAfter time.Duration // how long the provider asked us to wait, if it said

	msg       string
	kinds     []error
	retryable bool // worth another try if nothing has been delivered yet
}

func (e *Error) Error() string   { return e.msg }
func (e *Error) Unwrap() []error { return e.kinds }

// maxDetail caps how much of a provider's own error text goes into a message.
const maxDetail = 300

func (p *Provider) keyRejected(status int) *Error {
	return &Error{Provider: p.name, StatusCode: status, msg: "the key was rejected by " + p.name, kinds: []error{ErrKeyRejected}}
}

// timeout reports a provider that went quiet; cause is the caller's
// context.DeadlineExceeded when their deadline is what ran out.
func (p *Provider) timeout(cause error) *Error {
	kinds := []error{ErrTimeout}
	if cause != nil {
		kinds = append(kinds, cause)
	}
	return &Error{Provider: p.name, msg: fmt.Sprintf("the %s API did not answer in time", p.name), kinds: kinds}
}

func (p *Provider) unreadable() *Error {
	return &Error{Provider: p.name, msg: p.name + " sent a response Studio could not read", kinds: []error{ErrUnreadable}}
}

// statusError describes an HTTP error status, or an error the provider
// reported inside an otherwise successful stream.
func (p *Provider) statusError(status int, retryAfter time.Duration, detail string) *Error {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return p.keyRejected(status)
	}
	msg := fmt.Sprintf("%s answered %d", p.name, status)
	if text := http.StatusText(status); text != "" {
		msg += " " + text
	}
	if detail = p.clean(detail); detail != "" {
		msg += ": " + detail
	}
	return &Error{
		Provider:   p.name,
		StatusCode: status,
		RetryAfter: retryAfter,
		msg:        msg,
		retryable:  status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500,
	}
}

// unreachable describes a request that got no answer at all.
func (p *Provider) unreachable(err error) *Error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		e := p.timeout(nil)
		e.retryable = true
		return e
	}
	if errors.Is(err, netguard.ErrBlocked) {
		// The administrator's decision, not a passing failure: no retry.
		return &Error{Provider: p.name, msg: p.clean(innermost(err).Error()), kinds: []error{netguard.ErrBlocked}}
	}
	return &Error{
		Provider:  p.name,
		msg:       fmt.Sprintf("could not reach %s at %s: %s", p.name, p.baseURL, p.clean(innermost(err).Error())),
		kinds:     []error{ErrUnreachable},
		retryable: true,
	}
}

// redirected describes a 3xx answer, which is never followed: it could send
// the key to another host or replay the request there.
func (p *Provider) redirected(status int) *Error {
	return &Error{Provider: p.name, StatusCode: status, msg: ErrRedirected.Error(), kinds: []error{ErrRedirected}}
}

// connectionLost describes a response body that broke off.
func (p *Provider) connectionLost(err error) *Error {
	return &Error{
		Provider:  p.name,
		msg:       fmt.Sprintf("the connection to %s broke: %s", p.name, p.clean(innermost(err).Error())),
		retryable: true,
	}
}

// tooLong reports an answer stopped at Request.MaxBytes; it is never
// retried, since another try would stream as much again.
func (p *Provider) tooLong(limit int64) *Error {
	return &Error{Provider: p.name, msg: fmt.Sprintf("the %s answer passed the limit of %d bytes", p.name, limit), kinds: []error{ErrTooLong}}
}

// notSent describes a request the SDK refused to build or send.
func (p *Provider) notSent(err error) *Error {
	return &Error{Provider: p.name, msg: fmt.Sprintf("could not send the request to %s: %s", p.name, p.clean(err.Error()))}
}

// interrupted wraps an error that ended a stream after events had been
// delivered; such an error is never retried because the caller has already
// acted on part of the answer.
func (p *Provider) interrupted(cause *Error) *Error {
	return &Error{
		Provider:   p.name,
		StatusCode: cause.StatusCode,
		msg:        fmt.Sprintf("the %s answer broke off before it was complete: %s", p.name, cause.msg),
		kinds:      append([]error{ErrInterrupted}, cause.kinds...),
	}
}

// classify turns whatever an SDK returned into an *Error, or returns the
// caller's own context error when they cancelled.
func (p *Provider) classify(ctx context.Context, a *attempt, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return p.timeout(cerr)
		}
		return cerr
	}
	var perr *Error
	if errors.As(err, &perr) {
		return perr
	}
	if a.idleExpired() {
		return p.timeout(nil)
	}
	if a.wireExceeded() {
		return p.tooLong(a.maxBytes)
	}
	st := a.state()
	switch {
	case st.keyInvalid:
		return p.keyRejected(st.status)
	case errors.Is(err, netguard.ErrRedirect), st.status >= 300 && st.status < 400:
		return p.redirected(st.status)
	case st.status >= 400:
		return p.statusError(st.status, st.retryAfter, st.detail)
	case !st.sent:
		return p.notSent(err)
	case st.status == 0:
		return p.unreachable(cmp.Or(st.transportErr, err))
	case st.readErr != nil:
		return p.connectionLost(st.readErr)
	}
	if status, detail, ok := p.backend.inStreamError(err); ok {
		return p.statusError(status, 0, detail)
	}
	return p.unreadable()
}

// clean removes the API key from text that came from elsewhere and keeps it
// short enough for a status line.
func (p *Provider) clean(s string) string {
	if p.apiKey != "" {
		s = strings.ReplaceAll(s, p.apiKey, "[redacted]")
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxDetail {
		cut := maxDetail
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// innermost drops the wrapping (url.Error's method and URL, SDK prefixes)
// that means nothing to a user, stopping at a net.OpError, which names the
// address and what failed, or at a refusal, which says how to lift it.
func innermost(err error) error {
	for {
		if _, ok := err.(*net.OpError); ok && !errors.Is(err, netguard.ErrBlocked) {
			return err
		}
		if _, ok := err.(*netguard.BlockedError); ok {
			return err
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}
