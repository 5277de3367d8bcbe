package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/db"
)

// Providers are the model providers a user can hold a key for.
var Providers = []string{"openai", "anthropic", "gemini", "ollama", "openai_compatible"}

// Errors about provider settings.
var (
	ErrUnknownProvider = errors.New("unknown provider; use one of " + strings.Join(Providers, ", "))
	ErrKeyRequired     = errors.New("an API key is required for this provider")
	ErrBaseURLRequired = errors.New("a base URL is required for an OpenAI-compatible server")
	ErrBaseURLInvalid  = errors.New("the base URL must be an http:// or https:// address")
	// ErrBaseURLNotAllowed: openai, anthropic and gemini keys only ever go to
	// the official endpoint or to the administrator's.
	ErrBaseURLNotAllowed = errors.New("a custom address is only for ollama and openai_compatible")
)

type baseURLNotAllowed struct{ provider string }

func (e baseURLNotAllowed) Error() string {
	return e.provider + " always uses its official endpoint; a custom address is only for ollama and openai_compatible"
}

func (e baseURLNotAllowed) Is(target error) bool { return target == ErrBaseURLNotAllowed }

// firstParty reports whether a provider has one official endpoint, so that a
// person's base URL for it could only serve to send their key elsewhere.
func firstParty(provider string) bool {
	return provider == "openai" || provider == "anthropic" || provider == "gemini"
}

// KeyRemovedMessage tells a person why the key they saved is gone.
const KeyRemovedMessage = "the key was removed because the address changed"

// DefaultBaseURLs are used when a user sets none.
var DefaultBaseURLs = map[string]string{
	"ollama": "http://127.0.0.1:11434/v1",
}

// ProviderSetting is what may be shown of a stored provider credential:
// never the key, only its last characters.
type ProviderSetting struct {
	Provider   string `json:"provider"`
	Configured bool   `json:"configured"`
	BaseURL    string `json:"base_url"`
	KeyHint    string `json:"key_hint"`
	// KeyRemoved is set when a save changed the address and gave no new
	// key: a key is never sent to an address other than the one it was
	// saved with.
	KeyRemoved bool   `json:"key_removed,omitempty"`
	Message    string `json:"message,omitempty"`
}

func credentialAAD(userID uuid.UUID, provider string) []byte {
	return []byte("provider_credentials/" + userID.String() + "/" + provider)
}

// GitHubTokenAAD binds a sealed GitHub token to its row: which is
// "access" or "refresh".
func GitHubTokenAAD(userID uuid.UUID, which string) []byte {
	return []byte("github_connections/" + userID.String() + "/" + which)
}

// ProjectEnvAAD binds a project's sealed variable to its project and name.
func ProjectEnvAAD(projectID uuid.UUID, name string) []byte {
	return []byte("project_env_vars/" + projectID.String() + "/" + name)
}

