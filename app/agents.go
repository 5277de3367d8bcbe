package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"studio/agents"
	"studio/agents/providers"
	"studio/auth"
	"studio/catalogues"
	"studio/config"
	"studio/github"
	"studio/gitrepo"
	"studio/netguard"
)

// agentOptions are the agent service's options from the configuration.
func agentOptions(cfg *config.Config, log *slog.Logger) (agents.Options, error) {
	prices, err := parsePrices(cfg.AgentPrices)
	if err != nil {
		return agents.Options{}, fmt.Errorf("STUDIO_AGENT_PRICES: %w", err)
	}
	if cfg.DefaultModel != "" {
		if _, _, err := providers.ParseModel(cfg.DefaultModel); err != nil {
			return agents.Options{}, fmt.Errorf("STUDIO_DEFAULT_MODEL: %w", err)
		}
	}
	allow, err := cfg.ProviderAllowList()
	if err != nil {
		return agents.Options{}, fmt.Errorf("STUDIO_PROVIDER_ALLOW: %w", err)
	}
	// Every provider call, to a URL a person typed or to the administrator's,
	// goes through one guarded client; the administrator's endpoints are
	// trusted but an internal one must be in STUDIO_PROVIDER_ALLOW too.
	dialer := netguard.NewDialer(allow)
	warnRefusedEndpoints(context.Background(), dialer, cfg, log)
	providerClient := netguard.NewClient(dialer)
	baseURLs := cfg.ProviderBaseURLs()
	defaults := map[string]agents.ProviderDefault{}
	for name, d := range cfg.ProviderDefaults() {
		defaults[name] = agents.ProviderDefault{APIKey: d.APIKey, BaseURL: d.BaseURL}
	}
	return agents.Options{
		Budgets: agents.Budgets{
			MaxSteps:     cfg.AgentMaxSteps,
			MaxTokens:    int64(cfg.AgentMaxTokens),
			MaxTime:      cfg.AgentMaxTime,
			MaxTurnBytes: cfg.AgentMaxTurnBytes,
			MaxRunBytes:  cfg.AgentMaxRunBytes,
			MaxCost:      cfg.AgentMaxCost,
		},
		Prices:           prices,
		DefaultModel:     cfg.DefaultModel,
		Defaults:         defaults,
		BaseURLFor:       func(provider string) string { return baseURLs[provider] },
		ProviderOptions:  []providers.Option{providers.WithHTTPClient(providerClient), providers.WithLogger(log)},
		SoleInstance:     cfg.EmbeddedDatabase(),
		Marketplace:      cfg.Marketplace,
		TemplateMaxBytes: cfg.TemplateMaxSize,
	}, nil
}

// newCatalogues is the reader of the remote catalogues, or nil when there
// are none. Catalogues are dialled through the same allow list as
// providers: the design has one guarded dialer for every address a person
// supplies, and its refusals already name STUDIO_PROVIDER_ALLOW.
func newCatalogues(cfg *config.Config, log *slog.Logger) (*catalogues.Client, error) {
	urls, err := cfg.MarketplaceURLList()
	if err != nil || len(urls) == 0 {
		return nil, err
	}
	allow, err := cfg.ProviderAllowList()
	if err != nil {
		return nil, fmt.Errorf("STUDIO_PROVIDER_ALLOW: %w", err)
	}
	return catalogues.New(urls, netguard.NewDialer(allow), log), nil
}

// warnRefusedEndpoints logs every provider endpoint and catalogue the
// administrator set that the allow list refuses, so the mistake shows at
// start rather than in the first run.
func warnRefusedEndpoints(ctx context.Context, d *netguard.Dialer, cfg *config.Config, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	endpoints := []struct{ env, url string }{
		{"STUDIO_OPENAI_BASE_URL", cfg.OpenAIBaseURL},
		{"STUDIO_ANTHROPIC_BASE_URL", cfg.AnthropicBaseURL},
		{"STUDIO_GEMINI_BASE_URL", cfg.GeminiBaseURL},
		{"STUDIO_OLLAMA_URL", cfg.OllamaURL},
		{"STUDIO_OPENAI_COMPATIBLE_URL", cfg.CompatibleURL},
	}
	urls, _ := cfg.MarketplaceURLList()
	for _, u := range urls {
		endpoints = append(endpoints, struct{ env, url string }{"STUDIO_MARKETPLACE_URLS", u.String()})
	}
	for _, e := range endpoints {
		u, err := url.Parse(e.url)
		if e.url == "" || err != nil {
			continue
		}
		port := u.Port()
		switch {
		case port != "":
		case u.Scheme == "https":
			port = "443"
		default:
			port = "80"
		}
		if err := d.Check(ctx, net.JoinHostPort(u.Hostname(), port)); errors.Is(err, netguard.ErrBlocked) {
			log.Warn("an endpoint will be refused", "variable", e.env, "error", err)
		}
	}
}

// parsePrices reads "model=input/output,…" (USD per million tokens) over
// the default price table.
func parsePrices(spec string) (providers.Prices, error) {
	prices := providers.DefaultPrices()
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		model, pair, ok := strings.Cut(item, "=")
		in, out, ok2 := strings.Cut(pair, "/")
		i, err1 := strconv.ParseFloat(strings.TrimSpace(in), 64)
		o, err2 := strconv.ParseFloat(strings.TrimSpace(out), 64)
		if !ok || !ok2 || model == "" || err1 != nil || err2 != nil || i < 0 || o < 0 {
			return nil, fmt.Errorf("%q is not model=input/output, e.g. gpt-4o=2.5/10", item)
		}
		prices[strings.TrimSpace(model)] = providers.Price{Input: i, Output: o}
	}
	return prices, nil
}

// newCloner clones the repositories people import, through the same allow
// list as providers and catalogues.
func newCloner(cfg *config.Config) (*gitrepo.Cloner, error) {
	allow, err := cfg.ProviderAllowList()
	if err != nil {
		return nil, fmt.Errorf("STUDIO_PROVIDER_ALLOW: %w", err)
	}
	return gitrepo.New(netguard.NewDialer(allow)), nil
}

// newGitHub connects people to GitHub through the same allow list as
// providers, catalogues and clones.
func newGitHub(cfg *config.Config, pool *pgxpool.Pool, ring *auth.Keyring) (*github.Service, error) {
	allow, err := cfg.ProviderAllowList()
	if err != nil {
		return nil, fmt.Errorf("STUDIO_PROVIDER_ALLOW: %w", err)
	}
	return github.New(github.Config{
		WebURL:       cfg.GitHubWebURL(),
		APIURL:       cfg.GitHubAPIURL(),
		ClientID:     cfg.GitHubClientID,
		ClientSecret: cfg.GitHubClientSecret,
		CallbackURL:  cfg.PublicURL() + "/settings/github/callback",
	}, pool, ring, netguard.NewClient(netguard.NewDialer(allow))), nil
}
