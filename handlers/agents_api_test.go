package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"studio/agents"
	pt "studio/agents/providers/providertest"
)

// sseEvent is one event read from a run stream.
type sseEvent struct {
	ID   int64
	Kind string
	Data map[string]any
}

// agentUser signs up, points a provider at a fake server and creates a
// project; it returns the token and the project id.
func (e *testEnv) agentUser(email, provider, template string, fake *pt.Server) (string, string) {
	e.t.Helper()
	token := e.register(email)
	if fake != nil {
		e.fakeProviderFor(token, provider, fake)
	}
	return token, e.newProjectFrom(token, "Agent work", template)
}

// chat sends a message and returns the run id.
func (e *testEnv) chat(token, project string, body map[string]any) string {
	e.t.Helper()
	res, out := e.json("POST", "/api/projects/"+project+"/chat", body, bearer(token)...)
	if res.StatusCode != http.StatusAccepted {
		e.t.Fatalf("chat: %d %v", res.StatusCode, out)
	}
	return out["run_id"].(string)
}

// stream reads a run's events until done (or until stop says so), resuming
// after lastID when it is not 0.
func (e *testEnv) stream(token, run string, lastID int64, stop func(sseEvent) bool) []sseEvent {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+"/api/runs/"+run+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		e.t.Fatalf("stream: %d %s", res.StatusCode, b)
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.ID, _ = strconv.ParseInt(line[4:], 10, 64)
		case strings.HasPrefix(line, "event: "):
			cur.Kind = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.Data = nil
			if err := json.Unmarshal([]byte(line[6:]), &cur.Data); err != nil {
				e.t.Fatalf("event data %q: %v", line, err)
			}
		case line == "" && cur.Kind != "":
			out = append(out, cur)
			if cur.Kind == agents.KindDone || (stop != nil && stop(cur)) {
				return out
			}
			cur = sseEvent{}
		}
	}
	if ctx.Err() != nil {
		e.t.Fatalf("the stream did not end: %d events, last %v", len(out), out[len(out)-1])
	}
	return out // the server closed after done
}

func (e *testEnv) run(token, id string) map[string]any {
	e.t.Helper()
	res, body := e.json("GET", "/api/runs/"+id, nil, bearer(token)...)
	if res.StatusCode != 200 {
		e.t.Fatalf("run: %d %v", res.StatusCode, body)
	}
	return body["run"].(map[string]any)
}

func kinds(events []sseEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Kind)
	}
	return out
}

func last(events []sseEvent) sseEvent { return events[len(events)-1] }

func tokensOf(events []sseEvent) string {
	var b strings.Builder
	for _, e := range events {
		if e.Kind == agents.KindToken {
			b.WriteString(e.Data["text"].(string))
		}
	}
	return b.String()
}

func resultsOf(events []sseEvent) []map[string]any {
	var out []map[string]any
	for _, e := range events {
		if e.Kind == agents.KindToolResult {
			out = append(out, e.Data)
		}
	}
	return out
}

// toolOutputs are the tool results the model was sent in a request, as text.
func toolOutputs(r pt.Request) string {
	history := r.Body["messages"]
	if history == nil {
		history = r.Body["contents"] // Gemini
	}
	b, _ := json.Marshal(history)
	return string(b)
}

