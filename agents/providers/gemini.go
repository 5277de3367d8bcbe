package providers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/genai"
)

// geminiBackend speaks the Gemini API (streamGenerateContent over SSE).
type geminiBackend struct {
	client *genai.Client
}

func newGemini(p *Provider, hc *http.Client) (backend, error) {
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:     p.apiKey,
		Backend:    genai.BackendGeminiAPI,
		HTTPClient: hc,
		// An explicit base URL also keeps GOOGLE_GEMINI_BASE_URL out of it.
		HTTPOptions: genai.HTTPOptions{BaseURL: p.baseURL},
	})
	if err != nil {
		return nil, err
	}
	return &geminiBackend{client: client}, nil
}

func (b *geminiBackend) stream(ctx context.Context, req Request) (decoder, error) {
	config := &genai.GenerateContentConfig{
		// Resuming a broken stream is a retry, and retries are ours.
		AutomaticContinuation: genai.Ptr(false),
	}
	if req.System != "" {
		config.SystemInstruction = &genai.Content{Parts: []*genai.Part{{Text: req.System}}}
	}
	if req.MaxTokens > 0 {
		config.MaxOutputTokens = int32(req.MaxTokens)
	}
	if req.Temperature != nil {
		config.Temperature = genai.Ptr(float32(*req.Temperature))
	}
	if len(req.Tools) > 0 {
		var decls []*genai.FunctionDeclaration
		for _, t := range req.Tools {
			decls = append(decls, &genai.FunctionDeclaration{
				Name:                 t.Name,
				Description:          t.Description,
				ParametersJsonSchema: schemaObject(t.Schema),
			})
		}
		config.Tools = []*genai.Tool{{FunctionDeclarations: decls}}
	}
	seq := b.client.Models.GenerateContentStream(ctx, req.Model, geminiContents(req.Messages), config)
	pull, stop := iter.Pull2(seq)
	return &geminiDecoder{pull: pull, stop: stop}, nil
}

// geminiContents builds the history. Gemini answers a function call by name,
// so each result is matched to the call it answers.
func geminiContents(msgs []Message) []*genai.Content {
	var out []*genai.Content
	add := func(role string, parts ...*genai.Part) {
		if len(parts) == 0 {
			return
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Parts = append(out[n-1].Parts, parts...)
			return
		}
		out = append(out, &genai.Content{Role: role, Parts: parts})
	}
	callNames := map[string]string{}
	for _, m := range msgs {
		switch m.Role {
		case RoleUser:
			if m.Text != "" {
				add(genai.RoleUser, &genai.Part{Text: m.Text})
			}
		case RoleAssistant:
			var parts []*genai.Part
			if m.Text != "" {
				parts = append(parts, &genai.Part{Text: m.Text})
			}
			for _, c := range m.ToolCalls {
				callNames[c.ID] = c.Name
				var args map[string]any
				_ = json.Unmarshal(toolInput(c), &args)
				parts = append(parts, &genai.Part{
					FunctionCall:     &genai.FunctionCall{ID: geminiCallID(c.ID), Name: c.Name, Args: args},
					ThoughtSignature: c.Signature,
				})
			}
			add(genai.RoleModel, parts...)
		case RoleTool:
			response := map[string]any{"output": cmp.Or(m.Text, noOutput)}
			if m.IsError {
				response = map[string]any{"error": cmp.Or(m.Text, noOutput)}
			}
			add(genai.RoleUser, &genai.Part{FunctionResponse: &genai.FunctionResponse{
				ID:       geminiCallID(m.ToolCallID),
				Name:     callNames[m.ToolCallID],
				Response: response,
			}})
		}
	}
	return out
}

// geminiCallID leaves out ids Studio made up for calls Gemini sent without
// one; Gemini matches those by name.
func geminiCallID(id string) string {
	if isSyntheticID(id) {
		return ""
	}
	return id
}

