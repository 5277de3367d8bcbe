package handlers

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"studio/agents"
	"studio/agents/providers"
	pt "studio/agents/providers/providertest"
)

// waitStatus polls a run until it has the status.
func (e *testEnv) waitStatus(token, run, status string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.run(token, run)
		if r["status"] == status {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run is %v, want %s", r, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAgentCancelMidStream(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "openai", "static", fake)
	fake.Push(
		pt.Turn{Text: []string{"Thinking", " about it"}, StallAfter: true},
		pt.Use(pt.Call{Name: "write_file", Args: `{"path":"late.txt","content":"too late"}`}),
	)
	run := env.chat(token, project, map[string]any{"message": "Go slowly", "model": "openai/gpt-4o-mini"})

	// A second message while the run works is refused.
	if res, body := env.json("POST", "/api/projects/"+project+"/chat", map[string]any{"message": "And more", "model": "openai/gpt-4o-mini"}, bearer(token)...); res.StatusCode != http.StatusConflict || body["error"].(map[string]any)["code"] != "run_active" {
		t.Fatalf("second chat: %d %v", res.StatusCode, body)
	}
	// Undo waits for the end.
	if res, _ := env.json("POST", "/api/runs/"+run+"/undo", nil, bearer(token)...); res.StatusCode != http.StatusConflict {
		t.Fatalf("undo while running: %d", res.StatusCode)
	}

	seen := env.stream(token, run, 0, func(e sseEvent) bool {
		return e.Kind == agents.KindToken && strings.Contains(e.Data["text"].(string), "about")
	})
	if res, body := env.json("POST", "/api/runs/"+run+"/cancel", nil, bearer(token)...); res.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel: %d %v", res.StatusCode, body)
	}
	rest := env.stream(token, run, last(seen).ID, nil)
	if d := last(rest); d.Kind != "done" || d.Data["status"] != "cancelled" {
		t.Fatalf("after cancel: %v", kinds(rest))
	}
	if r := env.run(token, run); r["status"] != "cancelled" || r["error"] != "cancelled by the user" {
		t.Fatalf("run: %v", r)
	}
	if res, _ := env.json("POST", "/api/runs/"+run+"/cancel", nil, bearer(token)...); res.StatusCode != http.StatusConflict {
		t.Fatalf("second cancel: %d", res.StatusCode)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(fake.Requests()); n != 1 {
		t.Fatalf("the provider got %d requests after the cancel", n)
	}
	if _, err := os.Stat(filepath.Join(env.projectDir(mustUUID(project)), "late.txt")); !os.IsNotExist(err) {
		t.Fatal("a file was written after the cancel")
	}
	// The partial answer is kept, and the project takes a new message.
	_, msgs := env.json("GET", "/api/projects/"+project+"/messages", nil, bearer(token)...)
	if m := msgs["messages"].([]any); len(m) != 2 || m[1].(map[string]any)["content"] != "Thinking about it" {
		t.Fatalf("messages: %v", msgs)
	}
	fake.Push(pt.Say("Hello again"))
	env.stream(token, env.chat(token, project, map[string]any{"message": "Again", "model": "openai/gpt-4o-mini"}), 0, nil)
}

func TestAgentBudgets(t *testing.T) {
	t.Parallel()
	env := newEnvWith(t, envOptions{agents: func(o *agents.Options) {
		o.MaxSteps = 3
		o.MaxCost = 0.50
		o.Prices = providers.Prices{"priced-model": {Input: 1000, Output: 1000}}
	}})
	token, project := env.agentUser("a@example.com", "openai", "static", nil)
	model := map[string]any{"message": "Loop", "model": "openai/free-model"}

	cases := []struct {
		name  string
		turns []pt.Turn
		body  map[string]any
		want  string
	}{
		{"steps", []pt.Turn{
			pt.Use(pt.Call{Name: "list_files", Args: `{"path":"a"}`}),
			pt.Use(pt.Call{Name: "list_files", Args: `{"path":"b"}`}),
			pt.Use(pt.Call{Name: "list_files", Args: `{"path":"c"}`}),
			pt.Say("never asked"),
		}, model, "the run reached its limit of 3 steps"},
		{"repeated call", []pt.Turn{
			pt.Use(pt.Call{Name: "read_file", Args: `{"path":"index.html"}`}),
			pt.Use(pt.Call{Name: "read_file", Args: `{ "path": "index.html" }`}),
			pt.Use(pt.Call{Name: "read_file", Args: `{"path":"index.html"}`}),
		}, model, `the agent made the same call (read_file {"path":"index.html"}) 3 times`},
		{"cost", []pt.Turn{
			{Text: []string{"expensive"}, Calls: []pt.Call{{Name: "list_files", Args: `{}`}}, InputTokens: 400, OutputTokens: 200},
			pt.Say("never asked"),
		}, map[string]any{"message": "Spend", "model": "openai/priced-model"}, "the run cost $0.60, over its limit of $0.50"},
	}
	for _, c := range cases {
		fake := env.fakeProvider(token, "openai")
		fake.Push(c.turns...)
		run := env.chat(token, project, c.body)
		d := last(env.stream(token, run, 0, nil))
		if d.Data["status"] != "budget_exceeded" || d.Data["error"] != c.want {
			t.Errorf("%s: ended %v", c.name, d.Data)
		}
		if asked := len(fake.Requests()); asked >= len(c.turns) && c.name != "repeated call" {
			t.Errorf("%s: the model was asked %d times", c.name, asked)
		}
	}
}

// fakeProvider points the user's provider at a new fake server.
func (e *testEnv) fakeProvider(token, provider string) *pt.Server {
	e.t.Helper()
	fake := pt.New(provider)
	e.t.Cleanup(fake.Close)
	e.fakeProviderFor(token, provider, fake)
	return fake
}

// fakeProviderFor points the user's provider at a fake server: through the
// user's base URL for ollama and openai_compatible, through the
// administrator's endpoint for the others.
func (e *testEnv) fakeProviderFor(token, provider string, fake *pt.Server) {
	e.t.Helper()
	settings := map[string]string{"api_key": "sk-fake-key-1234"}
	switch provider {
	case providers.OpenAI, providers.Anthropic, providers.Gemini:
		e.endpoints.set(provider, fake.BaseURL())
	default:
		settings["base_url"] = fake.BaseURL()
	}
	res, body := e.json("PUT", "/api/settings/providers/"+provider, settings, bearer(token)...)
	if res.StatusCode != 200 {
		e.t.Fatalf("configure %s: %d %v", provider, res.StatusCode, body)
	}
}

func TestAgentProviderFailures(t *testing.T) {
	t.Parallel()
	env := newEnvWith(t, envOptions{agents: func(o *agents.Options) {
		o.ProviderOptions = append(o.ProviderOptions, providers.WithIdleTimeout(time.Second))
	}})
	token, project := env.agentUser("a@example.com", "openai", "static", nil)

	cases := []struct {
		name   string
		turns  []pt.Turn
		status string
		err    string
	}{
		{"429 then an answer", []pt.Turn{{Status: 429}, pt.Say("ok")}, "succeeded", ""},
		{"500 every time", []pt.Turn{{Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}}, "failed", "openai"},
		{"wrong key", []pt.Turn{{Status: 401}}, "failed", "the key was rejected by openai"},
		{"silent", []pt.Turn{{Hang: true}, {Hang: true}, {Hang: true}, {Hang: true}, {Hang: true}}, "failed", "did not answer"},
		{"cut mid-answer", []pt.Turn{{Text: []string{"Half an ans"}, Cut: true}}, "failed", "broke off"},
	}
	for _, c := range cases {
		fake := env.fakeProvider(token, "openai")
		fake.Push(c.turns...)
		run := env.chat(token, project, map[string]any{"message": c.name, "model": "openai/gpt-4o-mini"})
		d := last(env.stream(token, run, 0, nil))
		errText, _ := d.Data["error"].(string)
		if d.Data["status"] != c.status || !strings.Contains(errText, c.err) || strings.Contains(errText, "sk-fake-key") {
			t.Errorf("%s: ended %v", c.name, d.Data)
		}
	}
}

func TestRunAcrossReplicas(t *testing.T) {
	t.Parallel()
	one := newEnv(t)
	two := newEnvWith(t, envOptions{replicaOf: one})
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := one.agentUser("a@example.com", "openai", "static", fake)

	// Started through one, followed through the other: every event, in
	// order, live.
	turn := pt.Tokens(60, "tok ")
	turn.Delay = 5 * time.Millisecond
	fake.Push(turn)
	run := one.chat(token, project, map[string]any{"message": "Count", "model": "openai/gpt-4o-mini"})
	events := two.stream(token, run, 0, nil)
	for i, e := range events {
		if e.ID != int64(i+1) {
			t.Fatalf("event %d has id %d (gap or duplicate)", i, e.ID)
		}
	}
	if tokensOf(events) != strings.Repeat("tok ", 60) || last(events).Data["status"] != "succeeded" {
		t.Fatalf("through the second replica: %d events, ended %v", len(events), last(events).Data)
	}

	// Reconnecting mid-run to the other replica resumes exactly.
	turn.Delay = 20 * time.Millisecond
	fake.Push(turn)
	run = one.chat(token, project, map[string]any{"message": "Count again", "model": "openai/gpt-4o-mini"})
	first := one.stream(token, run, 0, func(e sseEvent) bool { return e.ID == 10 })
	rest := two.stream(token, run, 10, nil)
	all := append(first, rest...)
	for i, e := range all {
		if e.ID != int64(i+1) {
			t.Fatalf("resumed stream: event %d has id %d", i, e.ID)
		}
	}
	if tokensOf(all) != strings.Repeat("tok ", 60) {
		t.Fatalf("resumed tokens: %q", tokensOf(all))
	}

	// A cancel sent to the other replica stops the run.
	fake.Push(pt.Turn{Text: []string{"waiting"}, StallAfter: true})
	run = one.chat(token, project, map[string]any{"message": "Wait", "model": "openai/gpt-4o-mini"})
	one.stream(token, run, 0, func(e sseEvent) bool { return e.Kind == agents.KindToken })
	if res, _ := two.json("POST", "/api/runs/"+run+"/cancel", nil, bearer(token)...); res.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel through two: %d", res.StatusCode)
	}
	two.waitStatus(token, run, "cancelled")
}

