package providers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// openaiBackend speaks the chat completions API, which OpenAI and nearly
// every self-hosted or proxy server (Ollama, vLLM, LM Studio, LiteLLM,
// OpenRouter) implement.
type openaiBackend struct {
	chat   openai.ChatCompletionService
	models openai.ModelService
	// OpenAI's reasoning models reject max_tokens, while many compatible
	// servers only know max_tokens.
	maxCompletionTokens bool
}

func newOpenAI(p *Provider, hc *http.Client) (backend, error) {
	// The services are built directly rather than through openai.NewClient so
	// that no OPENAI_* environment variable (a key, an organization) leaks
	// into requests to another server.
	opts := []option.RequestOption{
		option.WithBaseURL(p.baseURL),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
	}
	if p.apiKey != "" {
		opts = append(opts, option.WithAPIKey(p.apiKey))
	}
	return &openaiBackend{
		chat:                openai.NewChatCompletionService(opts...),
		models:              openai.NewModelService(opts...),
		maxCompletionTokens: p.name == OpenAI,
	}, nil
}

func (b *openaiBackend) stream(ctx context.Context, req Request) (decoder, error) {
	params := openai.ChatCompletionNewParams{
		Model:         req.Model,
		Messages:      openaiMessages(req),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	for _, t := range req.Tools {
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name:        t.Name,
			Description: openai.String(t.Description),
			Parameters:  schemaObject(t.Schema),
		}))
	}
	switch {
	case req.MaxTokens > 0 && b.maxCompletionTokens:
		params.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
	case req.MaxTokens > 0:
		params.MaxTokens = openai.Int(int64(req.MaxTokens))
	}
	if req.Temperature != nil {
		params.Temperature = openai.Float(*req.Temperature)
	}
	return &openaiDecoder{s: b.chat.NewStreaming(ctx, params)}, nil
}

func openaiMessages(req Request) []openai.ChatCompletionMessageParamUnion {
	var out []openai.ChatCompletionMessageParamUnion
	if req.System != "" {
		out = append(out, openai.SystemMessage(req.System))
	}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleUser:
			out = append(out, openai.UserMessage(m.Text))
		case RoleAssistant:
			var a openai.ChatCompletionAssistantMessageParam
			if m.Text != "" || len(m.ToolCalls) == 0 {
				a.Content.OfString = openai.String(m.Text)
			}
			for _, c := range m.ToolCalls {
				a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
						ID:       c.ID,
						Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: c.Name, Arguments: string(toolInput(c))},
					},
				})
			}
			out = append(out, openai.ChatCompletionMessageParamUnion{OfAssistant: &a})
		case RoleTool:
			out = append(out, openai.ToolMessage(toolResultText(m), m.ToolCallID))
		}
	}
	return out
}

// toolResultText marks a failed call for APIs without an is_error flag.
func toolResultText(m Message) string {
	if m.IsError {
		return "Error: " + cmp.Or(m.Text, noOutput)
	}
	return cmp.Or(m.Text, noOutput)
}

func (b *openaiBackend) listModels(ctx context.Context) ([]string, error) {
	var ids []string
	pager := b.models.ListAutoPaging(ctx)
	for pager.Next() {
		ids = append(ids, pager.Current().ID)
	}
	return ids, pager.Err()
}

// inStreamError reads the {"error": …} chunk some servers send mid-stream.
func (b *openaiBackend) inStreamError(err error) (int, string, bool) {
	var se *ssestream.StreamError
	if !errors.As(err, &se) {
		return 0, "", false
	}
	var body struct {
		Error struct {
			Type string          `json:"type"`
			Code json.RawMessage `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(se.Event.Data, &body)
	code := strings.Trim(string(body.Error.Code), `"`)
	if n, err := strconv.Atoi(code); err == nil && n >= 400 && n < 600 {
		return n, errorDetail(se.Event.Data), true
	}
	return statusForErrorType(body.Error.Type + " " + code), errorDetail(se.Event.Data), true
}

// openaiDecoder turns chat completion chunks into events. Tool calls are
// assembled by index and delivered when the choice finishes; usage arrives
// in a last chunk of its own after the finish reason.
type openaiDecoder struct {
	s      *ssestream.Stream[openai.ChatCompletionChunk]
	calls  indexedCalls
	finish FinishReason
	usage  *Usage
	done   bool
}

func (d *openaiDecoder) next() ([]Event, error) {
	if d.done {
		return nil, io.EOF
	}
	if !d.s.Next() {
		if err := d.s.Err(); err != nil {
			return nil, err
		}
		d.done = true
		if d.finish == "" {
			return nil, io.EOF
		}
		return d.end(), nil
	}
	chunk := d.s.Current()
	if u := chunk.Usage; u.PromptTokens > 0 || u.CompletionTokens > 0 {
		d.usage = &Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	}
	var events []Event
	for _, choice := range chunk.Choices {
		if choice.Index != 0 {
			continue // one choice was asked for
		}
		// A refusal is the model's answer too; the user should read it.
		if text := choice.Delta.Content + choice.Delta.Refusal; text != "" {
			events = append(events, Event{Kind: EventText, Text: text})
		}
		for _, tc := range choice.Delta.ToolCalls {
			d.calls.add(tc.Index, tc.ID, tc.Function.Name, tc.Function.Arguments)
		}
		if choice.FinishReason != "" {
			d.finish = openaiFinish(choice.FinishReason)
		}
	}
	return events, nil
}

func (d *openaiDecoder) end() []Event {
	events := d.calls.flush()
	finish := d.finish
	if len(events) > 0 && finish == FinishStop {
		finish = FinishToolCalls // Ollama and others say "stop" after tool calls
	}
	if d.usage != nil {
		events = append(events, Event{Kind: EventUsage, Usage: *d.usage})
	}
	return append(events, Event{Kind: EventFinish, Finish: finish})
}

func (d *openaiDecoder) argBytes() int64 { return d.calls.bytes }

func (d *openaiDecoder) close() { _ = d.s.Close() }

func openaiFinish(reason string) FinishReason {
	switch reason {
	case "stop":
		return FinishStop
	case "tool_calls", "function_call":
		return FinishToolCalls
	case "length":
		return FinishLength
	case "content_filter":
		return FinishFiltered
	}
	return FinishOther
}

// statusForErrorType maps the error type a provider names inside a stream to
// the HTTP status it would have answered with, so it is reported and retried
// alike.
func statusForErrorType(typ string) int {
	t := strings.ToLower(typ)
	switch {
	case strings.Contains(t, "rate_limit"), strings.Contains(t, "resource_exhausted"):
		return http.StatusTooManyRequests
	case strings.Contains(t, "overloaded"):
		return 529
	case strings.Contains(t, "authentication"), strings.Contains(t, "invalid_api_key"), strings.Contains(t, "unauthenticated"):
		return http.StatusUnauthorized
	case strings.Contains(t, "permission"):
		return http.StatusForbidden
	case strings.Contains(t, "not_found"):
		return http.StatusNotFound
	case strings.Contains(t, "invalid_request"), strings.Contains(t, "invalid_argument"):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// schemaObject decodes a tool's JSON Schema; Request.check has made sure it
// is an object. No schema means no arguments.
func schemaObject(schema json.RawMessage) map[string]any {
	obj := map[string]any{}
	if len(schema) > 0 {
		_ = json.Unmarshal(schema, &obj)
	}
	if len(obj) == 0 {
		obj = map[string]any{"type": "object", "properties": map[string]any{}}
	}
	return obj
}