func args(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

const newApp = "export default function App() {\n  return <h1>Dark mode ready</h1>\n}\n"

func TestAgentWritesAFileThePreviewServes(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "openai", "react-vite", fake)
	original, _ := os.ReadFile(filepath.Join(env.projectDir(mustUUID(project)), "src/App.tsx"))

	fake.Push(
		pt.Turn{Text: []string{"Let me ", "look first."}, Calls: []pt.Call{{Name: "read_file", Args: `{"path":"src/App.tsx"}`}}},
		pt.Use(pt.Call{Name: "write_file", Args: args(map[string]string{"path": "src/App.tsx", "content": newApp})}),
		pt.Say("Done: the heading ", "now says so."),
	)
	run := env.chat(token, project, map[string]any{"message": "Add a dark mode toggle", "model": "openai/gpt-4o-mini"})
	events := env.stream(token, run, 0, nil)

	if got := last(events); got.Kind != "done" || got.Data["status"] != "succeeded" {
		t.Fatalf("run ended %v; events %v", got, kinds(events))
	}
	for i, e := range events {
		if e.ID != int64(i+1) {
			t.Fatalf("event %d has id %d", i, e.ID)
		}
	}
	if text := tokensOf(events); text != "Let me look first.Done: the heading now says so." {
		t.Errorf("tokens: %q", text)
	}
	want := []string{"status", "token", "token", "tool_call", "tool_result", "tool_call", "tool_result", "file_changed", "token", "token", "status", "done"}
	if strings.Join(kinds(events), " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", kinds(events), want)
	}
	if fc := events[7]; fc.Data["path"] != "src/App.tsx" {
		t.Errorf("file_changed: %v", fc.Data)
	}
	usage := last(events).Data["usage"].(map[string]any)
	if usage["steps"].(float64) != 3 || usage["input_tokens"].(float64) != 30 {
		t.Errorf("usage: %v", usage)
	}

	// The model got the file's content back, and the project context first.
	reqs := fake.Requests()
	if len(reqs) != 3 || !strings.Contains(toolOutputs(reqs[1]), "export default function App") {
		t.Fatalf("requests: %d; second: %s", len(reqs), toolOutputs(reqs[1]))
	}
	if !strings.Contains(toolOutputs(reqs[0]), "src/App.tsx") || !strings.Contains(toolOutputs(reqs[0]), "Add a dark mode toggle") {
		t.Errorf("first request lacks the project's files or the message: %s", toolOutputs(reqs[0]))
	}
	if reqs[0].Body["model"] != "gpt-4o-mini" || len(reqs[0].Body["tools"].([]any)) != 10 {
		t.Errorf("model %v, %d tools", reqs[0].Body["model"], len(reqs[0].Body["tools"].([]any)))
	}

	// The file is in the container, and the dev server serves it.
	ctx := context.Background()
	out, err := env.rt.Exec(ctx, project, []string{"cat", "/app/src/App.tsx"}, 10*time.Second, 0)
	if err != nil || out.Output != newApp {
		t.Fatalf("in the container: %v %q", err, out.Output)
	}
	endpoint, err := env.rt.Endpoint(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + endpoint + "/src/App.tsx")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(served), "Dark mode ready") {
		t.Fatalf("the dev server serves %d %.300s", res.StatusCode, served)
	}

	// The run, its commands and the chat are recorded.
	r := env.run(token, run)
	if r["status"] != "succeeded" || r["steps"].(float64) != 3 || r["model"] != "openai/gpt-4o-mini" || r["can_undo"] != true {
		t.Errorf("run: %v", r)
	}
	_, cmds := env.json("GET", "/api/runs/"+run+"/commands", nil, bearer(token)...)
	list := cmds["commands"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["tool"] != "read_file" || list[1].(map[string]any)["ok"] != true {
		t.Errorf("commands: %v", cmds)
	}
	_, msgs := env.json("GET", "/api/projects/"+project+"/messages", nil, bearer(token)...)
	m := msgs["messages"].([]any)
	if len(m) != 2 || m[0].(map[string]any)["role"] != "user" || !strings.Contains(m[1].(map[string]any)["content"].(string), "now says so") {
		t.Errorf("messages: %v", msgs)
	}

	// Undo puts the file back exactly.
	res2, body := env.json("POST", "/api/runs/"+run+"/undo", nil, bearer(token)...)
	if res2.StatusCode != 200 {
		t.Fatalf("undo: %d %v", res2.StatusCode, body)
	}
	now, _ := os.ReadFile(filepath.Join(env.projectDir(mustUUID(project)), "src/App.tsx"))
	if string(now) != string(original) {
		t.Fatalf("after undo:\n%s\nwant:\n%s", now, original)
	}

	// A finished run replays whole from the database, and resumes exactly
	// after Last-Event-ID.
	replay := env.stream(token, run, 0, nil)
	if len(replay) != len(events) {
		t.Fatalf("replay has %d events, want %d", len(replay), len(events))
	}
	resumed := env.stream(token, run, 5, nil)
	if len(resumed) != len(events)-5 || resumed[0].ID != 6 {
		t.Fatalf("resumed after 5: %d events from %d", len(resumed), resumed[0].ID)
	}
}