func TestRunsBelongToTheirOwner(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "openai", "static", fake)
	fake.Push(pt.Say("mine"))
	run := env.chat(token, project, map[string]any{"message": "Hello", "model": "openai/gpt-4o-mini"})
	env.stream(token, run, 0, nil)

	other := env.register("b@example.com")
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/runs/" + run},
		{"GET", "/api/runs/" + run + "/stream"},
		{"GET", "/api/runs/" + run + "/commands"},
		{"POST", "/api/runs/" + run + "/cancel"},
		{"POST", "/api/runs/" + run + "/undo"},
		{"GET", "/api/projects/" + project + "/messages"},
		{"GET", "/api/runs/not-a-uuid"},
	} {
		if res, body := env.json(r.method, r.path, nil, bearer(other)...); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s by another user: %d %v", r.method, r.path, res.StatusCode, body)
		}
	}
	if res, _ := env.json("POST", "/api/projects/"+project+"/chat", map[string]any{"message": "hi"}, bearer(other)...); res.StatusCode != http.StatusNotFound {
		t.Errorf("chat on another user's project: %d", res.StatusCode)
	}
	if res, _ := env.json("GET", "/api/runs/"+run, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("run without a token: %d", res.StatusCode)
	}
}

func TestChatBadInput(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	token, project := env.agentUser("a@example.com", "openai", "static", nil)
	chat := func(body any) (int, map[string]any) {
		res, out := env.json("POST", "/api/projects/"+project+"/chat", body, bearer(token)...)
		e, _ := out["error"].(map[string]any)
		return res.StatusCode, e
	}
	// Nothing configured: a clear message pointing at Settings.
	if code, e := chat(map[string]any{"message": "hi"}); code != http.StatusConflict || e["code"] != "no_provider" || !strings.Contains(e["message"].(string), "Settings") {
		t.Errorf("no provider: %d %v", code, e)
	}
	if code, e := chat(map[string]any{"message": "hi", "model": "anthropic/claude-sonnet-4-5"}); code != http.StatusConflict || !strings.Contains(e["message"].(string), "anthropic") {
		t.Errorf("no key for the model's provider: %d %v", code, e)
	}
	for name, c := range map[string]struct {
		body  any
		code  int
		field string
	}{
		"empty message":  {map[string]any{"message": "  "}, 422, "message"},
		"long message":   {map[string]any{"message": strings.Repeat("x", 40<<10)}, 422, "message"},
		"unknown agent":  {map[string]any{"message": "hi", "agent_id": "nope"}, 422, "agent_id"},
		"bad model":      {map[string]any{"message": "hi", "model": "gpt-4o"}, 422, "model"},
		"unknown vendor": {map[string]any{"message": "hi", "model": "acme/big"}, 422, "model"},
		"wrong types":    {map[string]any{"message": 42}, 400, ""},
	} {
		code, e := chat(c.body)
		if code != c.code || (c.field != "" && e["field"] != c.field) {
			t.Errorf("%s: %d %v", name, code, e)
		}
	}
	res, _ := env.do("POST", "/api/projects/"+project+"/chat", strings.NewReader(`{"message": "hi"`), append(bearer(token), "Content-Type", "application/json")...)
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed JSON: %d", res.StatusCode)
	}
	res, _ = env.do("POST", "/api/projects/"+project+"/chat", strings.NewReader(`{"message":"`+strings.Repeat("x", 100<<10)+`"}`), append(bearer(token), "Content-Type", "application/json")...)
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", res.StatusCode)
	}
	// The agents list.
	_, body := env.json("GET", "/api/agents", nil, bearer(token)...)
	var ids []string
	for _, a := range body["agents"].([]any) {
		ids = append(ids, a.(map[string]any)["id"].(string)+"/"+a.(map[string]any)["mode"].(string))
	}
	if strings.Join(ids, " ") != "builder/tools code-block/code_blocks reviewer/tools" {
		t.Errorf("agents: %v", ids)
	}
}

