package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A README is kept per version, searched with the prompt and shown through
// the sanitiser.
func TestAgentReadme(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	readme := "# Quokka helper\n\n**Bold** words, [docs](https://example.com/docs) and [a trap](javascript:alert(1)).\n\n" +
		"<script>alert('x')</script><img src=x onerror=\"alert(2)\"><p style=\"color:red\" onclick=\"alert(3)\">styled</p>"
	id := env.createAgent(alice, map[string]any{"name": "Helper", "system_prompt": "You speak of wombats.", "readme": readme})
	if v := env.item(alice, id)["versions"].([]any)[0].(map[string]any); v["readme"] != readme {
		t.Fatalf("readme kept as %q", v["readme"])
	}
	for _, word := range []string{"quokka", "wombats"} {
		if _, out := env.json("GET", "/api/marketplace/items?q="+word, nil, bearer(alice)...); len(out["items"].([]any)) != 1 {
			t.Errorf("search for %q: %v", word, out)
		}
	}

	b := env.browser()
	b.login("alice@example.com", "a long password")
	res, doc, csrf := b.page("/marketplace/items/" + id)
	box := doc.Find("[data-testid=item-readme]")
	html, _ := box.Html()
	if res.StatusCode != 200 || box.Find("h1").Text() != "Quokka helper" || box.Find("strong").Text() != "Bold" {
		t.Fatalf("readme: %d %s", res.StatusCode, html)
	}
	for _, bad := range []string{"<script", "alert('x')", "onerror", "onclick", "style=", "javascript:"} {
		if strings.Contains(html, bad) {
			t.Errorf("the rendered README has %q: %s", bad, html)
		}
	}
	if rel, _ := box.Find("a[href='https://example.com/docs']").Attr("rel"); !strings.Contains(rel, "noreferrer") {
		t.Errorf("a link's rel is %q: %s", rel, html)
	}

	// The editor shows it and publishes a changed one as the next version;
	// the first version keeps its own.
	_, doc, _ = b.page("/marketplace/agents/" + id + "/edit")
	if doc.Find("#f-readme").Text() != readme {
		t.Fatalf("the editor's README: %q", doc.Find("#f-readme").Text())
	}
	form := url.Values{"csrf_token": {csrf}, "name": {"Helper"}, "system_prompt": {"You speak of wombats."}, "mode": {"tools"},
		"visibility": {"private"}, "readme": {"Now about *numbats*."}}
	if res, doc := b.post("/marketplace/agents/"+id, form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", res.StatusCode, doc.Find("main").Text())
	}
	versions := env.item(alice, id)["versions"].([]any)
	if versions[0].(map[string]any)["readme"] != "Now about *numbats*." || versions[1].(map[string]any)["readme"] != readme {
		t.Fatalf("versions: %v", versions)
	}
	if _, doc, _ = b.page("/marketplace/items/" + id); doc.Find("[data-testid=item-readme] em").Text() != "numbats" {
		t.Fatalf("the page shows %q", doc.Find("[data-testid=item-readme]").Text())
	}
	if _, out := env.json("GET", "/api/marketplace/items?q=quokka", nil, bearer(alice)...); len(out["items"].([]any)) != 0 {
		t.Errorf("search still finds the old README: %v", out)
	}

	// Too long: refused with the field's message, nothing stored.
	long := strings.Repeat("a", 32<<10+1)
	res, out := env.json("PUT", "/api/agents/"+id, map[string]any{"name": "Helper", "system_prompt": "Hi.", "readme": long}, bearer(alice)...)
	if msg, _ := out["error"].(map[string]any)["message"].(string); res.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "more than the 32 KiB a README may have") {
		t.Fatalf("long README: %d %v", res.StatusCode, out)
	}
	if it := env.item(alice, id); it["latest_version"] != 2.0 {
		t.Fatalf("a refused README stored a version: %v", it["latest_version"])
	}
	form.Set("readme", long)
	if res, doc := b.post("/marketplace/agents", form); res.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find("[data-testid=error-readme]").Text(), "32 KiB") {
		t.Fatalf("long README in the editor: %d %s", res.StatusCode, doc.Find("[data-testid=error-readme]").Text())
	}
	if n := env.libraryLen(alice); n != 1 {
		t.Fatalf("a refused agent was stored: %d in the library", n)
	}
}

func TestBundleCarriesReadme(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	bob := env.register("bob@example.com")
	id := env.createAgent(alice, map[string]any{"name": "Docs", "system_prompt": "Be brief.", "readme": "Use me for <docs> & **notes**."})
	_, raw := env.export(alice, id)
	var file struct {
		Agent map[string]any `json:"agent"`
	}
	if err := json.Unmarshal(raw, &file); err != nil || file.Agent["readme"] != "Use me for <docs> & **notes**." {
		t.Fatalf("bundle: %s", raw)
	}
	res, out := env.json("POST", "/api/agents/import", string(raw), bearer(bob)...)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("import: %d %v", res.StatusCode, out)
	}
	if v := out["item"].(map[string]any)["versions"].([]any)[0].(map[string]any); v["readme"] != "Use me for <docs> & **notes**." {
		t.Fatalf("imported README: %v", v["readme"])
	}

	// A bundle written before READMEs (no readme key in its agent, and a
	// digest of that) still imports.
	old := struct {
		Name         string   `json:"name"`
		Description  string   `json:"description"`
		SystemPrompt string   `json:"system_prompt"`
		Tools        []string `json:"tools"`
		Mode         string   `json:"mode"`
		ReadOnly     bool     `json:"read_only"`
		Model        string   `json:"model"`
		Temperature  *float64 `json:"temperature"`
		Icon         string   `json:"icon"`
		Tags         []string `json:"tags"`
	}{Name: "Old", SystemPrompt: "From before.", Tools: []string{"read_file"}, Mode: "tools", Tags: []string{}}
	agent, _ := json.Marshal(old)
	sum := sha256.Sum256(agent)
	bundle := `{"format":"studio-agent","format_version":1,"agent":` + string(agent) +
		`,"source":{"item_id":"old-1","version":1,"exported_at":"2026-01-01T00:00:00Z"},"sha256":"` + hex.EncodeToString(sum[:]) + `"}`
	res, out = env.json("POST", "/api/agents/import", bundle, bearer(bob)...)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("old bundle: %d %v", res.StatusCode, out)
	}
	if v := out["item"].(map[string]any)["versions"].([]any)[0].(map[string]any); v["readme"] != "" || v["system_prompt"] != "From before." {
		t.Fatalf("old bundle imported as %v", v)
	}
}
