package providertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"studio/agents/providers"
)

// An endless answer stops at the request's byte cap, with what arrived so
// far delivered and no more than the cap held.
func TestEndlessStreamStopsAtTheByteCap(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	piece := strings.Repeat("x", 100)
	for _, provider := range wireProviders {
		for _, inArgs := range []bool{false, true} {
			if inArgs && provider == "gemini" {
				continue // Gemini sends calls whole
			}
			name := provider
			if inArgs {
				name += "/args"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv, p := start(t, provider)
				turn := Forever(piece)
				if inArgs {
					turn = ForeverArgs(piece)
				}
				srv.Push(turn)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				req := providers.Request{Model: models[provider], Messages: []providers.Message{{Role: providers.RoleUser, Text: "hi"}}, MaxBytes: limit}
				text, err := streamText(ctx, p, req)
				if ctx.Err() != nil {
					t.Fatal("the stream was not stopped at its cap")
				}
				if !errors.Is(err, providers.ErrTooLong) {
					t.Fatalf("err = %v, want ErrTooLong", err)
				}
				if len(text) > limit {
					t.Errorf("%d bytes of text delivered, over the cap of %d", len(text), limit)
				}
				if !inArgs && len(text) < limit-2*len(piece) {
					t.Errorf("only %d bytes delivered before the cap of %d", len(text), limit)
				}
			})
		}
	}
}

// streamText drains a turn and returns its text.
func streamText(ctx context.Context, p *providers.Provider, req providers.Request) (string, error) {
	s, err := p.Stream(ctx, req)
	if err != nil {
		return "", err
	}
	defer s.Close()
	var b strings.Builder
	for s.Next() {
		if ev := s.Event(); ev.Kind == providers.EventText {
			b.WriteString(ev.Text)
		}
	}
	return b.String(), s.Err()
}
