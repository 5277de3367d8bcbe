package handlers

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	pt "studio/agents/providers/providertest"
)

// TestAPIKeysCannotBeRedirected: a stored key for a first-party provider
// cannot be pointed elsewhere, and moving a gateway's address drops its key.
func TestAPIKeysCannotBeRedirected(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	for _, provider := range []string{"openai", "anthropic", "gemini"} {
		if res, body := env.json("PUT", "/api/settings/providers/"+provider, map[string]string{"api_key": "sk-real-key-1234"}, bearer(alice)...); res.StatusCode != 200 {
			t.Fatalf("%s key: %d %v", provider, res.StatusCode, body)
		}
		res, body := env.json("PUT", "/api/settings/providers/"+provider, map[string]string{"base_url": "https://elsewhere.example/v1"}, bearer(alice)...)
		e, _ := body["error"].(map[string]any)
		if res.StatusCode != 422 || e["code"] != "base_url_not_allowed" ||
			e["message"] != provider+" always uses its official endpoint; a custom address is only for ollama and openai_compatible" {
			t.Fatalf("%s base_url: %d %v", provider, res.StatusCode, body)
		}
	}
	if _, text := env.do("GET", "/api/settings/providers", nil, bearer(alice)...); strings.Contains(text, "elsewhere") {
		t.Fatalf("a refused address was stored: %s", text)
	}

	put := func(body map[string]string) map[string]any {
		res, out := env.json("PUT", "/api/settings/providers/openai_compatible", body, bearer(alice)...)
		if res.StatusCode != 200 {
			t.Fatalf("put %v: %d %v", body, res.StatusCode, out)
		}
		return out
	}
	if out := put(map[string]string{"api_key": "sk-gateway-1234", "base_url": "https://gateway.example/v1"}); out["key_removed"] != nil || out["key_hint"] != "…1234" {
		t.Fatalf("first save: %v", out)
	}
	out := put(map[string]string{"base_url": "https://attacker.example/v1"})
	if out["key_removed"] != true || out["key_hint"] != "" || out["message"] != "the key was removed because the address changed" {
		t.Fatalf("address change kept the key: %v", out)
	}
}

