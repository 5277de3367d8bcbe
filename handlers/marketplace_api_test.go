package handlers

import (
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"studio/agents"
	pt "studio/agents/providers/providertest"
)

// createAgent publishes an agent through the API and returns its id.
func (e *testEnv) createAgent(token string, body map[string]any) string {
	e.t.Helper()
	res, out := e.json("POST", "/api/agents", body, bearer(token)...)
	if res.StatusCode != http.StatusCreated {
		e.t.Fatalf("create agent: %d %v", res.StatusCode, out)
	}
	return out["item"].(map[string]any)["id"].(string)
}

func (e *testEnv) item(token, id string) map[string]any {
	e.t.Helper()
	res, out := e.json("GET", "/api/marketplace/items/"+id, nil, bearer(token)...)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("item %s: %d %v", id, res.StatusCode, out)
	}
	return out["item"].(map[string]any)
}

// pickerIDs are the ids GET /api/agents lists.
func (e *testEnv) pickerIDs(token string) []string {
	e.t.Helper()
	_, out := e.json("GET", "/api/agents", nil, bearer(token)...)
	var ids []string
	for _, a := range out["agents"].([]any) {
		ids = append(ids, a.(map[string]any)["id"].(string))
	}
	return ids
}

// systemAndTools are what an OpenAI-format request carried: the system
// prompt and the names of the tools offered.
func systemAndTools(r pt.Request) (string, []string) {
	var system string
	for _, m := range r.Body["messages"].([]any) {
		if msg := m.(map[string]any); msg["role"] == "system" || msg["role"] == "developer" {
			system = args(msg["content"])
		}
	}
	var tools []string
	if list, ok := r.Body["tools"].([]any); ok {
		for _, t := range list {
			tools = append(tools, t.(map[string]any)["function"].(map[string]any)["name"].(string))
		}
	}
	sort.Strings(tools)
	return system, tools
}