func TestAbandonedRunIsEnded(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	token, project := env.agentUser("a@example.com", "openai", "static", nil)
	user := currentUserID(t, env, token)
	// A run whose studio died: no process beats its heartbeat.
	var run string
	err := env.pool.QueryRow(context.Background(), `INSERT INTO agent_runs (project_id, user_id, agent_id, model, instance, heartbeat_at)
		VALUES ($1, $2, 'builder', 'openai/gpt-4o-mini', 'gone', now() - interval '1 hour') RETURNING id`, project, user).Scan(&run)
	if err != nil {
		t.Fatal(err)
	}
	env.pool.Exec(context.Background(), `INSERT INTO agent_run_events (run_id, seq, kind, data) VALUES ($1, 1, 'status', '{"status":"running"}'), ($1, 2, 'token', '{"text":"Hal"}')`, run)
	// Its project cannot take a new message while it looks alive.
	if res, _ := env.json("POST", "/api/projects/"+project+"/chat", map[string]any{"message": "hi"}, bearer(token)...); res.StatusCode != http.StatusConflict {
		t.Fatalf("chat beside a stale run: %d", res.StatusCode)
	}
	env.srv.Agents.ReapStale(context.Background())
	events := env.stream(token, run, 0, nil)
	if got := strings.Join(kinds(events), " "); got != "status token status done" {
		t.Fatalf("events: %s", got)
	}
	if d := last(events); d.Data["status"] != "failed" || d.Data["error"] != "studio stopped while the run was going" || d.ID != 4 {
		t.Fatalf("done: %v", d)
	}
	// A client that already has the done event is not kept waiting.
	if again := env.stream(token, run, 4, nil); len(again) != 0 {
		t.Fatalf("after done: %v", again)
	}
}

