package handlers

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"studio/config"
)

// TestPreviewDomain: every preview address studio hands out — the project
// url, signed preview links, share links, the workspace's frame and the
// frame-src it is allowed — is on STUDIO_PREVIEW_DOMAIN.
func TestPreviewDomain(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(c *config.Config, _ *Deps) { c.PreviewDomain = "preview.localhost" })
	token := env.register("ada@example.com")
	res, body := env.json("POST", "/api/projects", map[string]string{"name": "Shop", "template": "static"}, bearer(token)...)
	if res.StatusCode != 202 {
		t.Fatalf("create: %d %v", res.StatusCode, body)
	}
	p := body["project"].(map[string]any)
	id := p["id"].(string)
	onPreviewDomain := func(what, u string) {
		t.Helper()
		if !strings.HasPrefix(u, "http://shop.preview.localhost:") {
			t.Errorf("%s is not on the preview domain: %q", what, u)
		}
	}
	onPreviewDomain("project url", p["url"].(string))
	_, body = env.json("GET", "/api/projects/"+id, nil, bearer(token)...)
	onPreviewDomain("project url (GET)", body["project"].(map[string]any)["url"].(string))
	_, body = env.json("POST", "/api/projects/"+id+"/preview-link", nil, bearer(token)...)
	apiLink := body["url"].(string)
	onPreviewDomain("API preview link", apiLink)
	_, body = env.json("POST", "/api/projects/"+id+"/share", nil, bearer(token)...)
	onPreviewDomain("share link", body["url"].(string))

	b := env.browser()
	if res := b.login("ada@example.com", "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	res, doc, _ := b.page("/projects/" + id)
	if res.StatusCode != 200 {
		t.Fatalf("workspace: %d", res.StatusCode)
	}
	frameURL, _ := doc.Find("[data-testid=workspace]").Attr("data-preview-url")
	onPreviewDomain("workspace preview url", frameURL)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src http://*.preview.localhost:* https://*.preview.localhost:*") {
		t.Errorf("CSP frame-src: %q", csp)
	}
	res, _ = b.do("GET", "/projects/"+id+"/preview", nil)
	pageLink := res.Header.Get("Location")
	onPreviewDomain("dashboard's open-preview link", pageLink)

	// A link made in a browser names its session, so the grant ends with
	// it; one made for an API client names none.
	if s := linkSession(t, pageLink); s == "" || s == "00000000-0000-0000-0000-000000000000" {
		t.Errorf("a browser's preview link names no session: %q", s)
	}
	if s := linkSession(t, apiLink); s != "00000000-0000-0000-0000-000000000000" {
		t.Errorf("an API client's preview link names a session: %q", s)
	}
}

// linkSession reads the session a signed preview link names.
func linkSession(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(u.Query().Get("token"), ".")
	if len(parts) != 3 {
		t.Fatalf("link token: %q", link)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Session string `json:"s"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Session
}