func TestMarketplacePublishFindInstallRun(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	id := env.createAgent(alice, map[string]any{
		"name": "Haiku reviewer", "description": "Reviews code in verse.", "tags": []string{"Poetry", "review"},
		"system_prompt": "You answer only in haiku about zebrafish.", "tools": []string{"read_file", "list_files"}, "visibility": "instance",
		"temperature": 0.2,
	})

	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	bob, project := env.agentUser("bob@example.com", "openai", "static", fake)

	// Bob finds it by a word of its prompt, and by its tag.
	_, found := env.json("GET", "/api/marketplace/items?q=zebrafish&kind=agent", nil, bearer(bob)...)
	items := found["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != id || items[0].(map[string]any)["mine"] != false {
		t.Fatalf("search: %v", found)
	}
	if _, byTag := env.json("GET", "/api/marketplace/items?tag=poetry", nil, bearer(bob)...); len(byTag["items"].([]any)) != 1 {
		t.Fatalf("by tag: %v", byTag)
	}
	if ids := env.pickerIDs(bob); strings.Contains(strings.Join(ids, " "), id) || len(ids) != 3 {
		t.Fatalf("before the install the picker has %v", ids)
	}
	res, out := env.json("POST", "/api/marketplace/items/"+id+"/install", nil, bearer(bob)...)
	if res.StatusCode != 200 || out["item"].(map[string]any)["installed_version"] != 1.0 || out["item"].(map[string]any)["installs"] != 1.0 {
		t.Fatalf("install: %d %v", res.StatusCode, out)
	}
	if ids := env.pickerIDs(bob); ids[len(ids)-1] != id || ids[0] != "builder" {
		t.Fatalf("after the install the picker has %v", ids)
	}
	b := env.browser()
	if res := b.login("bob@example.com", "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	if _, doc, _ := b.page("/projects/" + project); doc.Find("[data-testid=chat-agent] option[value='"+id+"']").Text() != "Haiku reviewer" {
		t.Fatalf("the chat's picker: %s", doc.Find("[data-testid=chat-agent]").Text())
	}

	// Bob's run sends the custom prompt and only the allowed tools.
	fake.Push(pt.Say("Fins in the shallows"))
	run := env.chat(bob, project, map[string]any{"message": "Review my code", "agent_id": id, "model": "openai/gpt-4o-mini"})
	r := env.waitStatus(bob, run, "succeeded")
	if r["agent_id"] != id || r["agent_version"] != 1.0 {
		t.Fatalf("run: %v", r)
	}
	system, tools := systemAndTools(fake.Requests()[0])
	if !strings.Contains(system, "haiku about zebrafish") || strings.Join(tools, ",") != "list_files,read_file" || fake.Requests()[0].Body["temperature"] != 0.2 {
		t.Fatalf("the provider got system %q, tools %v, temperature %v", system, tools, fake.Requests()[0].Body["temperature"])
	}

	// Alice publishes version 2: Bob keeps version 1 until he updates.
	res, out = env.json("PUT", "/api/agents/"+id, map[string]any{
		"name": "Haiku reviewer", "system_prompt": "You answer only in limericks.", "tools": []string{"read_file"}, "visibility": "instance",
	}, bearer(alice)...)
	if res.StatusCode != 200 || out["item"].(map[string]any)["latest_version"] != 2.0 || len(out["item"].(map[string]any)["versions"].([]any)) != 2 {
		t.Fatalf("update: %d %v", res.StatusCode, out)
	}
	_, lib := env.json("GET", "/api/marketplace/library", nil, bearer(bob)...)
	if l := lib["items"].([]any); len(l) != 1 || l[0].(map[string]any)["update_available"] != true {
		t.Fatalf("library: %v", lib)
	}
	fake.Push(pt.Say("Still verse"))
	env.waitStatus(bob, env.chat(bob, project, map[string]any{"message": "Again", "agent_id": id, "model": "openai/gpt-4o-mini"}), "succeeded")
	if system, _ := systemAndTools(fake.Requests()[1]); !strings.Contains(system, "zebrafish") {
		t.Fatalf("before the update the run used %q", system)
	}
	env.json("POST", "/api/marketplace/items/"+id+"/install", nil, bearer(bob)...)
	fake.Push(pt.Say("There once was"))
	run = env.chat(bob, project, map[string]any{"message": "Once more", "agent_id": id, "model": "openai/gpt-4o-mini"})
	if r := env.waitStatus(bob, run, "succeeded"); r["agent_version"] != 2.0 {
		t.Fatalf("after the update: %v", r)
	}
	if system, tools := systemAndTools(fake.Requests()[2]); !strings.Contains(system, "limericks") || strings.Join(tools, ",") != "read_file" {
		t.Fatalf("after the update the provider got %q %v", system, tools)
	}

	// Uninstalled, it leaves the picker and cannot run.
	if res, _ := env.json("DELETE", "/api/marketplace/items/"+id+"/install", nil, bearer(bob)...); res.StatusCode != 200 {
		t.Fatalf("uninstall: %d", res.StatusCode)
	}
	if ids := env.pickerIDs(bob); len(ids) != 3 {
		t.Fatalf("after the uninstall the picker has %v", ids)
	}
	if res, _ := env.json("POST", "/api/projects/"+project+"/chat", map[string]any{"message": "Hi", "agent_id": id}, bearer(bob)...); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("run an uninstalled agent: %d", res.StatusCode)
	}
}

func TestReadOnlyAgentCannotWrite(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "openai", "static", fake)
	id := env.createAgent(token, map[string]any{"name": "Looker", "system_prompt": "Only look.", "read_only": true, "tools": []string{"read_file", "list_files"}})

	// The model asks for a write anyway, and for a command.
	fake.Push(
		pt.Use(pt.Call{Name: "write_file", Args: `{"path":"index.html","content":"defaced"}`}, pt.Call{Name: "run_command", Args: `{"argv":["rm","-rf","/app"]}`}),
		pt.Say("I could not."),
	)
	run := env.chat(token, project, map[string]any{"message": "Change the page", "agent_id": id, "model": "openai/gpt-4o-mini"})
	env.waitStatus(token, run, "succeeded")
	reqs := fake.Requests()
	if _, tools := systemAndTools(reqs[0]); strings.Join(tools, ",") != "list_files,read_file" {
		t.Fatalf("offered %v", tools)
	}
	if out := toolOutputs(reqs[1]); strings.Count(out, "this agent is read-only") != 2 {
		t.Fatalf("the model was told %s", out)
	}
	if page, _ := os.ReadFile(filepath.Join(env.projectDir(mustUUID(project)), "index.html")); strings.Contains(string(page), "defaced") {
		t.Fatal("a read-only agent wrote a file")
	}
	_, cmds := env.json("GET", "/api/runs/"+run+"/commands", nil, bearer(token)...)
	for _, c := range cmds["commands"].([]any) {
		if c.(map[string]any)["ok"] != false {
			t.Fatalf("a refused call logged as ok: %v", c)
		}
	}
}

