package providers

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/anthropics/anthropic-sdk-go/packages/ssestream"
)

// defaultMaxTokens is the output budget when a request sets none; the
// Messages API requires one, and a whole source file must fit.
const defaultMaxTokens = 16384

// anthropicBackend speaks the Messages API.
type anthropicBackend struct {
	client anthropic.Client
}

func newAnthropic(p *Provider, hc *http.Client) (backend, error) {
	return &anthropicBackend{client: anthropic.NewClient(
		option.WithoutEnvironmentDefaults(), // no ANTHROPIC_* variables or profiles
		option.WithBaseURL(p.baseURL),
		option.WithAPIKey(p.apiKey),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
	)}, nil
}

func (b *anthropicBackend) stream(ctx context.Context, req Request) (decoder, error) {
	params := anthropic.MessageNewParams{
		Model:     anthropic.Model(req.Model),
		MaxTokens: int64(cmp.Or(req.MaxTokens, defaultMaxTokens)),
		Messages:  anthropicMessages(req.Messages),
	}
	if req.System != "" {
		params.System = []anthropic.TextBlockParam{{Text: req.System}}
	}
	if req.Temperature != nil {
		params.Temperature = anthropic.Float(*req.Temperature)
	}
	for _, t := range req.Tools {
		params.Tools = append(params.Tools, anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
			Name:        t.Name,
			Description: anthropic.String(t.Description),
			InputSchema: anthropicSchema(t.Schema),
		}})
	}
	return &anthropicDecoder{s: b.client.Messages.NewStreaming(ctx, params)}, nil
}

// anthropicMessages builds the history. The API wants user and assistant
// turns to alternate and tool results inside the next user turn, so
// consecutive entries of one role share a message.
func anthropicMessages(msgs []Message) []anthropic.MessageParam {
	var out []anthropic.MessageParam
	add := func(role anthropic.MessageParamRole, blocks ...anthropic.ContentBlockParamUnion) {
		if len(blocks) == 0 {
			return
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
			return
		}
		out = append(out, anthropic.MessageParam{Role: role, Content: blocks})
	}
	for _, m := range msgs {
		switch m.Role {
		case RoleUser:
			if m.Text != "" {
				add(anthropic.MessageParamRoleUser, anthropic.NewTextBlock(m.Text))
			}
		case RoleAssistant:
			var blocks []anthropic.ContentBlockParamUnion
			if m.Text != "" {
				blocks = append(blocks, anthropic.NewTextBlock(m.Text))
			}
			for _, c := range m.ToolCalls {
				blocks = append(blocks, anthropic.NewToolUseBlock(c.ID, toolInput(c), c.Name))
			}
			add(anthropic.MessageParamRoleAssistant, blocks...)
		case RoleTool:
			add(anthropic.MessageParamRoleUser, anthropic.NewToolResultBlock(m.ToolCallID, cmp.Or(m.Text, noOutput), m.IsError))
		}
	}
	return out
}

// noOutput stands in for an empty tool result, which some APIs reject.
const noOutput = "(no output)"

func anthropicSchema(schema []byte) anthropic.ToolInputSchemaParam {
	obj := schemaObject(schema)
	in := anthropic.ToolInputSchemaParam{Properties: obj["properties"], ExtraFields: map[string]any{}}
	if req, ok := obj["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				in.Required = append(in.Required, s)
			}
		}
	}
	for k, v := range obj {
		if k != "type" && k != "properties" && k != "required" {
			in.ExtraFields[k] = v
		}
	}
	return in
}

func (b *anthropicBackend) listModels(ctx context.Context) ([]string, error) {
	var ids []string
	pager := b.client.Models.ListAutoPaging(ctx, anthropic.ModelListParams{})
	for pager.Next() {
		ids = append(ids, pager.Current().ID)
	}
	return ids, pager.Err()
}

// inStreamError reads an "event: error" (overloaded, rate limited) that
// arrives after the stream started with 200 OK.
func (b *anthropicBackend) inStreamError(err error) (int, string, bool) {
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		return statusForErrorType(string(ae.Type())), errorDetail([]byte(ae.RawJSON())), true
	}
	if data, ok := strings.CutPrefix(err.Error(), "received error while streaming: "); ok {
		return statusForErrorType(data), errorDetail([]byte(data)), true
	}
	return 0, "", false
}

// anthropicDecoder turns Messages stream events into events: text deltas
// as they come, each tool_use block once its input_json_delta pieces are
// complete, usage and the stop reason at message_stop.
type anthropicDecoder struct {
	s      *ssestream.Stream[anthropic.MessageStreamEventUnion]
	calls  indexedCalls
	usage  Usage
	finish FinishReason
	done   bool
}

func (d *anthropicDecoder) next() ([]Event, error) {
	if d.done {
		return nil, io.EOF
	}
	if !d.s.Next() {
		if err := d.s.Err(); err != nil {
			return nil, err
		}
		return nil, io.EOF // the stream ended without message_stop
	}
	ev := d.s.Current()
	switch ev.Type {
	case "message_start":
		u := ev.Message.Usage
		d.usage = Usage{InputTokens: u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens, OutputTokens: u.OutputTokens}
	case "content_block_start":
		switch ev.ContentBlock.Type {
		case "tool_use":
			d.calls.add(ev.Index, ev.ContentBlock.ID, ev.ContentBlock.Name, "")
		case "text":
			if ev.ContentBlock.Text != "" {
				return []Event{{Kind: EventText, Text: ev.ContentBlock.Text}}, nil
			}
		}
	case "content_block_delta":
		switch ev.Delta.Type {
		case "text_delta":
			if ev.Delta.Text != "" {
				return []Event{{Kind: EventText, Text: ev.Delta.Text}}, nil
			}
		case "input_json_delta":
			d.calls.add(ev.Index, "", "", ev.Delta.PartialJSON)
		}
	case "content_block_stop":
		if tc, ok := d.calls.take(ev.Index); ok {
			return []Event{{Kind: EventToolCall, ToolCall: tc}}, nil
		}
	case "message_delta":
		d.finish = anthropicFinish(ev.Delta.StopReason)
		u := ev.Usage
		if in := u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens; in > 0 {
			d.usage.InputTokens = in
		}
		if u.OutputTokens > 0 {
			d.usage.OutputTokens = u.OutputTokens
		}
	case "message_stop":
		d.done = true
		events := d.calls.flush()
		return append(events,
			Event{Kind: EventUsage, Usage: d.usage},
			Event{Kind: EventFinish, Finish: cmp.Or(d.finish, FinishStop)},
		), nil
	}
	return nil, nil
}

func (d *anthropicDecoder) argBytes() int64 { return d.calls.bytes }

func (d *anthropicDecoder) close() { _ = d.s.Close() }

func anthropicFinish(reason anthropic.StopReason) FinishReason {
	switch reason {
	case anthropic.StopReasonEndTurn, anthropic.StopReasonStopSequence:
		return FinishStop
	case anthropic.StopReasonToolUse:
		return FinishToolCalls
	case anthropic.StopReasonMaxTokens, anthropic.StopReasonModelContextWindowExceeded:
		return FinishLength
	case anthropic.StopReasonRefusal:
		return FinishFiltered
	case "":
		return ""
	}
	return FinishOther
}
