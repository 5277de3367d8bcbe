package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	pt "studio/agents/providers/providertest"
)

// "Try it on a project" opens the workspace with the agent chosen, and the
// run's footer names the agent and version that answered.
func TestTryAgentOnProject(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	id := env.createAgent(alice, map[string]any{"name": "Reviewer bot", "system_prompt": "Review.", "tools": []string{"read_file"}, "visibility": "instance"})
	private := env.createAgent(alice, map[string]any{"name": "Secret", "system_prompt": "Hush."})
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	bob, project := env.agentUser("bob@example.com", "openai", "static", fake)
	b := env.browser()
	b.login("bob@example.com", "a long password")

	// Not installed: not Bob's to try.
	if _, doc, _ := b.page("/marketplace/items/" + id); doc.Find("[data-testid=try-form]").Length() != 0 {
		t.Fatal("a try form for an agent bob cannot use")
	}
	env.json("POST", "/api/marketplace/items/"+id+"/install", nil, bearer(bob)...)
	_, doc, csrf := b.page("/marketplace/items/" + id)
	if doc.Find("[data-testid=try-project] option[value='"+project+"']").Length() != 1 {
		t.Fatalf("the try form: %s", doc.Find("[data-testid=try-form]").Text())
	}
	res, _ := b.post("/marketplace/items/"+id+"/try", url.Values{"csrf_token": {csrf}, "project": {project}})
	want := "/projects/" + project + "?agent=" + id
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
		t.Fatalf("try: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	selected := func(path string) string {
		t.Helper()
		res, doc, _ := b.page(path)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, res.StatusCode)
		}
		v, _ := doc.Find("[data-testid=chat-agent] option[selected]").Attr("value")
		return v
	}
	if got := selected(want); got != id {
		t.Fatalf("the picker chose %q", got)
	}
	// An agent bob cannot use is ignored, as is one that does not exist.
	for _, other := range []string{private, "nope"} {
		if got := selected("/projects/" + project + "?agent=" + other); got != "" {
			t.Fatalf("?agent=%s chose %q", other, got)
		}
	}
	if res, _ := b.post("/marketplace/items/"+id+"/try", url.Values{"csrf_token": {csrf}, "project": {"not-a-project"}}); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("a bad project: %d", res.StatusCode)
	}

	// A new project made for it.
	res, _ = b.post("/marketplace/items/"+id+"/try", url.Values{"csrf_token": {csrf}, "project": {"new"}, "name": {"Try Reviewer bot"}, "template": {"static"}})
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(loc, "?agent="+id) || strings.Contains(loc, project) {
		t.Fatalf("try on a new project: %d %q", res.StatusCode, loc)
	}
	_, list := env.json("GET", "/api/projects", nil, bearer(bob)...)
	if n := len(list["projects"].([]any)); n != 2 {
		t.Fatalf("bob has %d projects", n)
	}

	// The owner's editor offers it too.
	a := env.browser()
	a.login("alice@example.com", "a long password")
	if _, doc, _ := a.page("/marketplace/agents/" + id + "/edit"); doc.Find("[data-testid=try-form]").Length() != 1 {
		t.Fatal("no try form in the editor")
	}

	// The run says which agent and version answered, in its JSON and its
	// footer, and keeps saying it after the agent is renamed.
	fake.Push(pt.Say("Looks good"))
	run := env.chat(bob, project, map[string]any{"message": "Review", "agent_id": id, "model": "openai/gpt-4o-mini"})
	if r := env.waitStatus(bob, run, "succeeded"); r["agent_name"] != "Reviewer bot" || r["agent_version"] != 1.0 {
		t.Fatalf("run: %v", r)
	}
	env.json("PUT", "/api/agents/"+id, map[string]any{"name": "Renamed", "system_prompt": "Review.", "visibility": "instance"}, bearer(alice)...)
	_, doc, _ = b.page("/projects/" + project)
	if got := doc.Find("[data-testid=run-agent]").Text(); got != "Reviewer bot · v1" {
		t.Fatalf("the run's footer names %q", got)
	}
}

// The search form's empty fields leave the address: a browser is sent to
// it without them, htmx is told to push it.
func TestMarketplaceSearchURLIsClean(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	b.signup("alice@example.com")
	for path, want := range map[string]string{
		"/marketplace?q=&kind=&tag=&sort=":                "/marketplace",
		"/marketplace?q=otter&kind=&tag=&sort=installs":   "/marketplace?q=otter&sort=installs",
		"/marketplace?kind=agent&q=":                      "/marketplace?kind=agent",
		"/marketplace?q=sea+otter&tag=review&sort=rating": "",
		"/marketplace": "",
	} {
		res, doc, _ := b.page(path)
		switch {
		case want == "" && res.StatusCode != http.StatusOK:
			t.Errorf("%s: %d", path, res.StatusCode)
		case want != "" && (res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want):
			t.Errorf("%s: %d to %q, want %q", path, res.StatusCode, res.Header.Get("Location"), want)
		}
		if path == "/marketplace?q=sea+otter&tag=review&sort=rating" {
			if v, _ := doc.Find("#market-q").Attr("value"); v != "sea otter" {
				t.Errorf("a shared address searched %q", v)
			}
		}
	}
	res, body := b.do("GET", "/marketplace?q=otter&kind=&tag=&sort=", nil, "HX-Request", "true", "HX-Target", "market-results")
	if res.StatusCode != http.StatusOK || res.Header.Get("HX-Push-Url") != "/marketplace?q=otter" || !strings.Contains(body, "market-results") {
		t.Fatalf("htmx: %d %q", res.StatusCode, res.Header.Get("HX-Push-Url"))
	}
}