func TestAgentInputIsChecked(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	token := env.register("a@example.com")
	ok := func(change map[string]any) map[string]any {
		body := map[string]any{"name": "Fine", "system_prompt": "Be fine.", "tools": []string{"read_file"}}
		for k, v := range change {
			body[k] = v
		}
		return body
	}
	for _, c := range []struct {
		name  string
		body  any
		code  string
		field string
		msg   string
	}{
		{"tool outside the built-in set", ok(map[string]any{"tools": []string{"read_file", "http_get"}}), "invalid_field", "tools", `"http_get" is not one of studio's tools`},
		{"empty name", ok(map[string]any{"name": "  "}), "invalid_field", "name", "give the agent a name"},
		{"long name", ok(map[string]any{"name": strings.Repeat("n", 81)}), "invalid_field", "name", "longer than 80"},
		{"empty prompt", ok(map[string]any{"system_prompt": ""}), "invalid_field", "system_prompt", "write the agent's system prompt"},
		{"oversized prompt", ok(map[string]any{"system_prompt": strings.Repeat("p", agents.MaxAgentPrompt+1)}), "invalid_field", "system_prompt", "more than the 32 KiB"},
		{"read-only with a write tool", ok(map[string]any{"read_only": true, "tools": []string{"read_file", "write_file"}}), "invalid_field", "tools", "a read-only agent cannot have write_file"},
		{"read-only code blocks", ok(map[string]any{"read_only": true, "mode": "code_blocks", "tools": []string{}}), "invalid_field", "read_only", "code-block mode"},
		{"bad mode", ok(map[string]any{"mode": "chat"}), "invalid_field", "mode", "not tools or code_blocks"},
		{"bad model", ok(map[string]any{"model": "gpt"}), "invalid_field", "model", ""},
		{"temperature", ok(map[string]any{"temperature": 3}), "invalid_field", "temperature", "from 0 to 2"},
		{"NUL in the model", ok(map[string]any{"model": "openai/a\x00"}), "invalid_field", "model", "not a model name"},
		{"long model", ok(map[string]any{"model": "openai/" + strings.Repeat("m", 300)}), "invalid_field", "model", "not a model name"},
		{"bad tag", ok(map[string]any{"tags": []string{"no spaces"}}), "invalid_field", "tags", "is not a tag"},
		{"bad visibility", ok(map[string]any{"visibility": "public"}), "invalid_field", "visibility", "not private or instance"},
		{"unknown field", ok(map[string]any{"owner_id": "x"}), "unknown_field", "", "owner_id"},
		{"malformed JSON", "{\"name\": ", "bad_json", "", ""},
	} {
		var res *http.Response
		var out map[string]any
		if raw, isRaw := c.body.(string); isRaw {
			r, text := env.do("POST", "/api/agents", strings.NewReader(raw), append(bearer(token), "Content-Type", "application/json")...)
			res, out = r, map[string]any{"error": map[string]any{"code": codeIn(text), "message": text}}
		} else {
			res, out = env.json("POST", "/api/agents", c.body, bearer(token)...)
		}
		e, _ := out["error"].(map[string]any)
		if res.StatusCode != http.StatusBadRequest || e == nil || e["code"] != c.code || (c.field != "" && e["field"] != c.field) || !strings.Contains(e["message"].(string), c.msg) {
			t.Errorf("%s: %d %v", c.name, res.StatusCode, out)
		}
	}
	if ids := env.pickerIDs(token); len(ids) != 3 {
		t.Fatalf("a refused agent was stored: %v", ids)
	}
}

func codeIn(body string) string {
	if strings.Contains(body, `"code":"bad_json"`) {
		return "bad_json"
	}
	return body
}