func currentUserID(t *testing.T, env *testEnv, token string) string {
	t.Helper()
	_, me := env.json("GET", "/api/auth/me", nil, bearer(token)...)
	return me["user"].(map[string]any)["id"].(string)
}

func TestAgentCommandsLogsAndReadOnlyReviewer(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("gemini")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "gemini", "static", fake)

	fake.Push(
		pt.Use(
			pt.Call{Name: "run_command", Args: `{"argv":["node","-e","console.log(6*7); process.exit(3)"],"timeout_s":20}`},
			pt.Call{Name: "get_logs", Args: `{"tail":5}`},
		),
		pt.Use(pt.Call{Name: "run_command", Args: `{"argv":[]}`}),
		pt.Say("The answer is 42."),
	)
	run := env.chat(token, project, map[string]any{"message": "Compute", "model": "gemini/gemini-2.5-flash"})
	events := env.stream(token, run, 0, nil)
	if last(events).Data["status"] != "succeeded" {
		t.Fatalf("run: %v", last(events).Data)
	}
	results := resultsOf(events)
	if len(results) != 3 || results[0]["ok"] != false || !strings.Contains(results[0]["summary"].(string), "exit 3") || results[1]["ok"] != true || results[2]["ok"] != false {
		t.Fatalf("results: %v", results)
	}
	if out := toolOutputs(fake.Requests()[1]); !strings.Contains(out, `exit code 3\n42`) {
		t.Errorf("the command's output was not sent back: %s", out)
	}
	_, cmds := env.json("GET", "/api/runs/"+run+"/commands", nil, bearer(token)...)
	first := cmds["commands"].([]any)[0].(map[string]any)
	if first["tool"] != "run_command" || first["exit_code"].(float64) != 3 || first["ok"] != false {
		t.Errorf("command log: %v", first)
	}

	// The reviewer reads but cannot write.
	fake.Push(
		pt.Use(pt.Call{Name: "write_file", Args: `{"path":"index.html","content":"x"}`}),
		pt.Say("I can only suggest changes."),
	)
	run = env.chat(token, project, map[string]any{"message": "Review", "agent_id": "reviewer", "model": "gemini/gemini-2.5-flash"})
	events = env.stream(token, run, 0, nil)
	if r := resultsOf(events); len(r) != 1 || r[0]["ok"] != false {
		t.Fatalf("reviewer wrote: %v", r)
	}
	reqs := fake.Requests()
	if tools := args(reqs[len(reqs)-2].Body["tools"]); strings.Contains(tools, "write_file") || !strings.Contains(tools, "read_file") {
		t.Errorf("reviewer's tools: %s", tools)
	}
	if page, _ := os.ReadFile(filepath.Join(env.projectDir(mustUUID(project)), "index.html")); string(page) == "x" {
		t.Fatal("the reviewer changed a file")
	}
}

