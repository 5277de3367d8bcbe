package providers

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// chunk is one chat.completion.chunk with a single choice.
func chunk(delta, finish string) string {
	fin := "null"
	if finish != "" {
		fin = `"` + finish + `"`
	}
	return data(fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}`, delta, fin))
}

func usageChunk(in, out int) string {
	return data(fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, in, out, in+out))
}

func toolDelta(index int, id, name, args string) string {
	head := fmt.Sprintf(`"index":%d`, index)
	if id != "" {
		head += fmt.Sprintf(`,"id":%q,"type":"function"`, id)
	}
	fn := fmt.Sprintf(`"arguments":%q`, args)
	if name != "" {
		fn = fmt.Sprintf(`"name":%q,`, name) + fn
	}
	return fmt.Sprintf(`{"tool_calls":[{%s,"function":{%s}}]}`, head, fn)
}

const done = "data: [DONE]\n\n"

// openaiTurn answers with text, then two parallel tool calls whose
// arguments arrive in interleaved pieces, then usage.
var openaiTurn = []string{
	chunk(`{"role":"assistant","content":""}`, ""),
	chunk(`{"content":"Let me "}`, ""),
	chunk(`{"content":"look."}`, ""),
	chunk(toolDelta(0, "call_a", "read_file", ""), ""),
	chunk(toolDelta(1, "call_b", "list_files", ""), ""),
	chunk(toolDelta(0, "", "", `{"pa`), ""),
	chunk(toolDelta(1, "", "", `{"path":`), ""),
	chunk(toolDelta(0, "", "", `th": "src/App.tsx"}`), ""),
	chunk(toolDelta(1, "", "", ` "src"}`), ""),
	chunk(`{}`, "tool_calls"),
	usageChunk(120, 30),
	done,
}

func TestOpenAIStreamsTextAndParallelToolCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, OpenAI, []reply{{frames: openaiTurn}})

	tr, err := h.streamAll(t, sampleRequest("gpt-4o"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.text != "Let me look." {
		t.Errorf("text = %q", tr.text)
	}
	want := []ToolCall{
		{ID: "call_a", Name: "read_file", Args: `{"path": "src/App.tsx"}`},
		{ID: "call_b", Name: "list_files", Args: `{"path": "src"}`},
	}
	if len(tr.calls) != len(want) {
		t.Fatalf("got %d tool calls, want %d: %+v", len(tr.calls), len(want), tr.calls)
	}
	for i, c := range tr.calls {
		if c.ID != want[i].ID || c.Name != want[i].Name || c.Args != want[i].Args || c.ArgsErr != nil {
			t.Errorf("call %d = %+v, want %+v", i, c, want[i])
		}
	}
	if tr.usage == nil || *tr.usage != (Usage{InputTokens: 120, OutputTokens: 30}) {
		t.Errorf("usage = %+v", tr.usage)
	}
	if tr.finish != FinishToolCalls {
		t.Errorf("finish = %q", tr.finish)
	}
	if last := tr.kinds[len(tr.kinds)-1]; last != EventFinish {
		t.Errorf("last event is %v, want EventFinish", last)
	}

	req := h.fake.requireRequests(1)[0]
	if req.method != "POST" || req.path != "/v1/chat/completions" {
		t.Errorf("request %s %s", req.method, req.path)
	}
	if got := req.header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q", got)
	}
	b := req.body
	wantJSON(t, "model", b["model"], `"gpt-4o"`)
	wantJSON(t, "stream", b["stream"], `true`)
	wantJSON(t, "stream_options", b["stream_options"], `{"include_usage":true}`)
	wantJSON(t, "max_completion_tokens", b["max_completion_tokens"], `1000`)
	wantJSON(t, "temperature", b["temperature"], `0.25`)
	if _, ok := b["max_tokens"]; ok {
		t.Error("OpenAI got max_tokens, which its reasoning models reject")
	}
	wantJSON(t, "messages", b["messages"], `[
		{"role":"system","content":"You are Studio's builder."},
		{"role":"user","content":"Add a dark mode toggle"},
		{"role":"assistant","content":"Reading the app first.","tool_calls":[
			{"id":"call_1","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"src/App.tsx\"}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"export default function App() {}"}
	]`)
	wantJSON(t, "tools", b["tools"], `[{"type":"function","function":{
		"name":"read_file","description":"Read a file of the project",
		"parameters":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}}}]`)
}

