package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"studio/netguard"
)

// CheckConnection lists the provider's models once and says, in a few words
// fit for a settings page, whether that worked: "connected (N models)", or
// what kind of failure it was. It never repeats an error text or a body
// from the server, which could be anything an address answers with.
func (p *Provider) CheckConnection(ctx context.Context) string {
	once := *p
	once.retry.Attempts = 1
	models, err := once.ListModels(ctx)
	if err == nil {
		return fmt.Sprintf("connected (%d models)", len(models))
	}
	return p.failureCategory(err)
}

func (p *Provider) failureCategory(err error) string {
	var perr *Error
	errors.As(err, &perr)
	switch {
	case errors.Is(err, netguard.ErrBlocked):
		return "this address is not allowed (ask the administrator to add it to STUDIO_PROVIDER_ALLOW)"
	case errors.Is(err, ErrRedirected):
		return ErrRedirected.Error()
	case errors.Is(err, ErrKeyRejected):
		return "the key was rejected by " + p.name
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, ErrUnreachable):
		return "could not connect to " + p.host()
	case perr != nil && (perr.StatusCode >= 500 || perr.StatusCode == http.StatusTooManyRequests):
		return fmt.Sprintf("the server answered %d %s", perr.StatusCode, http.StatusText(perr.StatusCode))
	case p.name == Anthropic, p.name == Gemini:
		return "this is not the " + p.name + " API"
	}
	return "this is not an OpenAI-compatible server"
}

// host is the host:port the provider is reached at.
func (p *Provider) host() string {
	u, err := url.Parse(p.baseURL)
	if err != nil {
		return p.name
	}
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}