func TestRunSurvivesBusWakesNulsAndGuardsUndo(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "openai", "static", fake)

	// A finished run to undo later.
	fake.Push(pt.Say("first"))
	first := env.chat(token, project, map[string]any{"message": "One", "model": "openai/gpt-4o-mini"})
	env.stream(token, first, 0, nil)

	// A token with a NUL, then a stall.
	fake.Push(pt.Turn{Text: []string{"bad \x00 token", " and more"}, StallAfter: true})
	run := env.chat(token, project, map[string]any{"message": "Two", "model": "openai/gpt-4o-mini"})
	env.stream(token, run, 0, func(e sseEvent) bool {
		return e.Kind == agents.KindToken && strings.Contains(e.Data["text"].(string), "more")
	})

	// The bus wakes every topic after a reconnect: that is not a cancel.
	env.srv.Bus.Publish(context.Background(), "run-cancel:"+run)
	time.Sleep(500 * time.Millisecond)
	if r := env.run(token, run); r["status"] != "running" {
		t.Fatalf("a wake without a cancel request ended the run: %v", r)
	}
	// Undo of the earlier run waits for this one.
	if res, body := env.json("POST", "/api/runs/"+first+"/undo", nil, bearer(token)...); res.StatusCode != http.StatusConflict {
		t.Fatalf("undo beside a running run: %d %v", res.StatusCode, body)
	}
	env.json("POST", "/api/runs/"+run+"/cancel", nil, bearer(token)...)
	env.waitStatus(token, run, "cancelled")

	// Everything was stored, NUL replaced, and replays from the database.
	events := env.stream(token, run, 0, nil)
	if got := tokensOf(events); got != "bad \uFFFD token and more" || last(events).Data["status"] != "cancelled" {
		t.Fatalf("stored stream: %q %v", got, last(events).Data)
	}
	_, msgs := env.json("GET", "/api/projects/"+project+"/messages", nil, bearer(token)...)
	m := msgs["messages"].([]any)
	if got := m[len(m)-1].(map[string]any)["content"]; got != "bad \uFFFD token and more" {
		t.Fatalf("stored answer: %q", got)
	}
	if res, _ := env.json("POST", "/api/runs/"+first+"/undo", nil, bearer(token)...); res.StatusCode != http.StatusOK {
		t.Fatalf("undo after the run ended: %d", res.StatusCode)
	}
}
