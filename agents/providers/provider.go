// Package providers owns Studio's conversations with model providers: one
// streaming interface over the official OpenAI, Anthropic and Gemini SDKs,
// each speaking its provider's real wire protocol, with one retry policy,
// one set of user-facing errors, and the per-model price table.
package providers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"studio/netguard"
)

// Provider names, as they appear in model ids and in settings.
const (
	OpenAI           = "openai"
	Anthropic        = "anthropic"
	Gemini           = "gemini"
	Ollama           = "ollama"
	OpenAICompatible = "openai_compatible" // LiteLLM proxy, OpenRouter, vLLM, LM Studio, …
)

// DefaultIdleTimeout is how long a provider may stay silent — before its
// first byte or between two pieces of an answer — before the request fails.
const DefaultIdleTimeout = 3 * time.Minute

type preset struct {
	baseURL     string // "" means the user must give one
	keyRequired bool
	build       func(p *Provider, hc *http.Client) (backend, error)
}

var presets = map[string]preset{
	OpenAI:           {baseURL: "https://api.openai.com/v1", keyRequired: true, build: newOpenAI},
	Ollama:           {baseURL: "http://127.0.0.1:11434/v1", build: newOpenAI},
	OpenAICompatible: {build: newOpenAI},
	Anthropic:        {baseURL: "https://api.anthropic.com", keyRequired: true, build: newAnthropic},
	Gemini:           {baseURL: "https://generativelanguage.googleapis.com", keyRequired: true, build: newGemini},
}

