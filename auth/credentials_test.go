package auth_test

import (
	"context"
	"errors"
	"testing"

	"studio/auth"
)

func ptr(s string) *string { return &s }

// TestFirstPartyProvidersHaveNoBaseURL: a stored key for openai, anthropic
// or gemini only ever goes to the official endpoint (or the administrator's).
func TestFirstPartyProvidersHaveNoBaseURL(t *testing.T) {
	t.Parallel()
	s, pool := newService(t, "open")
	ctx := context.Background()
	u, _ := s.Register(ctx, "a@example.com", "a long password", "", "", meta)
	for _, provider := range []string{"openai", "anthropic", "gemini"} {
		if _, err := s.SetProvider(ctx, u.ID, provider, ptr("sk-real-key-1234"), nil); err != nil {
			t.Fatal(err)
		}
		_, err := s.SetProvider(ctx, u.ID, provider, nil, ptr("https://elsewhere.example/v1"))
		if !errors.Is(err, auth.ErrBaseURLNotAllowed) {
			t.Fatalf("%s: err = %v, want ErrBaseURLNotAllowed", provider, err)
		}
		if err.Error() != provider+" always uses its official endpoint; a custom address is only for ollama and openai_compatible" {
			t.Errorf("message %q", err)
		}
		// A row stored before base URLs were refused is ignored.
		pool.Exec(ctx, "UPDATE provider_credentials SET base_url = 'https://elsewhere.example' WHERE provider = $1", provider)
		key, base, err := s.ProviderKey(ctx, u.ID, provider)
		if err != nil || key != "sk-real-key-1234" || base != "" {
			t.Fatalf("%s: ProviderKey = %q, %q, %v", provider, key, base, err)
		}
		list, _ := s.ListProviders(ctx, u.ID)
		for _, p := range list {
			if p.Provider == provider && p.BaseURL != "" {
				t.Errorf("%s is listed with base URL %q", provider, p.BaseURL)
			}
		}
	}
}

func TestChangingTheBaseURLClearsTheKey(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, "open")
	ctx := context.Background()
	u, _ := s.Register(ctx, "a@example.com", "a long password", "", "", meta)
	set, err := s.SetProvider(ctx, u.ID, "openai_compatible", ptr("sk-gateway-key-1234"), ptr("https://gateway.example/v1"))
	if err != nil || set.KeyRemoved {
		t.Fatalf("first save: %+v %v", set, err)
	}
	// The same address, written slightly differently, keeps the key.
	set, err = s.SetProvider(ctx, u.ID, "openai_compatible", nil, ptr(" https://gateway.example/v1/ "))
	if err != nil || set.KeyRemoved || set.KeyHint == "" {
		t.Fatalf("same address: %+v %v", set, err)
	}
	set, err = s.SetProvider(ctx, u.ID, "openai_compatible", nil, ptr("https://attacker.example/v1"))
	if err != nil || !set.KeyRemoved || set.KeyHint != "" || set.Message != "the key was removed because the address changed" {
		t.Fatalf("new address: %+v %v", set, err)
	}
	if key, base, _ := s.ProviderKey(ctx, u.ID, "openai_compatible"); key != "" || base != "https://attacker.example/v1" {
		t.Fatalf("the key survived the address change: %q at %q", key, base)
	}
	// A new key given with the new address is kept.
	set, err = s.SetProvider(ctx, u.ID, "openai_compatible", ptr("sk-second-key-5678"), ptr("https://other.example/v1"))
	if err != nil || set.KeyRemoved {
		t.Fatalf("address with key: %+v %v", set, err)
	}
	if key, _, _ := s.ProviderKey(ctx, u.ID, "openai_compatible"); key != "sk-second-key-5678" {
		t.Fatalf("key = %q", key)
	}
	// Ollama: moving away from the default address clears the key too.
	if _, err := s.SetProvider(ctx, u.ID, "ollama", ptr("ollama-key-123456"), nil); err != nil {
		t.Fatal(err)
	}
	if set, _ := s.SetProvider(ctx, u.ID, "ollama", nil, ptr("http://127.0.0.1:11434/v1")); set.KeyRemoved {
		t.Fatal("the default address counted as a change")
	}
	if set, _ := s.SetProvider(ctx, u.ID, "ollama", nil, ptr("http://10.0.0.9:11434/v1")); !set.KeyRemoved {
		t.Fatal("moving ollama kept the key")
	}
}
