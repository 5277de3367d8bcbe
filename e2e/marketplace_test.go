package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	pt "studio/agents/providers/providertest"
)

// TestMarketplaceInstallAgentAndChat: one user publishes an agent; another
// finds it on /marketplace by a word of its description, installs it, sees
// it in My library, opens a project with it from "Try it on a project" and
// gets its answer, whose footer names the agent. The model is sent the
// agent's prompt and only the agent's two tools.
func TestMarketplaceInstallAgentAndChat(t *testing.T) {
	fake := pt.New("openai")
	defer fake.Close()
	s := startStudio(t, "STUDIO_OPENAI_BASE_URL="+fake.BaseURL(), "STUDIO_PROVIDER_ALLOW="+strings.TrimPrefix(strings.TrimSuffix(fake.BaseURL(), "/v1"), "http://"))

	const prompt = "You are the Quokka Auditor. Answer every question with one sentence about quokkas."
	author := apiRegister(t, s, "grace@example.com", "a long password")
	agentID := apiCreateAgent(t, s, author, map[string]any{
		"name":          "Quokka Auditor",
		"description":   "Audits static sites with marsupial thoroughness.",
		"system_prompt": prompt,
		"tools":         []string{"list_files", "read_file"},
		"visibility":    "instance",
	})

	ctx := browser(t)
	type css = chromedp.CSS
	card := css(`[data-testid=market-item][data-id="` + agentID + `"]`)
	// The first actions start Chromium, so they run on the browser's own
	// context: step's deadline context would take Chromium down with it.
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.base+"/signup"),
		chromedp.WaitVisible(css(`#f-email`)),
		chromedp.SendKeys(css(`#f-email`), "linus@example.com"),
		chromedp.SendKeys(css(`#f-password`), "another long password"),
		chromedp.Click(css(`[data-testid=signup-form] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid=empty-state]`)),
	)
	if err != nil {
		t.Fatalf("sign up: %v", err)
	}

	// Typing searches (htmx swaps the results): only the agent is left,
	// the built-ins are gone. Leaving the box fires the form's change
	// trigger, the same search again; it is let finish before a result is
	// clicked (once, a click made while it could still be in flight did
	// not open the item).
	step(t, ctx, "search",
		chromedp.Navigate(s.base+"/marketplace"),
		chromedp.WaitVisible(css(`[data-testid=market-item][data-id=builder]`)),
		chromedp.SendKeys(css(`[data-testid=market-q]`), "marsupial"),
		chromedp.WaitNotPresent(css(`[data-testid=market-item][data-id=builder]`)),
		chromedp.WaitVisible(card),
		chromedp.Blur(css(`[data-testid=market-q]`)),
		chromedp.WaitNotPresent(css(`[data-testid=market-search].htmx-request`)),
	)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("[data-testid=market-item]").length`)); err != nil || n != 1 {
		t.Fatalf("the search for marsupial shows %d items: %v", n, err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "q=marsupial") {
		t.Errorf("the search is not in the address bar: %s", loc)
	}

	step(t, ctx, "open and install",
		chromedp.Click(css(`[data-testid=market-item][data-id="`+agentID+`"] [data-testid=item-name]`)),
		chromedp.WaitVisible(css(`[data-testid=item-page][data-id="`+agentID+`"]`)),
		chromedp.Click(css(`[data-testid=install]`)),
		chromedp.WaitVisible(css(`[data-testid=uninstall]`)),
		chromedp.WaitVisible(css(`[data-testid=item-page] [data-testid=item-installed]`)),
	)
	screenshot(t, ctx, "market-item")
	step(t, ctx, "my library",
		chromedp.Click(css(`[data-testid=item-page] [data-testid=library-link]`)),
		chromedp.WaitVisible(css(`[data-testid=library-items] [data-testid=market-item][data-id="`+agentID+`"] [data-testid=item-installed]`)),
	)
	screenshot(t, ctx, "market-library")

	// A static project and a provider key, then the chat with the agent.
	apiPut(t, s, "linus@example.com", "another long password", "/api/settings/providers/openai", "application/json", `{"api_key":"sk-e2e-key-0002"}`)
	step(t, ctx, "create a project",
		chromedp.Navigate(s.base+"/"),
		chromedp.WaitVisible(css(`[data-testid=new-project]`)),
		chromedp.SendKeys(css(`#f-name`), "Quokka Site"),
		chromedp.Click(css(`label:has(> [data-testid=template-static])`)),
		chromedp.Click(css(`[data-testid=create]`)),
		chromedp.WaitVisible(css(`[data-testid=project-card][data-status=active] [data-testid=project-name]`)),
	)
	// "Try it on a project" on the agent's page opens the project with the
	// agent already chosen in the chat.
	step(t, ctx, "try it on the project",
		chromedp.Navigate(s.base+"/marketplace/items/"+agentID),
		chromedp.WaitVisible(css(`[data-testid=try-form]`)),
	)
	// The form offers the user's projects first; Quokka Site is the only one.
	if name, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid=try-project]').selectedOptions[0].textContent`)); err != nil || name != "Quokka Site" {
		t.Fatalf("the try form offers %q: %v", name, err)
	}
	step(t, ctx, "open the project with the agent",
		chromedp.Click(css(`[data-testid=try-it]`)),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-ready]`)),
	)
	chosen, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid=chat-agent]').value`))
	if err != nil || chosen != agentID {
		t.Fatalf("the chat's agent picker has %q chosen, want %q: %v", chosen, agentID, err)
	}
	fake.Push(pt.Say("Quokkas ", "approve of your static site."))
	step(t, ctx, "chat with the agent",
		chromedp.SendKeys(css(`[data-testid=chat-message]`), "Audit my site"),
		chromedp.Click(css(`[data-testid=chat-send]`)),
		chromedp.WaitVisible(css(`[data-testid=chat-run][data-status=succeeded]`)),
	)
	answer, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=chat-run] [data-testid=run-answer]`)))
	if !strings.Contains(answer, "Quokkas approve of your static site.") {
		t.Fatalf("the answer reads %q", answer)
	}
	if who, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=chat-run] [data-testid=run-agent]`))); who != "Quokka Auditor · v1" {
		t.Errorf("the run's footer names %q, want Quokka Auditor · v1", who)
	}
	screenshot(t, ctx, "market-chat")

	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("the provider got %d requests, want 1", len(reqs))
	}
	system, tools := systemAndTools(t, reqs[0])
	if !strings.Contains(system, prompt) {
		t.Errorf("the provider got the system prompt %q, want it to hold %q", system, prompt)
	}
	if strings.Join(tools, ",") != "list_files,read_file" {
		t.Errorf("the provider was offered the tools %v, want list_files and read_file", tools)
	}
}