func TestPrivateAgentIsNotFoundForOthers(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	bob := env.register("bob@example.com")
	id := env.createAgent(alice, map[string]any{"name": "Secret sauce", "system_prompt": "The secret is saffron.", "tools": []string{}})

	if _, out := env.json("GET", "/api/marketplace/items?q=saffron", nil, bearer(bob)...); len(out["items"].([]any)) != 0 {
		t.Fatalf("bob finds %v", out)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/marketplace/items/" + id},
		{"POST", "/api/marketplace/items/" + id + "/install"},
		{"PUT", "/api/marketplace/items/" + id + "/rating"},
		{"POST", "/api/agents/" + id + "/fork"},
		{"PUT", "/api/agents/" + id},
		{"DELETE", "/api/agents/" + id},
	} {
		var body any
		switch c.method {
		case "PUT":
			body = map[string]any{"stars": 5}
			if strings.HasPrefix(c.path, "/api/agents/") {
				body = map[string]any{"name": "Mine now", "system_prompt": "x"}
			}
		}
		if res, out := env.json(c.method, c.path, body, bearer(bob)...); res.StatusCode != http.StatusNotFound || errorCode(out) != "not_found" {
			t.Errorf("%s %s: %d %v", c.method, c.path, res.StatusCode, out)
		}
	}
	// Alice still has it, unchanged.
	if it := env.item(alice, id); it["name"] != "Secret sauce" || it["latest_version"] != 1.0 {
		t.Fatalf("alice's agent: %v", it)
	}
	// Published to the instance, Bob sees it but cannot change it.
	env.json("PUT", "/api/agents/"+id, map[string]any{"name": "Secret sauce", "system_prompt": "Saffron.", "visibility": "instance"}, bearer(alice)...)
	if res, out := env.json("DELETE", "/api/agents/"+id, nil, bearer(bob)...); res.StatusCode != http.StatusForbidden || errorCode(out) != "not_owner" {
		t.Fatalf("bob deletes: %d %v", res.StatusCode, out)
	}
	res, out := env.json("POST", "/api/agents/"+id+"/fork", nil, bearer(bob)...)
	fork, _ := out["item"].(map[string]any)
	if res.StatusCode != http.StatusCreated || fork["mine"] != true || fork["visibility"] != "private" || fork["forked_from"] != id || fork["name"] != "Secret sauce (fork)" {
		t.Fatalf("fork: %d %v", res.StatusCode, out)
	}
	if res, _ := env.json("DELETE", "/api/agents/"+id, nil, bearer(alice)...); res.StatusCode != http.StatusNoContent {
		t.Fatalf("alice deletes: %d", res.StatusCode)
	}
	if res, _ := env.json("GET", "/api/marketplace/items/"+id, nil, bearer(alice)...); res.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted: %d", res.StatusCode)
	}
	if it := env.item(bob, fork["id"].(string)); it["name"] != "Secret sauce (fork)" {
		t.Fatalf("the fork outlives its source: %v", it)
	}
}

func TestRatingsAreOnePerUser(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	id := env.createAgent(alice, map[string]any{"name": "Rated", "system_prompt": "Be rated.", "visibility": "instance"})
	rate := func(token string, stars any) (*http.Response, map[string]any) {
		return env.json("PUT", "/api/marketplace/items/"+id+"/rating", map[string]any{"stars": stars}, bearer(token)...)
	}
	bob, carol := env.register("bob@example.com"), env.register("carol@example.com")
	rate(bob, 5)
	_, out := rate(bob, 2)
	if r := out["item"].(map[string]any)["rating"].(map[string]any); r["count"] != 1.0 || r["average"] != 2.0 || r["mine"] != 2.0 {
		t.Fatalf("bob rated twice: %v", r)
	}
	_, out = rate(carol, 5)
	if r := out["item"].(map[string]any)["rating"].(map[string]any); r["count"] != 2.0 || r["average"] != 3.5 {
		t.Fatalf("with carol: %v", r)
	}
	if res, out := rate(bob, 6); res.StatusCode != http.StatusBadRequest || out["error"].(map[string]any)["field"] != "stars" {
		t.Fatalf("6 stars: %d %v", res.StatusCode, out)
	}
	if res, out := rate(alice, 5); res.StatusCode != http.StatusConflict || errorCode(out) != "own_item" {
		t.Fatalf("own rating: %d %v", res.StatusCode, out)
	}
	// Sorted by rating, the rated agent comes first.
	env.createAgent(alice, map[string]any{"name": "Unrated", "system_prompt": "x", "visibility": "instance"})
	_, list := env.json("GET", "/api/marketplace/items?sort=rating&kind=agent", nil, bearer(bob)...)
	if first := list["items"].([]any)[0].(map[string]any); first["id"] != id {
		t.Fatalf("by rating: %v", list)
	}
	for query, field := range map[string]string{"sort=stars": "sort", "offset=99999999999": "offset", "limit=x": "limit", "kind=plugin": "kind"} {
		if res, out := env.json("GET", "/api/marketplace/items?"+query, nil, bearer(bob)...); res.StatusCode != http.StatusBadRequest || out["error"].(map[string]any)["field"] != field {
			t.Errorf("%s: %d %v", query, res.StatusCode, out)
		}
	}
}

