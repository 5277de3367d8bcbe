package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"studio/agents"
	"studio/agents/providers"
	"studio/auth"
	"studio/config"
	"studio/containers"
	"studio/events"
	"studio/projects"
)

// newAgents builds the agent service from the configuration.
func newAgents(cfg *config.Config, pool *pgxpool.Pool, a *auth.Service, p *projects.Service, rt containers.Runtime, bus *events.Bus, log *slog.Logger) (*agents.Service, error) {
	prices, err := parsePrices(cfg.AgentPrices)
	if err != nil {
		return nil, fmt.Errorf("STUDIO_AGENT_PRICES: %w", err)
	}
	if cfg.DefaultModel != "" {
		if _, _, err := providers.ParseModel(cfg.DefaultModel); err != nil {
			return nil, fmt.Errorf("STUDIO_DEFAULT_MODEL: %w", err)
		}
	}
	defaults := map[string]agents.ProviderDefault{}
	for name, d := range cfg.ProviderDefaults() {
		defaults[name] = agents.ProviderDefault{APIKey: d.APIKey, BaseURL: d.BaseURL}
	}
	return agents.New(pool, a, p, rt, bus, log, agents.Options{
		Budgets: agents.Budgets{
			MaxSteps:     cfg.AgentMaxSteps,
			MaxTokens:    int64(cfg.AgentMaxTokens),
			MaxTime:      cfg.AgentMaxTime,
			MaxTurnBytes: cfg.AgentMaxTurnBytes,
			MaxRunBytes:  cfg.AgentMaxRunBytes,
			MaxCost:      cfg.AgentMaxCost,
		},
		Prices:          prices,
		DefaultModel:    cfg.DefaultModel,
		Defaults:        defaults,
		ProviderOptions: []providers.Option{providers.WithLogger(log)},
		SoleInstance:    cfg.EmbeddedDatabase(),
	}), nil
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
