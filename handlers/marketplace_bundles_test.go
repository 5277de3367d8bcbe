package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"studio/agents"
	pt "studio/agents/providers/providertest"
)

// export downloads an item's bundle as the raw file.
func (e *testEnv) export(token, id string) (*http.Response, []byte) {
	e.t.Helper()
	res, body := e.do("GET", "/api/marketplace/items/"+id+"/bundle?pretty", nil, bearer(token)...)
	return res, []byte(body)
}

func (e *testEnv) libraryLen(token string) int {
	e.t.Helper()
	_, lib := e.json("GET", "/api/marketplace/library", nil, bearer(token)...)
	return len(lib["items"].([]any))
}

func TestBundleRoundTrip(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	id := env.createAgent(alice, map[string]any{
		"name": "Otter <reviewer>", "description": "Reads & reviews.", "tags": []string{"review"}, "icon": "🦦",
		"system_prompt": "You answer only about otters & rivers.", "tools": []string{"read_file", "list_files"}, "temperature": 0.3,
	})
	res, raw := env.export(alice, id)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Disposition") != `attachment; filename="`+id+`.studio-agent.json"` {
		t.Fatalf("export: %d %q %s", res.StatusCode, res.Header.Get("Content-Disposition"), raw)
	}
	// The digest is the SHA-256 of the agent object exactly as written.
	var file struct {
		Format        string          `json:"format"`
		FormatVersion int             `json:"format_version"`
		Agent         json.RawMessage `json:"agent"`
		Source        map[string]any  `json:"source"`
		SHA256        string          `json:"sha256"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(file.Agent)
	if file.Format != "studio-agent" || file.FormatVersion != 1 || file.SHA256 != hex.EncodeToString(sum[:]) ||
		file.Source["item_id"] != id || file.Source["version"] != 1.0 || file.Source["exported_at"] == "" {
		t.Fatalf("bundle: %s", raw)
	}

	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	bob, project := env.agentUser("bob@example.com", "openai", "static", fake)
	res, out := env.json("POST", "/api/agents/import", string(raw), bearer(bob)...)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("import: %d %v", res.StatusCode, out)
	}
	it := out["item"].(map[string]any)
	v := it["versions"].([]any)[0].(map[string]any)
	if it["id"] == id || it["visibility"] != "private" || it["mine"] != true || it["forked_from"] != nil || it["name"] != "Otter <reviewer>" ||
		v["system_prompt"] != "You answer only about otters & rivers." || v["mode"] != "tools" || v["temperature"] != 0.3 ||
		strings.Join(toStrings(v["tools"]), ",") != "list_files,read_file" {
		t.Fatalf("imported: %v", it)
	}
	newID := it["id"].(string)
	fake.Push(pt.Say("Otters hold hands"))
	run := env.chat(bob, project, map[string]any{"message": "Hi", "agent_id": newID, "model": "openai/gpt-4o-mini"})
	if r := env.waitStatus(bob, run, "succeeded"); r["agent_id"] != newID {
		t.Fatalf("run: %v", r)
	}
	if system, tools := systemAndTools(fake.Requests()[0]); !strings.Contains(system, "only about otters") || strings.Join(tools, ",") != "list_files,read_file" {
		t.Fatalf("the provider got %q %v", system, tools)
	}
	// Alice sees nothing of Bob's copy.
	if res, _ := env.json("GET", "/api/marketplace/items/"+newID, nil, bearer(alice)...); res.StatusCode != http.StatusNotFound {
		t.Fatalf("alice sees bob's import: %d", res.StatusCode)
	}

	// Another user's private agent has no bundle; a published one does, and
	// its import records where it came from.
	if res, body := env.export(bob, id); res.StatusCode != http.StatusNotFound {
		t.Fatalf("bob exported alice's private agent: %d %s", res.StatusCode, body)
	}
	shared := env.createAgent(alice, map[string]any{"name": "Shared", "system_prompt": "Be brief.", "visibility": "instance"})
	_, raw = env.export(bob, shared)
	if res, out := env.json("POST", "/api/agents/import", string(raw), bearer(bob)...); res.StatusCode != http.StatusCreated ||
		out["item"].(map[string]any)["forked_from"] != shared || out["item"].(map[string]any)["visibility"] != "private" {
		t.Fatalf("import of a published agent: %d %v", res.StatusCode, out)
	}

	// A hidden agent is exported by its owner only, as it is forked.
	env.json("POST", "/api/marketplace/items/"+shared+"/install", nil, bearer(bob)...)
	if res, out := env.json("POST", "/api/admin/marketplace/items/"+shared+"/hide", map[string]any{"reason": "Test."}, bearer(alice)...); res.StatusCode != http.StatusNoContent {
		t.Fatalf("hide: %d %v", res.StatusCode, out)
	}
	if res, body := env.export(bob, shared); res.StatusCode != http.StatusConflict || !strings.Contains(string(body), "item_hidden") {
		t.Fatalf("bob exported a hidden agent: %d %s", res.StatusCode, body)
	}
	if res, _ := env.export(alice, shared); res.StatusCode != http.StatusOK {
		t.Fatalf("the owner's export of a hidden agent: %d", res.StatusCode)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// bundleJSON is a bundle of the agent with its digest, then changed by mutate.
func bundleJSON(a agents.BundleAgent, mutate func(*agents.Bundle)) string {
	b := agents.Bundle{Format: "studio-agent", FormatVersion: 1, Agent: a, SHA256: a.Digest()}
	if mutate != nil {
		mutate(&b)
	}
	out, _ := json.Marshal(b)
	return string(out)
}

func TestBundleImportRefusals(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	bob := env.register("bob@example.com")
	good := agents.BundleAgent{Name: "Good", SystemPrompt: "Help.", Tools: []string{"read_file"}}
	cases := []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"tampered", bundleJSON(good, func(b *agents.Bundle) { b.Agent.SystemPrompt = "Delete everything." }), 400, "digest_mismatch", "The bundle's digest does not match its contents."},
		{"format", bundleJSON(good, func(b *agents.Bundle) { b.Format = "other" }), 400, "bad_bundle", `"format"`},
		{"version", bundleJSON(good, func(b *agents.Bundle) { b.FormatVersion = 2 }), 400, "bad_bundle", `"format_version"`},
		{"oversized", bundleJSON(agents.BundleAgent{Name: "Big", SystemPrompt: strings.Repeat("x", 200<<10)}, nil), 413, "too_large", "160 KiB"},
		{"malformed", `{"format": "studio-agent",`, 400, "bad_json", ""},
		{"unknown tool", bundleJSON(agents.BundleAgent{Name: "Bad", SystemPrompt: "Help.", Tools: []string{"rm_rf"}}, nil), 400, "invalid_field", "not one of studio's tools"},
		{"read-only writer", bundleJSON(agents.BundleAgent{Name: "Bad", SystemPrompt: "Help.", ReadOnly: true, Tools: []string{"read_file", "write_file"}}, nil), 400, "invalid_field", "a read-only agent cannot have write_file"},
		{"no prompt", bundleJSON(agents.BundleAgent{Name: "Bad"}, nil), 400, "invalid_field", "system_prompt"},
	}
	for _, c := range cases {
		res, out := env.json("POST", "/api/agents/import", c.body, bearer(bob)...)
		msg, _ := out["error"].(map[string]any)["message"].(string)
		if res.StatusCode != c.status || errorCode(out) != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %d %v", c.name, res.StatusCode, out)
		}
	}
	if n := env.libraryLen(bob); n != 0 {
		t.Fatalf("refused imports stored %d agents", n)
	}
	if res, out := env.json("POST", "/api/agents/import", bundleJSON(good, nil), bearer(bob)...); res.StatusCode != http.StatusCreated {
		t.Fatalf("a good bundle: %d %v", res.StatusCode, out)
	}
}

// upload submits the library's import form with a file.
func (b *browser) upload(csrf, file string) (*http.Response, *goquery.Document) {
	b.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("csrf_token", csrf)
	fw, _ := w.CreateFormFile("bundle", "agent.studio-agent.json")
	_, _ = fw.Write([]byte(file))
	_ = w.Close()
	res, text := b.do("POST", "/marketplace/agents/import", &body, "Content-Type", w.FormDataContentType())
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(text))
	return res, doc
}

func TestBundlePages(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	b.signup("bob@example.com")
	_, doc, csrf := b.page("/marketplace/library")
	if doc.Find("[data-testid=import-form] input[type=file][name=bundle]").Length() != 1 {
		t.Fatal("the library has no import form")
	}
	good := agents.BundleAgent{Name: "Imported", SystemPrompt: "Help.", Tools: []string{"read_file"}}
	res, doc := b.upload(csrf, bundleJSON(good, func(b *agents.Bundle) { b.Agent.Name = "Changed" }))
	if res.StatusCode != http.StatusBadRequest || doc.Find("[data-testid=library]").Length() != 1 ||
		doc.Find("[data-testid=import-error]").Text() != "The bundle's digest does not match its contents." {
		t.Fatalf("tampered upload: %d %s", res.StatusCode, doc.Find("main").Text())
	}
	if res, doc = b.upload(csrf, "not json"); res.StatusCode != http.StatusBadRequest || doc.Find("[data-testid=import-error]").Text() == "" {
		t.Fatalf("malformed upload: %d %s", res.StatusCode, doc.Text())
	}
	res, _ = b.upload(csrf, bundleJSON(good, nil))
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/marketplace/items/imported-") {
		t.Fatalf("upload: %d %q", res.StatusCode, loc)
	}
	_, doc, _ = b.page(loc)
	id := strings.TrimPrefix(loc, "/marketplace/items/")
	if href, _ := doc.Find("[data-testid=export]").Attr("href"); href != loc+"/bundle" {
		t.Fatalf("export link: %q", href)
	}
	if res, body := b.do("GET", loc+"/bundle", nil); res.StatusCode != http.StatusOK || !strings.Contains(body, `"studio-agent"`) ||
		!strings.Contains(res.Header.Get("Content-Disposition"), id+".studio-agent.json") {
		t.Fatalf("export from the browser: %d %s", res.StatusCode, body)
	}
	if _, doc, _ = b.page("/marketplace/library"); doc.Find("[data-testid=library-items] a[href='"+loc+"']").Length() == 0 {
		t.Fatalf("library: %s", doc.Find("[data-testid=library-items]").Text())
	}
}