func TestOllamaPresetSendsNoKeyAndMaxTokens(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply{frames: []string{chunk(`{"content":"hi"}`, ""), chunk(`{}`, "stop"), done}})
	p, err := New(Ollama, "", f.srv.URL+"/v1", local)
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Stream(context.Background(), Request{Model: "qwen2.5-coder:7b", Messages: []Message{{Role: RoleUser, Text: "hi"}}, MaxTokens: 50})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := drain(s)
	if err != nil || tr.text != "hi" || tr.finish != FinishStop || tr.usage != nil {
		t.Fatalf("turn = %+v, %v", tr, err)
	}
	req := f.requireRequests(1)[0]
	if got := req.header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none", got)
	}
	wantJSON(t, "max_tokens", req.body["max_tokens"], `50`)
	wantJSON(t, "model", req.body["model"], `"qwen2.5-coder:7b"`)
}

func TestOpenAIMalformedToolArguments(t *testing.T) {
	t.Parallel()
	h := newHarness(t, OpenAI, []reply{{frames: []string{
		chunk(toolDelta(0, "call_x", "write_file", `{"path": "a.txt", "content": "unterminated`), ""),
		chunk(toolDelta(1, "call_y", "delete_file", `["a.txt"]`), ""),
		chunk(`{}`, "tool_calls"),
		done,
	}}})

	tr, err := h.streamAll(t, sampleRequest("gpt-4o"))
	if err != nil {
		t.Fatalf("a bad tool call must not fail the stream: %v", err)
	}
	if len(tr.calls) != 2 || tr.finish != FinishToolCalls {
		t.Fatalf("turn = %+v", tr)
	}
	bad := tr.calls[0]
	if bad.ArgsErr == nil || !strings.Contains(bad.ArgsErr.Error(), "write_file") || !strings.Contains(bad.ArgsErr.Error(), "not valid JSON") {
		t.Errorf("ArgsErr = %v", bad.ArgsErr)
	}
	if bad.Args != `{"path": "a.txt", "content": "unterminated` {
		t.Errorf("Args = %q, want the text as sent", bad.Args)
	}
	if err := tr.calls[1].ArgsErr; err == nil || !strings.Contains(err.Error(), "must be a JSON object, not array") {
		t.Errorf("ArgsErr for an array = %v", err)
	}
}

func TestOpenAIToolCallsWithoutIndexOrID(t *testing.T) {
	t.Parallel()
	// Some compatible servers send every call whole at index 0, or no id.
	h := newHarness(t, OpenAICompatible, []reply{{frames: []string{
		chunk(toolDelta(0, "c1", "read_file", `{"path":"a"}`), ""),
		chunk(toolDelta(0, "c2", "read_file", `{"path":"b"}`), ""),
		chunk(`{"tool_calls":[{"index":1,"function":{"name":"list_files","arguments":""}}]}`, ""),
		chunk(`{}`, "stop"),
		done,
	}}})
	tr, err := h.streamAll(t, Request{Model: "meta-llama/llama-3.1-70b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.calls) != 3 {
		t.Fatalf("calls = %+v", tr.calls)
	}
	if tr.calls[0].Args != `{"path":"a"}` || tr.calls[1].Args != `{"path":"b"}` {
		t.Errorf("calls = %+v", tr.calls)
	}
	if c := tr.calls[2]; !isSyntheticID(c.ID) || c.Args != "{}" || c.ArgsErr != nil {
		t.Errorf("call without id or arguments = %+v", c)
	}
	if tr.finish != FinishToolCalls {
		t.Errorf("finish = %q, want tool_calls after calls with \"stop\"", tr.finish)
	}
	wantJSON(t, "model", h.fake.requireRequests(1)[0].body["model"], `"meta-llama/llama-3.1-70b"`)
}

func TestOpenAIListModels(t *testing.T) {
	t.Parallel()
	h := newHarness(t, OpenAI, []reply{{body: `{"object":"list","data":[
		{"id":"gpt-4o","object":"model","created":1,"owned_by":"openai"},
		{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"openai"}]}`}})
	models, err := h.p.ListModels(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(models, ",") != "gpt-4o,gpt-4o-mini" {
		t.Errorf("models = %v", models)
	}
	req := h.fake.requireRequests(1)[0]
	if req.method != "GET" || req.path != "/v1/models" || req.header.Get("Authorization") != "Bearer "+testKey {
		t.Errorf("request %s %s", req.method, req.path)
	}
}
