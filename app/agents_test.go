package app

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"studio/config"
	"studio/netguard"
)

// TestRefusedEndpointsAreReportedAtStart: an administrator who points a
// provider at an internal address without allowing it learns so at start,
// not from the first failed run.
func TestRefusedEndpointsAreReportedAtStart(t *testing.T) {
	cfg, err := config.Load("serve", nil, func(k string) string {
		return map[string]string{
			"STUDIO_OPENAI_BASE_URL":       "http://10.0.0.5:4000/v1",
			"STUDIO_OPENAI_COMPATIBLE_URL": "http://192.168.1.20:4000/v1",
			"STUDIO_PROVIDER_ALLOW":        "192.168.1.20:4000,127.0.0.1:11434",
			"STUDIO_OLLAMA_URL":            "http://127.0.0.1:11434/v1",
		}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	allow, _ := cfg.ProviderAllowList()
	var logs bytes.Buffer
	warnRefusedEndpoints(t.Context(), netguard.NewDialer(allow), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	out := logs.String()
	if !strings.Contains(out, "STUDIO_OPENAI_BASE_URL") || !strings.Contains(out, "10.0.0.5:4000 is a private address") {
		t.Fatalf("the refused endpoint was not reported:\n%s", out)
	}
	if strings.Contains(out, "STUDIO_OPENAI_COMPATIBLE_URL") || strings.Contains(out, "STUDIO_OLLAMA_URL") {
		t.Fatalf("an allowed endpoint was reported:\n%s", out)
	}
}