// SetProvider stores a provider's key (sealed) and base URL for a user. A
// nil apiKey keeps the stored key, unless the base URL changes; a nil
// baseURL keeps the stored URL. Only ollama and openai_compatible take a
// base URL.
func (s *Service) SetProvider(ctx context.Context, userID uuid.UUID, provider string, apiKey, baseURL *string) (ProviderSetting, error) {
	if !slices.Contains(Providers, provider) {
		return ProviderSetting{}, ErrUnknownProvider
	}
	old, err := s.q.GetProviderCredential(ctx, db.GetProviderCredentialParams{UserID: userID, Provider: provider})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return ProviderSetting{}, err
	}
	sealed, hint, base := old.APIKey, old.KeyHint, old.BaseURL
	if apiKey != nil {
		key := strings.TrimSpace(*apiKey)
		sealed, hint = "", ""
		if key != "" {
			if sealed, err = s.Ring.Seal([]byte(key), credentialAAD(userID, provider)); err != nil {
				return ProviderSetting{}, err
			}
			hint = keyHint(key)
		}
	}
	if baseURL != nil {
		base = strings.TrimRight(strings.TrimSpace(*baseURL), "/")
		if firstParty(provider) && base != "" {
			return ProviderSetting{}, baseURLNotAllowed{provider}
		}
	}
	if firstParty(provider) {
		base = "" // a value stored before base URLs were refused goes too
	}
	keyRemoved := apiKey == nil && sealed != "" && effectiveBaseURL(provider, old.BaseURL) != effectiveBaseURL(provider, base)
	if keyRemoved {
		sealed, hint = "", ""
	}
	if base != "" {
		if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return ProviderSetting{}, ErrBaseURLInvalid
		}
	}
	switch provider {
	case "openai_compatible":
		if base == "" {
			return ProviderSetting{}, ErrBaseURLRequired
		}
	case "openai", "anthropic", "gemini":
		if sealed == "" {
			return ProviderSetting{}, ErrKeyRequired
		}
	}
	row, err := s.q.UpsertProviderCredential(ctx, db.UpsertProviderCredentialParams{
		UserID: userID, Provider: provider, APIKey: sealed, KeyHint: hint, BaseURL: base,
	})
	if err != nil {
		return ProviderSetting{}, fmt.Errorf("store provider key: %w", err)
	}
	s.Audit(ctx, &userID, "provider.set", provider, Meta{}, nil)
	setting := toSetting(row)
	if keyRemoved {
		setting.KeyRemoved, setting.Message = true, KeyRemovedMessage
	}
	return setting, nil
}

// effectiveBaseURL is where a provider setting sends requests.
func effectiveBaseURL(provider, stored string) string {
	if firstParty(provider) {
		return ""
	}
	return cmp.Or(stored, DefaultBaseURLs[provider])
}

// ListProviders shows every provider, configured or not.
func (s *Service) ListProviders(ctx context.Context, userID uuid.UUID) ([]ProviderSetting, error) {
	rows, err := s.q.ListProviderCredentials(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]ProviderSetting, 0, len(Providers))
	for _, p := range Providers {
		setting := ProviderSetting{Provider: p, BaseURL: DefaultBaseURLs[p]}
		for _, r := range rows {
			if r.Provider == p {
				setting = toSetting(r)
			}
		}
		out = append(out, setting)
	}
	return out, nil
}

// DeleteProvider forgets a provider's key and URL.
func (s *Service) DeleteProvider(ctx context.Context, userID uuid.UUID, provider string) error {
	if !slices.Contains(Providers, provider) {
		return ErrUnknownProvider
	}
	n, err := s.q.DeleteProviderCredential(ctx, db.DeleteProviderCredentialParams{UserID: userID, Provider: provider})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	s.Audit(ctx, &userID, "provider.delete", provider, Meta{}, nil)
	return nil
}

// ProviderKey decrypts a user's key for a provider, for the agent that
// calls it; the key never leaves the server otherwise. baseURL is always ""
// for openai, anthropic and gemini: their endpoint is the official one or
// the administrator's, never one a person stored.
func (s *Service) ProviderKey(ctx context.Context, userID uuid.UUID, provider string) (apiKey, baseURL string, err error) {
	row, err := s.q.GetProviderCredential(ctx, db.GetProviderCredentialParams{UserID: userID, Provider: provider})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", DefaultBaseURLs[provider], ErrNotFound
	} else if err != nil {
		return "", "", err
	}
	if row.APIKey != "" {
		plain, err := s.Ring.Open(row.APIKey, credentialAAD(userID, provider))
		if err != nil {
			return "", "", err
		}
		apiKey = string(plain)
	}
	return apiKey, effectiveBaseURL(provider, row.BaseURL), nil
}