func TestAgentToolErrorsGoBackToTheModel(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "openai", "static", fake)
	dir := env.projectDir(mustUUID(project))
	os.WriteFile(filepath.Join(dir, "twice.js"), []byte("let a = 1;\nlet a = 1;\n"), 0o644)
	before, _ := os.ReadFile(filepath.Join(dir, "index.html"))

	fake.Push(
		pt.Use(pt.Call{Name: "edit_file", Args: `{"path":"index.html","old_text":"<h1>Not there</h1>","new_text":"x"}`}),
		pt.Use(pt.Call{Name: "edit_file", Args: `{"path":"twice.js","old_text":"let a = 1;","new_text":"let b = 2;"}`}),
		pt.Use(pt.Call{Name: "write_file", Args: args(map[string]string{"path": "index.html", "content": "<html>\n<!-- ... rest of the code remains the same ... -->\n</html>\n"})}),
		pt.Use(pt.Call{Name: "write_file", Args: `{"path": "index.html", "content": "unterminated`}),
		pt.Use(pt.Call{Name: "read_file", Args: `{"path":"../../etc/passwd"}`}),
		pt.Use(pt.Call{Name: "search_files", Args: `{"pattern":"let a"}`}),
		pt.Say("I could not change it."),
	)
	run := env.chat(token, project, map[string]any{"message": "Break things", "model": "openai/gpt-4o-mini"})
	events := env.stream(token, run, 0, nil)
	if last(events).Data["status"] != "succeeded" {
		t.Fatalf("run: %v", last(events))
	}
	results := resultsOf(events)
	if len(results) != 6 {
		t.Fatalf("results: %v", results)
	}
	for i, r := range results[:5] {
		if r["ok"] != false {
			t.Errorf("call %d succeeded: %v", i, r)
		}
	}
	if results[5]["ok"] != true || results[5]["summary"] != "2 matches" {
		t.Errorf("search: %v", results[5])
	}
	reqs := fake.Requests()
	for i, want := range []string{
		"old_text was not found in index.html",
		"old_text appears 2 times in twice.js",
		"Refused: the new content of index.html has a placeholder",
		"the arguments are not valid JSON",
		"bad path",
		"twice.js:1: let a = 1;",
	} {
		if !strings.Contains(toolOutputs(reqs[i+1]), want) {
			t.Errorf("request %d does not tell the model %q:\n%s", i+2, want, toolOutputs(reqs[i+1]))
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if string(after) != string(before) {
		t.Fatalf("index.html changed:\n%s", after)
	}
	_, cmds := env.json("GET", "/api/runs/"+run+"/commands", nil, bearer(token)...)
	if n := len(cmds["commands"].([]any)); n != 6 {
		t.Errorf("%d commands logged", n)
	}
}

func TestAgentCodeBlockMode(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("anthropic")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "anthropic", "static", fake)
	dir := env.projectDir(mustUUID(project))

	fake.Push(
		pt.Say("Here is the page:\n\n```html index.html\n<!doctype html>\n<h1>From a ", "block</h1>\n```\n\nAnd a helper:\n```js src/util.js\n// rest of the code remains the same\n```\n"),
		pt.Say("Sorry, the whole file:\n```js src/util.js\nexport const x = 1;\n```\n"),
	)
	run := env.chat(token, project, map[string]any{"message": "Make a page", "agent_id": "code-block", "model": "anthropic/claude-sonnet-4-5"})
	events := env.stream(token, run, 0, nil)
	if last(events).Data["status"] != "succeeded" {
		t.Fatalf("run: %v %v", last(events), kinds(events))
	}
	page, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	util, _ := os.ReadFile(filepath.Join(dir, "src/util.js"))
	if string(page) != "<!doctype html>\n<h1>From a block</h1>\n" || string(util) != "export const x = 1;\n" {
		t.Fatalf("files: %q %q", page, util)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[0].Body["tools"] != nil {
		t.Fatalf("%d requests; tools sent: %v", len(reqs), reqs[0].Body["tools"])
	}
	if !strings.Contains(toolOutputs(reqs[1]), "placeholder") {
		t.Errorf("the model was not told about the placeholder: %s", toolOutputs(reqs[1]))
	}
}