func (b *geminiBackend) listModels(ctx context.Context) ([]string, error) {
	var ids []string
	for m, err := range b.client.Models.All(ctx) {
		if err != nil {
			return nil, err
		}
		if len(m.SupportedActions) > 0 && !slices.Contains(m.SupportedActions, "generateContent") {
			continue // embedding and other non-chat models
		}
		ids = append(ids, strings.TrimPrefix(m.Name, "models/"))
	}
	return ids, nil
}

// inStreamError reads a {"error": …} chunk inside a stream.
func (b *geminiBackend) inStreamError(err error) (int, string, bool) {
	var ae genai.APIError
	if !errors.As(err, &ae) {
		return 0, "", false
	}
	if ae.Code >= 400 && ae.Code < 600 {
		return ae.Code, ae.Message, true
	}
	return statusForErrorType(ae.Status), ae.Message, true
}

// geminiDecoder turns streamed GenerateContentResponses into events. Gemini
// sends each function call whole, and usage cumulatively in every chunk.
type geminiDecoder struct {
	pull   func() (*genai.GenerateContentResponse, error, bool)
	stop   func()
	usage  *Usage
	finish FinishReason
	calls  int
	args   int64 // bytes of arguments received
	done   bool
}

func (d *geminiDecoder) next() ([]Event, error) {
	if d.done {
		return nil, io.EOF
	}
	resp, err, ok := d.pull()
	if !ok {
		d.done = true
		if d.finish == "" {
			return nil, io.EOF
		}
		return d.end(), nil
	}
	if err != nil {
		return nil, err
	}
	if u := resp.UsageMetadata; u != nil {
		d.usage = &Usage{InputTokens: int64(u.PromptTokenCount), OutputTokens: int64(u.CandidatesTokenCount + u.ThoughtsTokenCount)}
	}
	if fb := resp.PromptFeedback; fb != nil && fb.BlockReason != "" {
		d.finish = FinishFiltered
	}
	if len(resp.Candidates) == 0 {
		return nil, nil
	}
	cand := resp.Candidates[0]
	if f := geminiFinish(cand.FinishReason); f != "" {
		d.finish = f
	}
	if cand.Content == nil {
		return nil, nil
	}
	var events []Event
	for _, part := range cand.Content.Parts {
		switch {
		case part.FunctionCall != nil:
			c := callParts{id: part.FunctionCall.ID, name: part.FunctionCall.Name, signature: part.ThoughtSignature}
			if part.FunctionCall.Args != nil {
				args, _ := json.Marshal(part.FunctionCall.Args)
				c.args.Write(args)
				d.args += int64(len(args))
			}
			events = append(events, Event{Kind: EventToolCall, ToolCall: c.call()})
			d.calls++
		case part.Text != "" && !part.Thought:
			events = append(events, Event{Kind: EventText, Text: part.Text})
		}
	}
	return events, nil
}

func (d *geminiDecoder) end() []Event {
	var events []Event
	if d.usage != nil {
		events = append(events, Event{Kind: EventUsage, Usage: *d.usage})
	}
	finish := d.finish
	if finish == FinishStop && d.calls > 0 {
		finish = FinishToolCalls // Gemini says STOP after function calls
	}
	return append(events, Event{Kind: EventFinish, Finish: finish})
}

func (d *geminiDecoder) argBytes() int64 { return d.args }

func (d *geminiDecoder) close() { d.stop() }

func geminiFinish(reason genai.FinishReason) FinishReason {
	switch reason {
	case "", genai.FinishReasonUnspecified:
		return ""
	case genai.FinishReasonStop:
		return FinishStop
	case genai.FinishReasonMaxTokens:
		return FinishLength
	case genai.FinishReasonSafety, genai.FinishReasonRecitation, genai.FinishReasonBlocklist,
		genai.FinishReasonProhibitedContent, genai.FinishReasonSPII:
		return FinishFiltered
	}
	return FinishOther
}