// RotateKey moves every stored secret to a new key in steps that can each
// be interrupted without losing one:
//  1. the key file gains a next key and keeps every key it had (a run
//     after a failed one resumes with the same next key);
//  2. after wait, every running server has read the file (they reread it
//     at least every KeyReloadInterval when they need a key), so each can
//     open what is re-sealed with the next key;
//  3. every secret is re-sealed with the next key, in one transaction;
//  4. only then the next key becomes current. Older keys stay in the file.
//
// With STUDIO_SECRET_KEY the operator has already made the new key current
// (and listed the old one in STUDIO_PREVIOUS_SECRET_KEYS), so only step 3
// runs, with the current key. Rotations take turns.
func (s *Service) RotateKey(ctx context.Context, wait time.Duration) (Key, int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return Key{}, 0, fmt.Errorf("connect for the rotation lock: %w", err)
	}
	defer conn.Release()
	q := db.New(conn)
	if err := q.LockKeyRotation(ctx); err != nil {
		return Key{}, 0, fmt.Errorf("wait for another rotation: %w", err)
	}
	defer func() {
		if q.UnlockKeyRotation(context.WithoutCancel(ctx)) != nil {
			// A closed connection drops its lock; the pool makes a new one.
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	return s.rotateKey(ctx, wait)
}

func (s *Service) rotateKey(ctx context.Context, wait time.Duration) (Key, int, error) {
	if !s.Ring.FromFile() {
		current := s.Ring.Current()
		n, err := s.resealWith(ctx, current)
		return current, n, err
	}
	next, err := s.Ring.BeginRotation()
	if err != nil {
		return Key{}, 0, fmt.Errorf("add the next key: %w", err)
	}
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return Key{}, 0, ctx.Err()
	}
	n, err := s.resealWith(ctx, next)
	if err != nil {
		return Key{}, 0, err
	}
	if err := s.Ring.FinishRotation(next); err != nil {
		return Key{}, 0, fmt.Errorf("make key %s current: %w", next.ID, err)
	}
	return next, n, nil
}

// resealWith re-encrypts every stored secret that key did not seal, in one
// transaction: if any cannot be opened, none changes.
func (s *Service) resealWith(ctx context.Context, key Key) (int, error) {
	n := 0
	err := db.InTx(ctx, s.pool, func(q *db.Queries) error {
		rows, err := q.ListAllSealedCredentials(ctx)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if SealedWith(r.APIKey) == key.ID {
				continue
			}
			aad := credentialAAD(r.UserID, r.Provider)
			plain, err := s.Ring.Open(r.APIKey, aad)
			if err != nil {
				return fmt.Errorf("open the %s key of user %s: %w", r.Provider, r.UserID, err)
			}
			sealed, err := SealWith(key, plain, aad)
			if err != nil {
				return err
			}
			if err := q.UpdateSealedCredential(ctx, db.UpdateSealedCredentialParams{UserID: r.UserID, Provider: r.Provider, APIKey: sealed}); err != nil {
				return err
			}
			n++
		}
		m, err := resealGitHub(ctx, q, s.Ring, key)
		n += m
		if err != nil {
			return err
		}
		m, err = resealProjectEnv(ctx, q, s.Ring, key)
		n += m
		return err
	})
	return n, err
}

// resealGitHub re-encrypts the GitHub tokens key did not seal.
func resealGitHub(ctx context.Context, q *db.Queries, ring *Keyring, key Key) (int, error) {
	rows, err := q.ListAllSealedGitHubTokens(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		sealed := map[string]*string{"access": &r.AccessToken, "refresh": &r.RefreshToken}
		changed := false
		for which, v := range sealed {
			if *v == "" || SealedWith(*v) == key.ID {
				continue
			}
			plain, err := ring.Open(*v, GitHubTokenAAD(r.UserID, which))
			if err != nil {
				return n, fmt.Errorf("open the GitHub %s token of user %s: %w", which, r.UserID, err)
			}
			if *v, err = SealWith(key, plain, GitHubTokenAAD(r.UserID, which)); err != nil {
				return n, err
			}
			changed = true
		}
		if !changed {
			continue
		}
		if err := q.UpdateSealedGitHubTokens(ctx, db.UpdateSealedGitHubTokensParams{UserID: r.UserID, AccessToken: r.AccessToken, RefreshToken: r.RefreshToken}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func toSetting(r db.ProviderCredential) ProviderSetting {
	return ProviderSetting{Provider: r.Provider, Configured: true, BaseURL: effectiveBaseURL(r.Provider, r.BaseURL), KeyHint: r.KeyHint}
}

func keyHint(key string) string {
	if len(key) <= 8 {
		return "…"
	}
	return "…" + key[len(key)-4:]
}
