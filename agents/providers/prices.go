package providers

import "strings"

// Price is what a model costs, in USD per million tokens.
type Price struct {
	Input  float64
	Output float64
}

// Prices maps models to prices. A key is a full model id
// ("openai_compatible/meta-llama/llama-3.1-70b") or a model name as
// providers spell it ("gpt-4o"), so one entry covers a model however it is
// reached; dated snapshots ("claude-sonnet-4-5-20250929") find their
// family's entry.
type Prices map[string]Price

// DefaultPrices returns a fresh copy of the list prices of common models
// (standard tier, prompts under any long-context surcharge, as published in
// 2025). Callers override or add entries on the copy.
func DefaultPrices() Prices {
	return Prices{
		"gpt-5":                 {1.25, 10},
		"gpt-5-mini":            {0.25, 2},
		"gpt-5-nano":            {0.05, 0.40},
		"gpt-4.1":               {2, 8},
		"gpt-4.1-mini":          {0.40, 1.60},
		"gpt-4.1-nano":          {0.10, 0.40},
		"gpt-4o":                {2.50, 10},
		"gpt-4o-mini":           {0.15, 0.60},
		"o1":                    {15, 60},
		"o1-mini":               {1.10, 4.40},
		"o3":                    {2, 8},
		"o3-mini":               {1.10, 4.40},
		"o3-pro":                {20, 80},
		"o4-mini":               {1.10, 4.40},
		"claude-opus-4":         {15, 75},
		"claude-opus-4-1":       {15, 75},
		"claude-opus-4-5":       {5, 25},
		"claude-sonnet-4":       {3, 15},
		"claude-sonnet-4-5":     {3, 15},
		"claude-3-7-sonnet":     {3, 15},
		"claude-3-5-sonnet":     {3, 15},
		"claude-haiku-4-5":      {1, 5},
		"claude-3-5-haiku":      {0.80, 4},
		"gemini-2.5-pro":        {1.25, 10},
		"gemini-2.5-flash":      {0.30, 2.50},
		"gemini-2.5-flash-lite": {0.10, 0.40},
		"gemini-2.0-flash":      {0.10, 0.40},
		"gemini-2.0-flash-lite": {0.075, 0.30},
	}
}

// Lookup finds the price of a model id ("provider/model") or bare model
// name: the most specific entry wins, from the full id down to the last path
// segment of the name (routers prefix the vendor: "openai/gpt-4o" through
// OpenRouter). Models served by Ollama run locally and cost nothing unless
// an entry says otherwise.
func (p Prices) Lookup(model string) (Price, bool) {
	candidates := []string{model}
	provider, name, err := ParseModel(model)
	if err == nil {
		candidates = append(candidates, name)
	} else {
		name = model
	}
	if i := strings.LastIndex(name, "/"); i >= 0 {
		candidates = append(candidates, name[i+1:])
	}
	for _, c := range candidates {
		if price, ok := p.family(c); ok {
			return price, true
		}
	}
	if provider == Ollama {
		return Price{}, true
	}
	return Price{}, false
}

// family matches a name exactly or by the longest key it extends with a
// "-" suffix (a date or a version).
func (p Prices) family(name string) (Price, bool) {
	best, found := "", false
	for key := range p {
		if (name == key || strings.HasPrefix(name, key+"-")) && len(key) > len(best) {
			best, found = key, true
		}
	}
	return p[best], found
}

// Cost is what usage of a model cost in USD; 0 when its price is unknown.
func (p Prices) Cost(model string, u Usage) float64 {
	price, _ := p.Lookup(model)
	return (float64(u.InputTokens)*price.Input + float64(u.OutputTokens)*price.Output) / 1e6
}