// apiRegister makes an account through the JSON API and returns its token.
func apiRegister(t *testing.T, s *studio, email, password string) string {
	t.Helper()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	apiJSON(t, s, "", "POST", "/api/auth/register", map[string]string{"email": email, "password": password, "name": "Test"}, http.StatusCreated, &out)
	return out.AccessToken
}

// apiCreateAgent publishes an agent through the JSON API and returns its id.
func apiCreateAgent(t *testing.T, s *studio, token string, agent map[string]any) string {
	t.Helper()
	var out struct {
		Item struct {
			ID string `json:"id"`
		} `json:"item"`
	}
	apiJSON(t, s, token, "POST", "/api/agents", agent, http.StatusCreated, &out)
	return out.Item.ID
}

// apiJSON sends body as JSON and decodes the answer, which must have the
// status want, into out.
func apiJSON(t *testing.T, s *studio, token, method, path string, body any, want int, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, "http://"+s.addr+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		var problem any
		json.NewDecoder(res.Body).Decode(&problem)
		t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, problem)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// systemAndTools are what an OpenAI-format request carried: the system
// prompt and the sorted names of the tools offered.
func systemAndTools(t *testing.T, r pt.Request) (string, []string) {
	t.Helper()
	var body struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
	}
	raw, _ := json.Marshal(r.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("the provider's request: %v", err)
	}
	var system string
	for _, m := range body.Messages {
		if m.Role != "system" && m.Role != "developer" {
			continue
		}
		var text string
		if json.Unmarshal(m.Content, &text) != nil {
			text = string(m.Content) // parts: the prompt is in there, escaped
		}
		system += text
	}
	var tools []string
	for _, tool := range body.Tools {
		tools = append(tools, tool.Function.Name)
	}
	slices.Sort(tools)
	return system, tools
}
