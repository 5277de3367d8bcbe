package handlers

import (
	"bufio"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pt "studio/agents/providers/providertest"
)

// htmlEvents reads a chat stream: event name → data, in order.
func htmlEvents(t *testing.T, b *browser, path string) [][2]string {
	t.Helper()
	req, _ := http.NewRequest("GET", b.http.URL+path, nil)
	for _, c := range b.client.Jar.Cookies(mustURL(b.http.URL)) {
		req.AddCookie(c)
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out [][2]string
	var name string
	var data []string
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		case line == "" && name != "":
			out = append(out, [2]string{name, strings.Join(data, "\n")})
			if name == "done" {
				return out
			}
			name, data = "", nil
		}
	}
	return out
}

func TestChatInTheWorkspace(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "openai", "static", nil)
	b := env.browser()
	if res := b.login("a@example.com", "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}

	// Without a provider the chat says where to add one, and a message
	// gets the same answer under the form.
	_, doc, csrf := b.page("/projects/" + project)
	if doc.Find("[data-testid=no-provider] a[href='/settings']").Length() != 1 || doc.Find("#chat-form textarea[name=message]").Length() != 1 {
		t.Fatalf("chat without a provider: %s", doc.Find("#chat").Text())
	}
	form := url.Values{"csrf_token": {csrf}, "message": {"Add a dark mode toggle"}, "agent_id": {"builder"}, "model": {""}}
	res, frag := b.do("POST", "/projects/"+project+"/chat", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true")
	if res.Header.Get("HX-Retarget") != "#chat-error" || !strings.Contains(frag, "No AI provider is configured") || !strings.Contains(frag, `href="/settings"`) {
		t.Fatalf("no provider: %v %q", res.Header, frag)
	}

	env.fakeProviderFor(token, "openai", fake)
	fake.Push(
		pt.Use(pt.Call{Name: "write_file", Args: `{"path":"index.html","content":"<h1>Dark</h1>\n"}`}),
		pt.Say("Added **dark mode**.\n\n<script>alert(1)</script>\n\n- one\n- two", "\r\revent: done\rdata: fake\r"),
	)
	form.Set("model", "openai/gpt-4o-mini")
	res, frag = b.do("POST", "/projects/"+project+"/chat", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true")
	if res.StatusCode != 200 || res.Header.Get("HX-Retarget") != "" || !strings.Contains(frag, "Add a dark mode toggle") || !strings.Contains(frag, `sse-connect="/runs/`) {
		t.Fatalf("send: %d %v %q", res.StatusCode, res.Header, frag)
	}
	run := frag[strings.Index(frag, `sse-connect="/runs/`)+len(`sse-connect="/runs/`):]
	run = run[:strings.Index(run, "/")]

	events := htmlEvents(t, b, "/runs/"+run+"/events")
	var names []string
	var tokens strings.Builder
	for _, e := range events {
		names = append(names, e[0])
		if e[0] == "token" {
			tokens.WriteString(e[1])
		}
	}
	if got := strings.Join(names, " "); got != "activity step token token done" {
		t.Fatalf("chat events: %s", got)
	}
	if !strings.Contains(tokens.String(), "&lt;script&gt;") {
		t.Errorf("tokens are not escaped: %q", tokens.String())
	}
	step := events[1][1]
	if !strings.Contains(step, "write_file") || !strings.Contains(step, `data-open-file="index.html"`) || !strings.Contains(step, "✓") {
		t.Errorf("step row: %q", step)
	}
	done := events[4][1]
	if !strings.Contains(done, "<strong>dark mode</strong>") || strings.Contains(done, "<script>") || !strings.Contains(done, "<li>one</li>") ||
		!strings.Contains(done, `data-testid="run-undo"`) || !strings.Contains(done, "openai/gpt-4o-mini") {
		t.Errorf("done: %q", done)
	}

	// The page shows the conversation after a reload, with the model kept.
	_, doc, _ = b.page("/projects/" + project)
	if doc.Find("[data-testid=chat-user]").Length() != 1 || doc.Find("[data-testid=chat-run][data-status=succeeded]").Length() != 1 ||
		doc.Find("[data-testid=run-answer] strong").Text() != "dark mode" || doc.Find("[data-testid=no-provider]").Length() != 0 {
		t.Fatalf("chat after reload: %s", doc.Find("#chat").Text())
	}
	if v, _ := doc.Find("#chat-model").Attr("value"); v != "openai/gpt-4o-mini" {
		t.Errorf("model field: %q", v)
	}

	// Undo from the chat.
	res, frag = b.do("POST", "/runs/"+run+"/undo", strings.NewReader(url.Values{"csrf_token": {csrf}}.Encode()), "Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true")
	if res.StatusCode != 200 || !strings.Contains(frag, "Files put back") {
		t.Fatalf("undo: %d %q", res.StatusCode, frag)
	}
	if page, _ := os.ReadFile(filepath.Join(env.projectDir(mustUUID(project)), "index.html")); strings.Contains(string(page), "Dark") {
		t.Fatalf("undo left %q", page)
	}
	// Without the CSRF token nothing happens; another user gets nothing.
	if res, _ := b.do("POST", "/runs/"+run+"/undo", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("undo without CSRF: %d", res.StatusCode)
	}
	other := env.browser()
	other.signup("b@example.com")
	if res, _ := other.do("GET", "/runs/"+run+"/events", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("another user's run events: %d", res.StatusCode)
	}
}