// Names lists the providers Studio speaks to, sorted.
func Names() []string {
	names := make([]string, 0, len(presets))
	for name := range presets {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// DefaultBaseURL is where a provider is reached when settings give no base
// URL; "" when the user must give one.
func DefaultBaseURL(provider string) string { return presets[provider].baseURL }

// ParseModel splits a model id "provider/model". The model part may contain
// slashes itself ("openai_compatible/meta-llama/llama-3.1-70b").
func ParseModel(id string) (provider, model string, err error) {
	provider, model, found := strings.Cut(id, "/")
	if !found || provider == "" || model == "" {
		return "", "", fmt.Errorf("model id %q is not of the form provider/model, e.g. openai/gpt-4o", id)
	}
	if _, ok := presets[provider]; !ok {
		return "", "", fmt.Errorf("model id %q names an unknown provider %q (known: %s)", id, provider, strings.Join(Names(), ", "))
	}
	return provider, model, nil
}

// Provider streams chats from one configured provider. It is safe for
// concurrent use.
type Provider struct {
	name        string
	apiKey      string
	baseURL     string
	backend     backend
	retry       RetryPolicy
	idleTimeout time.Duration
	log         *slog.Logger
}

// backend is one SDK's side of a Provider.
type backend interface {
	// stream starts a turn; the request may be sent now or on the first next.
	stream(ctx context.Context, req Request) (decoder, error)
	listModels(ctx context.Context) ([]string, error)
	// inStreamError recognises an error the provider reported inside a
	// stream that had started with 200 OK.
	inStreamError(err error) (status int, detail string, ok bool)
}

// decoder turns one SDK stream into Events.
type decoder interface {
	// next returns the events decoded from the provider's next message,
	// possibly none; io.EOF once the stream has ended.
	next() ([]Event, error)
	// argBytes is how many bytes of tool arguments have arrived so far.
	argBytes() int64
	close()
}

// New configures a provider. apiKey may be empty for ollama and
// openai_compatible servers that take none; baseURL may be empty except for
// openai_compatible, and replaces the provider's usual address (tests point
// it at a local server).
func New(provider, apiKey, baseURL string, opts ...Option) (*Provider, error) {
	pre, ok := presets[provider]
	if !ok {
		return nil, fmt.Errorf("unknown provider %q (known: %s)", provider, strings.Join(Names(), ", "))
	}
	if apiKey == "" && pre.keyRequired {
		return nil, fmt.Errorf("%s needs an API key", provider)
	}
	baseURL = strings.TrimSpace(cmp.Or(baseURL, pre.baseURL))
	if baseURL == "" {
		return nil, fmt.Errorf("%s needs a base URL (the server's OpenAI-compatible endpoint, e.g. http://localhost:4000/v1)", provider)
	}
	if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s base URL %q is not an http(s) URL", provider, baseURL)
	}
	set := settings{retry: DefaultRetryPolicy(), idleTimeout: DefaultIdleTimeout, log: slog.Default()}
	for _, opt := range opts {
		opt(&set)
	}
	p := &Provider{
		name:        provider,
		apiKey:      apiKey,
		baseURL:     baseURL,
		retry:       set.retry,
		idleTimeout: set.idleTimeout,
		log:         set.log,
	}
	b, err := pre.build(p, observed(set.httpClient))
	if err != nil {
		return nil, fmt.Errorf("set up %s: %s", provider, p.clean(err.Error()))
	}
	p.backend = b
	return p, nil
}

// defaultClient serves every Provider that brings no client of its own: it
// goes through the guarded dialer with the default allow list (a local
// Ollama), so a provider never reaches an internal address by accident.
// Keys travel in request headers, never in its connection pool.
var defaultClient = func() *http.Client {
	allow, err := netguard.ParseAllowList(netguard.DefaultAllow)
	if err != nil {
		panic(err)
	}
	return netguard.NewClient(netguard.NewDialer(allow))
}()

// observed returns a copy of c (or of the default client) whose transport
// records every exchange for classify and the idle timer.
func observed(c *http.Client) *http.Client {
	hc := *cmp.Or(c, defaultClient)
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = observer{next: next}
	return &hc
}

// Name is the provider's name, e.g. "openai".
func (p *Provider) Name() string { return p.name }

// Stream sends one turn and returns once the first event has arrived; an
// error before then is returned here, after retries. Close the stream when
// done with it.
func (p *Provider) Stream(ctx context.Context, req Request) (*Stream, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	var s *Stream
	err := p.withRetries(ctx, "stream", func() error {
		var err error
		s, err = p.open(ctx, req)
		return err
	})
	return s, err
}

// listModelsBytes bounds a model list on the wire (through the attempt's
// factors: 4 MiB in one answer, 32 MiB over every page), so a server that
// answers without end cannot fill studio's memory.
const listModelsBytes = 512 << 10

// ListModels lists the models the key can use, sorted, as the provider names
// them (without the "provider/" prefix).
func (p *Provider) ListModels(ctx context.Context) ([]string, error) {
	var models []string
	err := p.withRetries(ctx, "list models", func() error {
		actx, a := p.startAttempt(ctx)
		defer a.end()
		a.maxBytes = listModelsBytes
		m, err := p.backend.listModels(actx)
		if err != nil {
			return p.classify(ctx, a, err)
		}
		models = m
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(models)
	return slices.Compact(models), nil
}

func (r Request) check() error {
	if r.Model == "" {
		return errors.New("request has no model")
	}
	if r.MaxTokens < 0 {
		return fmt.Errorf("max tokens %d is negative", r.MaxTokens)
	}
	if r.MaxBytes < 0 {
		return fmt.Errorf("max bytes %d is negative", r.MaxBytes)
	}
	for i, m := range r.Messages {
		switch m.Role {
		case RoleUser, RoleAssistant:
		case RoleTool:
			if m.ToolCallID == "" {
				return fmt.Errorf("message %d: a tool result needs the id of its call", i)
			}
		default:
			return fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
	}
	for _, t := range r.Tools {
		if t.Name == "" {
			return errors.New("a tool has no name")
		}
		var schema map[string]any
		if len(t.Schema) > 0 && (json.Unmarshal(t.Schema, &schema) != nil || schema == nil) {
			return fmt.Errorf("tool %s: the schema is not a JSON object", t.Name)
		}
	}
	return nil
}
