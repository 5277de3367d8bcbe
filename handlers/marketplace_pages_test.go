package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestMarketplacePages(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.browser()
	alice.signup("alice@example.com")

	_, doc, _ := alice.page("/")
	if doc.Find("nav a[href='/marketplace']").Length() != 1 {
		t.Fatal("no marketplace link in the nav")
	}
	res, doc, csrf := alice.page("/marketplace/agents/new")
	if res.StatusCode != 200 || doc.Find("[data-testid=agent-form] input[name=tools]").Length() != 10 || doc.Find("[data-testid=visibility-instance]").Length() != 1 {
		t.Fatalf("editor: %d %s", res.StatusCode, doc.Find("main").Text())
	}

	// A tool outside the built-in set: the editor comes back with what was
	// typed and says what is wrong.
	form := url.Values{"csrf_token": {csrf}, "name": {"Tidy <b>bot</b>"}, "icon": {"🧹"}, "description": {"Keeps <i>things</i> tidy."},
		"system_prompt": {"You tidy code & explain why."}, "tools": {"read_file", "shell"}, "mode": {"tools"}, "tags": {"cleanup, Style"},
		"temperature": {"0.3"}, "visibility": {"instance"}}
	res, doc = alice.post("/marketplace/agents", form)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find("[data-testid=error-tools]").Text(), `"shell" is not one of studio's tools`) {
		t.Fatalf("bad tool: %d %s", res.StatusCode, doc.Find("main").Text())
	}
	kept := map[string]string{
		"#f-name": "Tidy <b>bot</b>", "#f-icon": "🧹", "#f-tags": "cleanup, Style", "#f-temperature": "0.3",
	}
	for sel, want := range kept {
		if got, _ := doc.Find(sel).Attr("value"); got != want {
			t.Errorf("%s kept %q, want %q", sel, got, want)
		}
	}
	if got := doc.Find("#f-system_prompt").Text(); got != "You tidy code & explain why." {
		t.Errorf("prompt kept %q", got)
	}
	if doc.Find("[data-testid=tool-read_file]:checked").Length() != 1 || doc.Find("[data-testid=visibility-instance]:checked").Length() != 1 {
		t.Error("the checked tool or the visibility was lost")
	}
	form.Set("name", "")
	form["tools"] = []string{"read_file"}
	if res, doc = alice.post("/marketplace/agents", form); res.StatusCode != http.StatusBadRequest || doc.Find("[data-testid=error-name]").Text() != "give the agent a name" {
		t.Fatalf("empty name: %d %s", res.StatusCode, doc.Find("main").Text())
	}

	form.Set("name", "Tidy <b>bot</b>")
	form.Set("temperature", "NaN")
	if res, doc = alice.post("/marketplace/agents", form); res.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find("[data-testid=error-temperature]").Text(), "from 0 to 2") {
		t.Fatalf("NaN temperature: %d %s", res.StatusCode, doc.Find("main").Text())
	}
	form.Set("temperature", "0.3")
	res, _ = alice.post("/marketplace/agents", form)
	item := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(item, "/marketplace/items/tidy-b-bot-b-") {
		t.Fatalf("create: %d %s", res.StatusCode, item)
	}
	res, body := alice.do("GET", item, nil)
	if res.StatusCode != 200 || strings.Contains(body, "<b>bot</b>") || !strings.Contains(body, "Tidy &lt;b&gt;bot&lt;/b&gt;") || !strings.Contains(body, "Keeps &lt;i&gt;things&lt;/i&gt; tidy.") {
		t.Fatalf("item page is not escaped: %d", res.StatusCode)
	}
	_, doc, _ = alice.page(item)
	if doc.Find("[data-testid=edit]").Length() != 1 || doc.Find("[data-testid=install]").Length() != 0 || doc.Find("[data-testid=rating-form]").Length() != 0 {
		t.Fatalf("owner's actions: %s", doc.Find("main").Text())
	}

	// Editing publishes version 2 and keeps version 1.
	id := strings.TrimPrefix(item, "/marketplace/items/")
	_, doc, csrf = alice.page("/marketplace/agents/" + id + "/edit")
	if got, _ := doc.Find("#f-temperature").Attr("value"); got != "0.3" || doc.Find("#f-system_prompt").Text() != "You tidy code & explain why." {
		t.Fatalf("editor of an agent: %q %s", got, doc.Find("#f-system_prompt").Text())
	}
	form.Set("csrf_token", csrf)
	form.Set("system_prompt", "You tidy code, version two.")
	if res, _ = alice.post("/marketplace/agents/"+id, form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", res.StatusCode)
	}
	_, doc, _ = alice.page(item)
	if doc.Find("[data-testid=versions] li").Length() != 2 || !strings.Contains(doc.Find("[data-testid=agent-prompt]").Text(), "version two") {
		t.Fatalf("versions: %s", doc.Find("main").Text())
	}

	// Bob finds it, installs it, rates it; his library shows it.
	bob := env.browser()
	bob.signup("bob@example.com")
	_, doc, _ = bob.page("/marketplace?q=tidy&sort=installs")
	if doc.Find("[data-testid=market-item]").Length() != 1 || doc.Find("[data-testid=item-name]").Text() != "Tidy <b>bot</b>" {
		t.Fatalf("search: %s", doc.Find("main").Text())
	}
	res, frag := bob.do("GET", "/marketplace?q=nothing-like-it", nil, "HX-Request", "true", "HX-Target", "market-results")
	if res.StatusCode != 200 || strings.Contains(frag, "<html") || !strings.Contains(frag, `data-testid="market-empty"`) {
		t.Fatalf("htmx results: %d %s", res.StatusCode, frag)
	}
	_, doc, csrf = bob.page(item)
	if doc.Find("[data-testid=install]").Length() != 1 || doc.Find("[data-testid=edit]").Length() != 0 {
		t.Fatalf("bob's actions: %s", doc.Find("main").Text())
	}
	if res, _ = bob.post(item+"/install", url.Values{"csrf_token": {csrf}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != item {
		t.Fatalf("install: %d", res.StatusCode)
	}
	if res, _ = bob.post(item+"/rate", url.Values{"csrf_token": {csrf}, "stars": {"4"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("rate: %d", res.StatusCode)
	}
	_, doc, _ = bob.page(item)
	if doc.Find("[data-testid=uninstall]").Length() != 1 || doc.Find("[data-testid=item-installs]").Text() != "1 install" || !strings.Contains(doc.Find("[data-testid=item-rating]").Text(), "4.0 ★ (1)") {
		t.Fatalf("after install and rating: %s", doc.Find("main").Text())
	}
	_, doc, _ = bob.page("/marketplace/library")
	if doc.Find("[data-testid=library-items] [data-testid=market-item]").Length() != 1 || doc.Find("[data-testid=update-available]").Length() != 0 {
		t.Fatalf("library: %s", doc.Find("main").Text())
	}

	// A new version shows as an update in Bob's library.
	form.Set("system_prompt", "You tidy code, version three.")
	alice.post("/marketplace/agents/"+id, form)
	_, doc, _ = bob.page("/marketplace/library")
	if doc.Find("[data-testid=update-available]").Length() != 1 || doc.Find("[data-testid=update]").Length() != 1 {
		t.Fatalf("no update shown: %s", doc.Find("main").Text())
	}

	// Bob forks it into his own private copy and lands in its editor.
	res, _ = bob.post(item+"/fork", url.Values{"csrf_token": {csrf}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(loc, "/edit") {
		t.Fatalf("fork: %d %s", res.StatusCode, loc)
	} else if _, doc, _ = bob.page(loc); doc.Find("#f-name").AttrOr("value", "") != "Tidy <b>bot</b> (fork)" {
		t.Fatalf("fork editor: %s", doc.Find("main").Text())
	}
	// Bob cannot edit Alice's agent.
	if res, _ := bob.do("GET", "/marketplace/agents/"+id+"/edit", nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("bob edits alice's agent: %d", res.StatusCode)
	}
}

func TestPrivateAgentPageIsNotFound(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.browser()
	alice.signup("alice@example.com")
	_, _, csrf := alice.page("/marketplace/agents/new")
	res, _ := alice.post("/marketplace/agents", url.Values{"csrf_token": {csrf}, "name": {"Hidden"}, "system_prompt": {"secret"}, "visibility": {"private"}})
	item := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", res.StatusCode)
	}
	bob := env.browser()
	bob.signup("bob@example.com")
	id := strings.TrimPrefix(item, "/marketplace/items/")
	for _, path := range []string{item, "/marketplace/agents/" + id + "/edit"} {
		if res, body := bob.do("GET", path, nil); res.StatusCode != http.StatusNotFound || strings.Contains(body, "secret") {
			t.Errorf("GET %s: %d", path, res.StatusCode)
		}
	}
	_, _, csrf = bob.page("/marketplace")
	for _, action := range []string{"install", "rate", "fork", "delete"} {
		if res, _ := bob.post(item+"/"+action, url.Values{"csrf_token": {csrf}, "stars": {"5"}}); res.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: %d", action, res.StatusCode)
		}
	}
	if _, doc, _ := bob.page("/marketplace?q=hidden"); doc.Find("[data-testid=market-item]").Length() != 0 {
		t.Error("bob finds alice's private agent")
	}
}