func TestMarketplaceModes(t *testing.T) {
	t.Parallel()
	private := newEnvWith(t, envOptions{agents: func(o *agents.Options) { o.Marketplace = agents.MarketplacePrivate }})
	token := private.register("a@example.com")
	if res, out := private.json("POST", "/api/agents", map[string]any{"name": "Shared", "system_prompt": "x", "visibility": "instance"}, bearer(token)...); res.StatusCode != http.StatusForbidden || errorCode(out) != "marketplace_private" {
		t.Fatalf("private mode, publish to the instance: %d %v", res.StatusCode, out)
	}
	private.createAgent(token, map[string]any{"name": "Mine", "system_prompt": "x"})

	off := newEnvWith(t, envOptions{agents: func(o *agents.Options) { o.Marketplace = agents.MarketplaceOff }})
	token = off.register("a@example.com")
	if res, out := off.json("POST", "/api/agents", map[string]any{"name": "Mine", "system_prompt": "x"}, bearer(token)...); res.StatusCode != http.StatusForbidden || errorCode(out) != "marketplace_off" {
		t.Fatalf("off: %d %v", res.StatusCode, out)
	}
	if res, out := off.json("POST", "/api/agents/reviewer/fork", nil, bearer(token)...); res.StatusCode != http.StatusForbidden {
		t.Fatalf("off, fork: %d %v", res.StatusCode, out)
	}
}

// TestSearchInputIsChecked: what PostgreSQL cannot take as text is a 400,
// never a 500.
func TestSearchInputIsChecked(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	token := env.register("a@example.com")
	for _, q := range []string{"q=%ff", "q=a%00b", "tag=%00", "tag=%c3"} {
		res, out := env.json("GET", "/api/marketplace/items?"+q, nil, bearer(token)...)
		if res.StatusCode != http.StatusBadRequest || errorCode(out) != "invalid_field" {
			t.Errorf("%s: %d %v", q, res.StatusCode, out)
		}
	}
	for _, id := range []string{"%ff", "a%00b"} {
		res, out := env.json("GET", "/api/marketplace/items/"+id, nil, bearer(token)...)
		if res.StatusCode != http.StatusNotFound || errorCode(out) != "not_found" {
			t.Errorf("item %s: %d %v", id, res.StatusCode, out)
		}
	}
}

// TestUninstallAnItemMadePrivate: an install of an item its owner has made
// private since can still be taken out of the library, and its count
// drops; a stranger learns nothing from trying.
func TestUninstallAnItemMadePrivate(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	bob := env.register("bob@example.com")
	carol := env.register("carol@example.com")
	spec := map[string]any{"name": "Fleeting", "system_prompt": "Be brief.", "tools": []string{}, "visibility": "instance"}
	id := env.createAgent(alice, spec)
	if res, out := env.json("POST", "/api/marketplace/items/"+id+"/install", nil, bearer(bob)...); res.StatusCode != http.StatusOK {
		t.Fatalf("install: %d %v", res.StatusCode, out)
	}
	spec["visibility"] = "private"
	if res, out := env.json("PUT", "/api/agents/"+id, spec, bearer(alice)...); res.StatusCode != http.StatusOK {
		t.Fatalf("make private: %d %v", res.StatusCode, out)
	}
	res, out := env.json("DELETE", "/api/marketplace/items/"+id+"/install", nil, bearer(bob)...)
	if res.StatusCode != http.StatusOK || out["item"] != nil {
		t.Fatalf("bob uninstalls: %d %v", res.StatusCode, out)
	}
	if it := env.item(alice, id); it["installs"] != 0.0 {
		t.Fatalf("installs after the uninstall: %v", it["installs"])
	}
	for _, who := range []string{bob, carol} {
		if res, out := env.json("DELETE", "/api/marketplace/items/"+id+"/install", nil, bearer(who)...); res.StatusCode != http.StatusNotFound || errorCode(out) != "not_found" {
			t.Errorf("uninstall again / a stranger: %d %v", res.StatusCode, out)
		}
	}
}