func TestSettingsFormRefusesAddressesAndSaysWhenAKeyIsRemoved(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	b.signup("a@example.com")
	_, _, token := b.page("/settings")

	res, doc := b.post("/settings/providers/openai", url.Values{"csrf_token": {token}, "api_key": {"sk-secret-value-9876"}, "base_url": {"https://elsewhere.example/v1"}})
	row := doc.Find("[data-testid=provider-openai]")
	if res.StatusCode != 422 || !strings.Contains(row.Find("[data-testid=form-error]").Text(), "openai always uses its official endpoint") {
		t.Fatalf("openai with a base URL: %d %q", res.StatusCode, row.Text())
	}
	if strings.Contains(doc.Text(), "…9876") {
		t.Fatal("the key was saved with the refused address")
	}

	res, doc = b.post("/settings/providers/ollama", url.Values{"csrf_token": {token}, "base_url": {"ftp://typed.example"}})
	if v, _ := doc.Find("#url-ollama").Attr("value"); res.StatusCode != 422 || v != "ftp://typed.example" {
		t.Fatalf("a refused address is not kept in the form: %d %q", res.StatusCode, v)
	}

	if res, _ := b.post("/settings/providers/openai_compatible", url.Values{"csrf_token": {token}, "api_key": {"sk-gateway-1234"}, "base_url": {"https://gateway.example/v1"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d", res.StatusCode)
	}
	res, _ = b.post("/settings/providers/openai_compatible", url.Values{"csrf_token": {token}, "base_url": {"https://moved.example/v1"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("move: %d", res.StatusCode)
	}
	_, doc, _ = b.page(res.Header.Get("Location"))
	if got := doc.Find("[data-testid=provider-openai_compatible] [data-testid=notice]").Text(); got != "The key was removed because the address changed." {
		t.Fatalf("notice %q", got)
	}
	// The same with HTMX: the row comes back with the notice.
	b.post("/settings/providers/openai_compatible", url.Values{"csrf_token": {token}, "api_key": {"sk-gateway-5678"}})
	_, doc = b.post("/settings/providers/openai_compatible", url.Values{"csrf_token": {token}, "base_url": {"https://again.example/v1"}}, "HX-Request", "true")
	if got := doc.Find("[data-testid=notice]").Text(); got != "The key was removed because the address changed." {
		t.Fatalf("HTMX notice %q", got)
	}
}

// TestConnectionReportsOnlyACategory runs "Test connection" against fake
// servers on 127.0.0.1 (allowed in the test configuration) and against
// internal addresses that must be refused before any connection is made.
func TestConnectionReportsOnlyACategory(t *testing.T) {
	t.Parallel()
	const secret = "internal-detail-5521"
	var stolen atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stolen.Add(1) }))
	defer thief.Close()
	serve := func(h http.HandlerFunc) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL + "/v1"
	}
	cases := []struct{ name, baseURL, want string }{
		{"works", serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"object":"list","data":[{"id":"m","object":"model"}]}`)
		}), "connected (1 models)"},
		{"401", serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"message":"%s"}}`, secret)
		}), "the key was rejected by openai_compatible"},
		{"html", serve(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "<html><p>%s</p></html>", secret) }),
			"this is not an OpenAI-compatible server"},
		{"307", serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, thief.URL+"/"+secret, http.StatusTemporaryRedirect)
		}), "the server answered with a redirect"},
		{"metadata", "http://169.254.169.254/v1", "this address is not allowed (ask the administrator to add it to STUDIO_PROVIDER_ALLOW)"},
		{"private", "http://10.1.2.3:4000/v1", "this address is not allowed (ask the administrator to add it to STUDIO_PROVIDER_ALLOW)"},
		{"other loopback", "http://127.0.0.2:2375/v1", "this address is not allowed (ask the administrator to add it to STUDIO_PROVIDER_ALLOW)"},
	}
	env := newEnv(t)
	b := env.browser()
	b.signup("a@example.com")
	_, _, token := b.page("/settings")
	for _, tc := range cases {
		b.post("/settings/providers/openai_compatible", url.Values{"csrf_token": {token}, "api_key": {"sk-test-key-0000"}, "base_url": {tc.baseURL}})
		_, doc := b.post("/settings/providers/openai_compatible/test", url.Values{"csrf_token": {token}})
		if got := doc.Find("[data-testid=test-result]").Text(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if strings.Contains(doc.Text(), secret) {
			t.Errorf("%s: the page repeats what the server said", tc.name)
		}
	}
	if stolen.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

// TestRunsReachOnlyAllowedAddresses: a run's provider calls go through the
// same guarded client: an address on the private network fails the run at
// once, an allowed fake on 127.0.0.1 answers.
func TestRunsReachOnlyAllowedAddresses(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	token, project := env.agentUser("a@example.com", "openai_compatible", "static", nil)
	if res, body := env.json("PUT", "/api/settings/providers/openai_compatible", map[string]string{"api_key": "sk-fake-key-1234", "base_url": "http://10.1.2.3:4000/v1"}, bearer(token)...); res.StatusCode != 200 {
		t.Fatalf("configure: %d %v", res.StatusCode, body)
	}
	run := env.chat(token, project, map[string]any{"message": "hi", "model": "openai_compatible/gateway-model"})
	d := last(env.stream(token, run, 0, nil))
	errText, _ := d.Data["error"].(string)
	if d.Data["status"] != "failed" || !strings.Contains(errText, "10.1.2.3:4000 is a private address: this address is not allowed (ask the administrator to add it to STUDIO_PROVIDER_ALLOW)") {
		t.Fatalf("run against a private address ended %v", d.Data)
	}

	fake := env.fakeProvider(token, "openai_compatible")
	fake.Push(pt.Say("hello from the gateway"))
	run = env.chat(token, project, map[string]any{"message": "hi", "model": "openai_compatible/gateway-model"})
	if d := last(env.stream(token, run, 0, nil)); d.Data["status"] != "succeeded" {
		t.Fatalf("run against the allowed fake ended %v", d.Data)
	}
}
