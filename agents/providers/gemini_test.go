package providers

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
)

// geminiTurn streams text, then a function call with a thought signature
// and the finish reason in the last chunk; usage comes with every chunk.
var geminiTurn = []string{
	data(`{"candidates":[{"content":{"parts":[{"text":"Let me "}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":2,"totalTokenCount":52},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`),
	data(`{"candidates":[{"content":{"parts":[{"text":"thinking…","thought":true},{"text":"look."}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":4,"totalTokenCount":54},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`),
	data(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"read_file","args":{"path":"src/App.tsx"}},"thoughtSignature":"c2lnbmF0dXJl"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":12,"thoughtsTokenCount":5,"totalTokenCount":67},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`),
}

func TestGeminiStreamsTextAndFunctionCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Gemini, []reply{{frames: geminiTurn}})

	req := sampleRequest("gemini-2.5-flash")
	req.Messages[1].ToolCalls[0].Signature = []byte("earlier signature")
	tr, err := h.streamAll(t, req)
	if err != nil {
		t.Fatal(err)
	}
	if tr.text != "Let me look." {
		t.Errorf("text = %q (thought parts must not show)", tr.text)
	}
	if len(tr.calls) != 1 {
		t.Fatalf("calls = %+v", tr.calls)
	}
	c := tr.calls[0]
	if c.Name != "read_file" || c.Args != `{"path":"src/App.tsx"}` || c.ArgsErr != nil || !isSyntheticID(c.ID) || string(c.Signature) != "signature" {
		t.Errorf("call = %+v", c)
	}
	if tr.usage == nil || *tr.usage != (Usage{InputTokens: 50, OutputTokens: 17}) {
		t.Errorf("usage = %+v", tr.usage)
	}
	if tr.finish != FinishToolCalls {
		t.Errorf("finish = %q", tr.finish)
	}

	r := h.fake.requireRequests(1)[0]
	if r.method != "POST" || r.path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || r.query != "alt=sse" {
		t.Errorf("request %s %s?%s", r.method, r.path, r.query)
	}
	if got := r.header.Get("X-Goog-Api-Key"); got != testKey {
		t.Errorf("x-goog-api-key = %q", got)
	}
	if strings.Contains(r.query, testKey) {
		t.Error("the key is in the URL")
	}
	b := r.body
	wantJSON(t, "systemInstruction", b["systemInstruction"], `{"role":"user","parts":[{"text":"You are Studio's builder."}]}`)
	sig := base64.StdEncoding.EncodeToString([]byte("earlier signature"))
	wantJSON(t, "contents", b["contents"], `[
		{"role":"user","parts":[{"text":"Add a dark mode toggle"}]},
		{"role":"model","parts":[
			{"text":"Reading the app first."},
			{"functionCall":{"id":"call_1","name":"read_file","args":{"path":"src/App.tsx"}},"thoughtSignature":"`+sig+`"}]},
		{"role":"user","parts":[
			{"functionResponse":{"id":"call_1","name":"read_file","response":{"output":"export default function App() {}"}}}]}
	]`)
	wantJSON(t, "tools", b["tools"], `[{"functionDeclarations":[{"name":"read_file","description":"Read a file of the project",
		"parametersJsonSchema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}}]}]`)
	wantJSON(t, "maxOutputTokens", path(b, "generationConfig", "maxOutputTokens"), `1000`)
	wantJSON(t, "temperature", path(b, "generationConfig", "temperature"), `0.25`)
}

func TestGeminiResultsForCallsWithoutID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Gemini, []reply{{frames: []string{
		data(`{"candidates":[{"content":{"parts":[{"text":"done"}],"role":"model"},"finishReason":"STOP","index":0}]}`),
	}}})
	id := syntheticID() // as Studio named a call Gemini sent without an id
	req := Request{Model: "gemini-2.5-pro", Messages: []Message{
		{Role: RoleUser, Text: "go"},
		{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: id, Name: "get_logs", Args: `{}`}}},
		{Role: RoleTool, ToolCallID: id, Text: "container crashed", IsError: true},
	}}
	tr, err := h.streamAll(t, req)
	if err != nil || tr.text != "done" || tr.finish != FinishStop || tr.usage != nil {
		t.Fatalf("turn = %+v, %v", tr, err)
	}
	wantJSON(t, "contents", h.fake.requireRequests(1)[0].body["contents"], `[
		{"role":"user","parts":[{"text":"go"}]},
		{"role":"model","parts":[{"functionCall":{"name":"get_logs"}}]},
		{"role":"user","parts":[{"functionResponse":{"name":"get_logs","response":{"error":"container crashed"}}}]}
	]`)
}

func TestGeminiListModels(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Gemini, []reply{{body: `{"models":[
		{"name":"models/gemini-2.5-flash","displayName":"Gemini 2.5 Flash","supportedGenerationMethods":["generateContent","countTokens"]},
		{"name":"models/text-embedding-004","displayName":"Embedding","supportedGenerationMethods":["embedContent"]},
		{"name":"models/gemini-2.5-pro","displayName":"Gemini 2.5 Pro","supportedGenerationMethods":["generateContent"]}]}`}})
	models, err := h.p.ListModels(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(models, ",") != "gemini-2.5-flash,gemini-2.5-pro" {
		t.Errorf("models = %v", models)
	}
	if r := h.fake.requireRequests(1)[0]; r.path != "/v1beta/models" || r.header.Get("X-Goog-Api-Key") != testKey {
		t.Errorf("request %s", r.path)
	}
}
