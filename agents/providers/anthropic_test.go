package providers

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func messageStart(inputTokens int) string {
	return event("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`, inputTokens))
}

func textBlock(index int, pieces ...string) []string {
	frames := []string{event("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"text","text":""}}`, index))}
	for _, p := range pieces {
		frames = append(frames, event("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%q}}`, index, p)))
	}
	return append(frames, event("content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, index)))
}

func toolUseBlock(index int, id, name string, jsonPieces ...string) []string {
	frames := []string{event("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"tool_use","id":%q,"name":%q,"input":{}}}`, index, id, name))}
	for _, p := range jsonPieces {
		frames = append(frames, event("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":%q}}`, index, p)))
	}
	return append(frames, event("content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, index)))
}

func messageEnd(stopReason string, outputTokens int) []string {
	return []string{
		event("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":%d}}`, stopReason, outputTokens)),
		event("message_stop", `{"type":"message_stop"}`),
	}
}

func anthropicTurn(blocks ...[]string) []string {
	frames := []string{messageStart(200), event("ping", `{"type":"ping"}`)}
	for _, b := range blocks {
		frames = append(frames, b...)
	}
	return frames
}

func TestAnthropicStreamsTextAndToolUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Anthropic, []reply{{frames: anthropicTurn(
		textBlock(0, "Let me ", "look."),
		toolUseBlock(1, "toolu_1", "read_file", "", `{"path": "src/`, `App.tsx"}`),
		toolUseBlock(2, "toolu_2", "list_files"),
		messageEnd("tool_use", 42),
	)}})

	tr, err := h.streamAll(t, sampleRequest("claude-sonnet-4-5"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.text != "Let me look." {
		t.Errorf("text = %q", tr.text)
	}
	if len(tr.calls) != 2 {
		t.Fatalf("calls = %+v", tr.calls)
	}
	if c := tr.calls[0]; c.ID != "toolu_1" || c.Name != "read_file" || c.Args != `{"path": "src/App.tsx"}` || c.ArgsErr != nil {
		t.Errorf("call 0 = %+v", c)
	}
	if c := tr.calls[1]; c.ID != "toolu_2" || c.Name != "list_files" || c.Args != `{}` || c.ArgsErr != nil {
		t.Errorf("call without input = %+v", c)
	}
	if tr.usage == nil || *tr.usage != (Usage{InputTokens: 200, OutputTokens: 42}) {
		t.Errorf("usage = %+v", tr.usage)
	}
	if tr.finish != FinishToolCalls {
		t.Errorf("finish = %q", tr.finish)
	}

	req := h.fake.requireRequests(1)[0]
	if req.method != "POST" || req.path != "/v1/messages" {
		t.Errorf("request %s %s", req.method, req.path)
	}
	if got := req.header.Get("X-Api-Key"); got != testKey {
		t.Errorf("X-Api-Key = %q", got)
	}
	if req.header.Get("Anthropic-Version") == "" {
		t.Error("no anthropic-version header")
	}
	if got := req.header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want the key only in X-Api-Key", got)
	}
	b := req.body
	wantJSON(t, "model", b["model"], `"claude-sonnet-4-5"`)
	wantJSON(t, "stream", b["stream"], `true`)
	wantJSON(t, "max_tokens", b["max_tokens"], `1000`)
	wantJSON(t, "temperature", b["temperature"], `0.25`)
	wantJSON(t, "system", b["system"], `[{"type":"text","text":"You are Studio's builder."}]`)
	wantJSON(t, "messages", b["messages"], `[
		{"role":"user","content":[{"type":"text","text":"Add a dark mode toggle"}]},
		{"role":"assistant","content":[
			{"type":"text","text":"Reading the app first."},
			{"type":"tool_use","id":"call_1","name":"read_file","input":{"path":"src/App.tsx"}}]},
		{"role":"user","content":[
			{"type":"tool_result","tool_use_id":"call_1","is_error":false,
			 "content":[{"type":"text","text":"export default function App() {}"}]}]}
	]`)
	wantJSON(t, "tools", b["tools"], `[{"name":"read_file","description":"Read a file of the project",
		"input_schema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}}]`)
}

func TestAnthropicHistoryMergesToolResultsAndDefaultsMaxTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Anthropic, []reply{{frames: anthropicTurn(textBlock(0, "ok"), messageEnd("end_turn", 1))}})
	req := Request{Model: "claude-haiku-4-5", Messages: []Message{
		{Role: RoleUser, Text: "go"},
		{Role: RoleAssistant, ToolCalls: []ToolCall{
			{ID: "t1", Name: "read_file", Args: `{"path":"a"}`},
			{ID: "t2", Name: "write_file", Args: `{"path":`}, // the model's broken call, answered with an error
		}},
		{Role: RoleTool, ToolCallID: "t1", Text: "A"},
		{Role: RoleTool, ToolCallID: "t2", Text: "the arguments are not valid JSON", IsError: true},
		{Role: RoleUser, Text: "and then?"},
	}}
	tr, err := h.streamAll(t, req)
	if err != nil || tr.text != "ok" || tr.finish != FinishStop {
		t.Fatalf("turn = %+v, %v", tr, err)
	}
	b := h.fake.requireRequests(1)[0].body
	wantJSON(t, "max_tokens", b["max_tokens"], fmt.Sprint(defaultMaxTokens))
	wantJSON(t, "messages", b["messages"], `[
		{"role":"user","content":[{"type":"text","text":"go"}]},
		{"role":"assistant","content":[
			{"type":"tool_use","id":"t1","name":"read_file","input":{"path":"a"}},
			{"type":"tool_use","id":"t2","name":"write_file","input":{}}]},
		{"role":"user","content":[
			{"type":"tool_result","tool_use_id":"t1","is_error":false,"content":[{"type":"text","text":"A"}]},
			{"type":"tool_result","tool_use_id":"t2","is_error":true,"content":[{"type":"text","text":"the arguments are not valid JSON"}]},
			{"type":"text","text":"and then?"}]}
	]`)
	if _, ok := b["system"]; ok {
		t.Error("empty system prompt was sent")
	}
}

func TestAnthropicMalformedToolInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Anthropic, []reply{{frames: anthropicTurn(
		toolUseBlock(0, "toolu_1", "edit_file", `{"path": "a.txt", `, `"old_text": }`),
		messageEnd("tool_use", 9),
	)}})
	tr, err := h.streamAll(t, sampleRequest("claude-sonnet-4-5"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.calls) != 1 || tr.finish != FinishToolCalls {
		t.Fatalf("turn = %+v", tr)
	}
	if err := tr.calls[0].ArgsErr; err == nil || !strings.Contains(err.Error(), "edit_file") {
		t.Errorf("ArgsErr = %v", err)
	}
}

func TestAnthropicOverloadedEventIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Anthropic, []reply{
		{frames: []string{messageStart(10), event("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)}},
		{frames: anthropicTurn(textBlock(0, "fine"), messageEnd("end_turn", 2))},
	})
	tr, err := h.streamAll(t, sampleRequest("claude-sonnet-4-5"))
	if err != nil || tr.text != "fine" {
		t.Fatalf("turn = %+v, %v", tr, err)
	}
	h.fake.requireRequests(2)
	if got := h.sleeps.recorded(); len(got) != 1 {
		t.Errorf("waited %v, want one backoff", got)
	}
}

func TestAnthropicListModels(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Anthropic, []reply{{body: `{"data":[
		{"id":"claude-sonnet-4-5","type":"model","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},
		{"id":"claude-haiku-4-5","type":"model","display_name":"Claude Haiku 4.5","created_at":"2025-10-01T00:00:00Z"}],
		"has_more":false,"first_id":"claude-sonnet-4-5","last_id":"claude-haiku-4-5"}`}})
	models, err := h.p.ListModels(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(models, ",") != "claude-haiku-4-5,claude-sonnet-4-5" {
		t.Errorf("models = %v", models)
	}
	if req := h.fake.requireRequests(1)[0]; req.path != "/v1/models" || req.header.Get("X-Api-Key") != testKey {
		t.Errorf("request %s with key %q", req.path, req.header.Get("X-Api-Key"))
	}
}
