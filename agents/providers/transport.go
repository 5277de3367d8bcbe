package providers

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The SDKs hide the HTTP exchange behind three different error models. An
// observing transport records what each try actually saw on the wire (status,
// Retry-After, the provider's error text, a broken body), so one classifier
// serves all providers, and every byte that arrives keeps the try's idle
// timer from firing.

// maxErrorBody caps how much of an error response is kept.
const maxErrorBody = 64 << 10

// errIdle is the cancellation cause of a try whose provider went quiet.
var errIdle = errors.New("provider went quiet")

// errWireTooLong is the cancellation cause of a try whose response passed
// its cap on the wire.
var errWireTooLong = errors.New("the response passed its size limit")

// Caps on the wire, as multiples of Request.MaxBytes. Framing is heavy (an
// OpenAI chunk spends some 150 bytes of JSON on a few characters of text),
// so the whole response gets a generous multiple; one message, which an SDK
// buffers whole, gets room for the cap's worth of text escaped as JSON.
const (
	wireFactor    = 64
	messageFactor = 8
	messageSlack  = 64 << 10
)

type attemptKey struct{}

// attempt is one try at a request.
type attempt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   time.Duration
	timer  *time.Timer

	// maxBytes is the request's cap (0: none); wire counts the response's
	// bytes in all and since the last message began (touched by the
	// reading goroutine only).
	maxBytes    int64
	wire        int64
	wireMessage int64

	mu sync.Mutex
	st wireState
}

// wireState is what a try saw on the wire.
type wireState struct {
	sent         bool          // a request reached the transport
	status       int           // 0 until response headers arrived
	retryAfter   time.Duration // from an error response
	detail       string        // the provider's own error message
	keyInvalid   bool          // Gemini's 400 for a wrong key
	transportErr error         // no response at all
	readErr      error         // the response body broke
}

// startAttempt returns the context a try runs under: it carries the attempt
// for the transport and is cancelled when the provider stays silent for the
// idle timeout.
func (p *Provider) startAttempt(ctx context.Context) (context.Context, *attempt) {
	actx, cancel := context.WithCancelCause(ctx)
	a := &attempt{ctx: actx, cancel: cancel, idle: p.idleTimeout}
	a.timer = time.AfterFunc(p.idleTimeout, func() { cancel(errIdle) })
	return context.WithValue(actx, attemptKey{}, a), a
}

// touch restarts the idle timer: the provider is alive, or we are about to
// wait for it again.
func (a *attempt) touch() { a.timer.Reset(a.idle) }

// pause stops the idle timer while the caller, not the provider, holds things up.
func (a *attempt) pause() { a.timer.Stop() }

// end releases the try's connection and timer.
func (a *attempt) end() {
	a.timer.Stop()
	a.cancel(context.Canceled)
}

// newMessage starts counting the bytes of the next message.
func (a *attempt) newMessage() { a.wireMessage = 0 }

// countWire adds n bytes read and reports whether a cap is passed.
func (a *attempt) countWire(n int) bool {
	a.wire += int64(n)
	a.wireMessage += int64(n)
	return a.maxBytes > 0 && (a.wire > wireFactor*a.maxBytes || a.wireMessage > messageFactor*a.maxBytes+messageSlack)
}

func (a *attempt) wireExceeded() bool { return errors.Is(context.Cause(a.ctx), errWireTooLong) }

func (a *attempt) idleExpired() bool { return errors.Is(context.Cause(a.ctx), errIdle) }

func (a *attempt) state() wireState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st
}

func (a *attempt) update(f func(*wireState)) {
	a.mu.Lock()
	f(&a.st)
	a.mu.Unlock()
}

// observer is the http.RoundTripper every SDK client sends through.
type observer struct{ next http.RoundTripper }

func (o observer) RoundTrip(req *http.Request) (*http.Response, error) {
	a, _ := req.Context().Value(attemptKey{}).(*attempt)
	if a == nil {
		return o.next.RoundTrip(req)
	}
	a.update(func(s *wireState) { s.sent = true })
	resp, err := o.next.RoundTrip(req)
	if err != nil {
		a.update(func(s *wireState) { s.transportErr = err })
		return nil, err
	}
	a.touch()
	if resp.StatusCode < 400 {
		a.update(func(s *wireState) { s.status = resp.StatusCode })
		resp.Body = &observedBody{ReadCloser: resp.Body, a: a}
		return resp, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	a.update(func(s *wireState) {
		s.status = resp.StatusCode
		s.retryAfter = cmp.Or(retryAfter(resp.Header), googleRetryDelay(body))
		s.detail = errorDetail(body)
		s.keyInvalid = bytes.Contains(body, []byte("API_KEY_INVALID"))
	})
	return resp, nil
}

// observedBody notes progress and failures while the SDK reads a stream.
type observedBody struct {
	io.ReadCloser
	a *attempt
}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.a.touch()
		if b.a.countWire(n) {
			// Drop what passed the cap and stop the try, so the SDK buffers no more.
			b.a.cancel(errWireTooLong)
			return 0, errWireTooLong
		}
	}
	if err != nil && err != io.EOF {
		b.a.update(func(s *wireState) { s.readErr = err })
	}
	return n, err
}

// retryAfter reads the wait a provider asked for: OpenAI's retry-after-ms,
// or the standard Retry-After in seconds or as a date.
func retryAfter(h http.Header) time.Duration {
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// errorDetail finds the message in an error body. OpenAI, Anthropic, Gemini
// and most compatible servers use {"error": {"message": ...}}; some send
// {"error": "..."} or {"message": ...}. Anything else (an HTML page from a
// proxy, say) yields no detail.
func errorDetail(body []byte) string {
	var envelope struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &envelope) != nil {
		return ""
	}
	var text string
	if json.Unmarshal(envelope.Error, &text) == nil {
		return text
	}
	var inner struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(envelope.Error, &inner) == nil && inner.Message != "" {
		return inner.Message
	}
	return envelope.Message
}

// googleRetryDelay reads the RetryInfo Google APIs put in a 429 body instead
// of a Retry-After header.
func googleRetryDelay(body []byte) time.Duration {
	var envelope struct {
		Error struct {
			Details []struct {
				Type       string `json:"@type"`
				RetryDelay string `json:"retryDelay"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &envelope) != nil {
		return 0
	}
	for _, d := range envelope.Error.Details {
		if strings.HasSuffix(d.Type, "google.rpc.RetryInfo") {
			if delay, err := time.ParseDuration(d.RetryDelay); err == nil && delay > 0 {
				return delay
			}
		}
	}
	return 0
}
