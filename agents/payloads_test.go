package agents

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"studio/db"
)

// TestPayloadsSpeakTheStreamContract: each event's data has the fields
// API.md names for it ("GET /api/runs/{id}/stream"), and what the run
// emits decodes back into the same struct the chat renders from.
func TestPayloadsSpeakTheStreamContract(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind string
		data any
		want []string
	}{
		{KindToken, TokenEvent{Text: "hi"}, []string{"text"}},
		{KindToolCall, ToolCallEvent{Name: "read_file", Args: rawArgs(`{"path":"a"}`)}, []string{"args", "name"}},
		{KindToolCall, ToolCallEvent{ID: "call_1", Name: "read_file", Args: rawArgs(`{}`)}, []string{"args", "id", "name"}},
		{KindToolResult, ToolResultEvent{Name: "read_file", OK: true, Summary: "12 lines", Args: rawArgs(`{}`)}, []string{"args", "name", "ok", "summary"}},
		{KindFileChanged, FileChangedEvent{Path: "src/App.tsx"}, []string{"path"}},
		{KindStatus, StatusEvent{Status: db.RunStatusRunning}, []string{"status"}},
		{KindDone, doneEvent(db.AgentRun{Status: db.RunStatusSucceeded, Steps: 2}), []string{"status", "usage"}},
		{KindDone, doneEvent(db.AgentRun{Status: db.RunStatusFailed, Error: "boom"}), []string{"error", "status", "usage"}},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.data)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, c.want) {
			t.Errorf("%s %s: fields %v, want %v", c.kind, b, got, c.want)
		}
	}
	var done DoneEvent
	b, _ := json.Marshal(doneEvent(db.AgentRun{Status: db.RunStatusBudgetExceeded, Steps: 3, InputTokens: 5, OutputTokens: 7, CostUsd: 0.25}))
	if err := json.Unmarshal(b, &done); err != nil || done.Status != db.RunStatusBudgetExceeded || done.Usage != (Usage{3, 5, 7, 0.25}) {
		t.Errorf("done %s decodes to %+v (%v)", b, done, err)
	}
	var usage map[string]any
	_ = json.Unmarshal(b, &struct{ Usage *map[string]any }{&usage})
	if got := slices.Sorted(maps.Keys(usage)); !slices.Equal(got, []string{"cost_usd", "input_tokens", "output_tokens", "steps"}) {
		t.Errorf("usage fields %v", got)
	}
}

// TestRawArgsKeepsWhatTheModelSent: JSON arguments stay JSON; anything
// else is shown as the string it was.
func TestRawArgsKeepsWhatTheModelSent(t *testing.T) {
	t.Parallel()
	if got := string(rawArgs(`{"path":"a"}`)); got != `{"path":"a"}` {
		t.Errorf("valid JSON: %s", got)
	}
	if got := string(rawArgs(`{"path": "unterminated`)); got != `"{\"path\": \"unterminated"` {
		t.Errorf("broken JSON: %s", got)
	}
}
