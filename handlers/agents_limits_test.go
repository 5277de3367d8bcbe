package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"studio/agents"
	pt "studio/agents/providers/providertest"
)

// A provider that streams without end and without usage is stopped at
// studio's own caps: the run ends budget_exceeded with a reason the user
// reads, and what was streamed before the cap stays visible.
func TestAgentEndlessStreamStopsAtTheCaps(t *testing.T) {
	t.Parallel()
	env := newEnvWith(t, envOptions{agents: func(o *agents.Options) {
		o.MaxTurnBytes = 64 << 10
		o.MaxRunBytes = 256 << 10
	}})
	token, project := env.agentUser("a@example.com", "openai", "static", nil)
	model := map[string]any{"message": "Talk", "model": "openai/gpt-4o-mini"}
	piece := strings.Repeat("y", 100)
	calls := func(path string) []pt.Call { return []pt.Call{{Name: "list_files", Args: `{"path":"` + path + `"}`}} }
	long := func(path string) pt.Turn { t := pt.Tokens(600, piece); t.Calls = calls(path); return t } // 60,000 bytes

	cases := []struct {
		name     string
		provider string
		turns    []pt.Turn
		want     string
		maxText  int
	}{
		{"endless text", "openai", []pt.Turn{pt.Forever(piece)}, "the model's answer passed 64 KiB in one turn", 64 << 10},
		{"endless tool arguments", "openai", []pt.Turn{pt.ForeverArgs(piece)}, "the model's answer passed 64 KiB in one turn", 0},
		{"endless anthropic", "anthropic", []pt.Turn{pt.Forever(piece)}, "the model's answer passed 64 KiB in one turn", 64 << 10},
		{"endless gemini", "gemini", []pt.Turn{pt.Forever(piece)}, "the model's answer passed 64 KiB in one turn", 64 << 10},
		{"long run", "openai", []pt.Turn{long("a"), long("b"), long("c"), long("d"), long("e"), pt.Say("never asked")},
			"the model's answers passed 256 KiB in this run", 256 << 10},
	}
	models := map[string]string{"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-sonnet-4-5", "gemini": "gemini/gemini-2.5-flash"}
	for _, c := range cases {
		fake := env.fakeProvider(token, c.provider)
		fake.Push(c.turns...)
		model["model"] = models[c.provider]
		run := env.chat(token, project, model)
		events := env.stream(token, run, 0, nil)
		d := last(events)
		if d.Data["status"] != "budget_exceeded" || d.Data["error"] != c.want {
			t.Errorf("%s: ended %v", c.name, d.Data)
			continue
		}
		text := tokensOf(events)
		if len(text) > c.maxText || (c.maxText > 0 && len(text) < c.maxText/2) {
			t.Errorf("%s: %d bytes of tokens streamed, want up to %d", c.name, len(text), c.maxText)
		}
		r := env.run(token, run)
		if out := r["output_tokens"].(float64); out < float64(len(text))/4 {
			t.Errorf("%s: %v output tokens counted for %d bytes of text", c.name, out, len(text))
		}
		if asked := len(fake.Requests()); asked >= len(c.turns) && len(c.turns) > 1 {
			t.Errorf("%s: the model was asked %d times", c.name, asked)
		}
		// Studio hung up on the provider: its endless answer is over.
		for deadline := time.Now().Add(5 * time.Second); fake.Open() > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the provider is still streaming after the run ended", c.name)
			}
		}
	}
}

// A provider that reports less usage than it streams is counted by studio:
// the token budget holds against bytes/4.
func TestAgentTokensAreCountedByStudio(t *testing.T) {
	t.Parallel()
	env := newEnvWith(t, envOptions{agents: func(o *agents.Options) { o.MaxTokens = 20000 }})
	token, project := env.agentUser("a@example.com", "openai", "static", nil)
	fake := env.fakeProvider(token, "openai")
	turn := func(path string) pt.Turn {
		t := pt.Tokens(40, strings.Repeat("z", 1000)) // some 10,000 tokens by studio's count
		t.Calls = []pt.Call{{Name: "list_files", Args: `{"path":"` + path + `"}`}}
		t.InputTokens, t.OutputTokens = 1, 1
		return t
	}
	fake.Push(turn("a"), turn("b"), turn("c"), pt.Say("never asked"))
	run := env.chat(token, project, map[string]any{"message": "Count", "model": "openai/gpt-4o-mini"})
	d := last(env.stream(token, run, 0, nil))
	msg, _ := d.Data["error"].(string)
	if d.Data["status"] != "budget_exceeded" || !strings.HasPrefix(msg, "the run used about ") || !strings.HasSuffix(msg, " tokens by studio's count, over its limit of 20000") {
		t.Fatalf("ended %v", d.Data)
	}
	r := env.run(token, run)
	if total := r["input_tokens"].(float64) + r["output_tokens"].(float64); total < 20000 {
		t.Errorf("the run counted %v tokens, want the estimate (over 20000)", total)
	}
}

// A run keeps only its newest events in memory; a follower that joins late
// gets the older ones from the database, every one in order.
func TestLateFollowerOfALongRunGetsEveryEvent(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "openai", "static", fake)
	const n = 10_000
	pieces := make([]string, n)
	var want strings.Builder
	for i := range pieces {
		pieces[i] = strconv.Itoa(i) + " "
		want.WriteString(pieces[i])
	}
	fake.Push(pt.Turn{Text: pieces, StallAfter: true})
	run := env.chat(token, project, map[string]any{"message": "Count", "model": "openai/gpt-4o-mini"})
	isLast := func(e sseEvent) bool { return e.Kind == agents.KindToken && e.Data["text"] == pieces[n-1] }
	first := env.stream(token, run, 0, isLast)
	time.Sleep(200 * time.Millisecond) // every event stored, the older ones let go

	for _, events := range [][]sseEvent{first, env.stream(token, run, 0, isLast)} {
		for i, e := range events {
			if e.ID != int64(i+1) {
				t.Fatalf("event %d has id %d", i+1, e.ID)
			}
		}
		if got := tokensOf(events); got != want.String() {
			t.Fatalf("tokens differ: got %d bytes, want %d", len(got), want.Len())
		}
	}
	if res, body := env.json("POST", "/api/runs/"+run+"/cancel", nil, bearer(token)...); res.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel: %d %v", res.StatusCode, body)
	}
	if d := last(env.stream(token, run, n-10, nil)); d.Data["status"] != "cancelled" {
		t.Fatalf("ended %v", d.Data)
	}
}
