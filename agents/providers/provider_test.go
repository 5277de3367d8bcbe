package providers

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestParseModel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		id, provider, model string
		err                 string
	}{
		{id: "openai/gpt-4o", provider: "openai", model: "gpt-4o"},
		{id: "anthropic/claude-sonnet-4-5-20250929", provider: "anthropic", model: "claude-sonnet-4-5-20250929"},
		{id: "gemini/gemini-2.5-pro", provider: "gemini", model: "gemini-2.5-pro"},
		{id: "ollama/qwen2.5-coder:32b", provider: "ollama", model: "qwen2.5-coder:32b"},
		{id: "openai_compatible/meta-llama/llama-3.1-70b", provider: "openai_compatible", model: "meta-llama/llama-3.1-70b"},
		{id: "gpt-4o", err: `model id "gpt-4o" is not of the form provider/model`},
		{id: "openai/", err: "not of the form provider/model"},
		{id: "/gpt-4o", err: "not of the form provider/model"},
		{id: "", err: "not of the form provider/model"},
		{id: "mistral/large", err: `unknown provider "mistral" (known: anthropic, gemini, ollama, openai, openai_compatible)`},
	}
	for _, tc := range cases {
		provider, model, err := ParseModel(tc.id)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseModel(%q) error = %v, want %q", tc.id, err, tc.err)
			}
			continue
		}
		if err != nil || provider != tc.provider || model != tc.model {
			t.Errorf("ParseModel(%q) = %q, %q, %v", tc.id, provider, model, err)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	cases := []struct {
		provider, key, baseURL string
		err                    string
	}{
		{provider: OpenAI, key: "k"},
		{provider: Anthropic, key: "k"},
		{provider: Gemini, key: "k"},
		{provider: Ollama},
		{provider: OpenAICompatible, baseURL: "http://litellm:4000/v1"},
		{provider: OpenAI, err: "openai needs an API key"},
		{provider: Anthropic, err: "anthropic needs an API key"},
		{provider: Gemini, err: "gemini needs an API key"},
		{provider: OpenAICompatible, key: "k", err: "openai_compatible needs a base URL"},
		{provider: OpenAICompatible, baseURL: "litellm:4000", err: `base URL "litellm:4000" is not an http(s) URL`},
		{provider: "azure", key: "k", err: `unknown provider "azure"`},
	}
	for _, tc := range cases {
		p, err := New(tc.provider, tc.key, tc.baseURL)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("New(%q, key %q, %q) error = %v, want %q", tc.provider, tc.key, tc.baseURL, err, tc.err)
			}
			continue
		}
		if err != nil || p.Name() != tc.provider {
			t.Errorf("New(%q) = %v, %v", tc.provider, p, err)
		}
	}
	if DefaultBaseURL(Ollama) != "http://127.0.0.1:11434/v1" || DefaultBaseURL(OpenAI) != "https://api.openai.com/v1" || DefaultBaseURL(OpenAICompatible) != "" {
		t.Error("unexpected default base URLs")
	}
}

func TestInvalidRequestsAreNotSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, OpenAI, nil)
	cases := []struct {
		req Request
		err string
	}{
		{Request{}, "request has no model"},
		{Request{Model: "m", MaxTokens: -1}, "max tokens -1 is negative"},
		{Request{Model: "m", MaxBytes: -1}, "max bytes -1 is negative"},
		{Request{Model: "m", Messages: []Message{{Role: "system", Text: "x"}}}, `message 0: unknown role "system"`},
		{Request{Model: "m", Messages: []Message{{Role: RoleTool, Text: "x"}}}, "message 0: a tool result needs the id of its call"},
		{Request{Model: "m", Tools: []Tool{{Description: "x"}}}, "a tool has no name"},
		{Request{Model: "m", Tools: []Tool{{Name: "t", Schema: json.RawMessage(`["path"]`)}}}, "tool t: the schema is not a JSON object"},
	}
	for _, tc := range cases {
		_, err := h.p.Stream(context.Background(), tc.req)
		if err == nil || err.Error() != tc.err {
			t.Errorf("Stream(%+v) error = %v, want %q", tc.req, err, tc.err)
		}
	}
	h.fake.requireRequests(0)
}

func TestCost(t *testing.T) {
	t.Parallel()
	prices := DefaultPrices()
	prices["openai_compatible/meta-llama/llama-3.1-70b"] = Price{Input: 0.5, Output: 0.75}
	prices["gpt-4o"] = Price{Input: 2, Output: 8} // an override
	million := Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}
	cases := []struct {
		model string
		usage Usage
		want  float64
	}{
		{"openai/gpt-4o", million, 10},
		{"openai/gpt-4o-2024-08-06", million, 10},
		{"openai/gpt-4o-mini", Usage{InputTokens: 2_000_000, OutputTokens: 500_000}, 0.30 + 0.30},
		{"anthropic/claude-sonnet-4-5-20250929", Usage{InputTokens: 1000, OutputTokens: 2000}, 0.003 + 0.030},
		{"anthropic/claude-opus-4-5", million, 30},
		{"anthropic/claude-opus-4-1-20250805", million, 90},
		{"gemini/gemini-2.5-flash-lite", million, 0.50},
		{"gemini/gemini-2.5-flash", million, 2.80},
		{"openai_compatible/openai/gpt-4o", million, 10},
		{"openai_compatible/meta-llama/llama-3.1-70b", million, 1.25},
		{"ollama/qwen2.5-coder:32b", million, 0},
		{"openai_compatible/some/unknown-model", million, 0},
		{"gpt-4.1-mini", million, 2},
	}
	for _, tc := range cases {
		if got := prices.Cost(tc.model, tc.usage); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Cost(%s, %+v) = %v, want %v", tc.model, tc.usage, got, tc.want)
		}
	}
	if _, ok := prices.Lookup("openai_compatible/some/unknown-model"); ok {
		t.Error("an unknown model has a price")
	}
	if _, ok := prices.Lookup("ollama/llama3.1"); !ok {
		t.Error("a local model's price is unknown; it is free")
	}
	if DefaultPrices()["gpt-4o"].Input != 2.5 {
		t.Error("overriding a copy changed the defaults")
	}
}
