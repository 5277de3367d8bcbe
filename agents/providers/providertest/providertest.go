// Package providertest runs a local HTTP server that speaks a model
// provider's streaming wire format (OpenAI chat completions, Anthropic
// Messages or Gemini streamGenerateContent), answering each request with a
// scripted Turn. Point a providers.Provider at BaseURL and the real SDK
// clients talk to it as they would to the provider.
//
//	srv := providertest.New("anthropic")
//	defer srv.Close()
//	srv.Push(providertest.Say("Hello, ", "world"))
//	p, _ := providers.New("anthropic", "sk-test", srv.BaseURL(), providers.WithHTTPClient(srv.Client()))
//
// Providers refuse loopback addresses unless allowed, so a client needs
// srv.Client() (or its own netguard client allowing 127.0.0.1).
//
// A Server is safe for concurrent use.
package providertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"studio/netguard"
)

// Call is one tool call the fake model makes. Args is JSON text; the server
// splits it across several stream frames (OpenAI: tool_calls argument
// deltas; Anthropic: input_json_delta) like real providers do. Args may be
// deliberately malformed JSON. Gemini sends each call whole with its
// arguments as an object, so there Args that are not a JSON object are left
// out of the call.
type Call struct{ Name, Args string }

// Turn is the scripted answer to one request.
type Turn struct {
	Text  []string // text pieces, each sent in its own frame, in order
	Calls []Call   // tool calls after the text; when non-empty the finish reason is tool use
	// InputTokens and OutputTokens are the usage reported at the end. When
	// both are 0 the server reports 10 and len(Text).
	InputTokens, OutputTokens int64
	Delay                     time.Duration // pause before each frame and before an error answer (0 = none)
	// Status, when neither 0 nor 200, is the HTTP status to answer with,
	// along with the provider's JSON error body (a 429 also gets
	// Retry-After: 0).
	Status int
	Hang   bool // accept the request and send nothing until the client goes away
	// Cut drops the connection after the frames, without the final frames
	// that carry usage and the finish reason.
	Cut bool
	// StallAfter keeps the connection open and silent after the frames
	// until the client leaves.
	StallAfter bool
	// OnFrame, when set, is called with the index of each text piece right
	// before its frame is written (after the Delay), so that benchmarks
	// can time each piece from the moment it goes out.
	OnFrame func(i int)
	// Endless, when not empty, is sent again and again after the frames
	// until the client leaves: a stream that never finishes and never
	// reports usage, as a broken or hostile server might send.
	Endless string
	// EndlessArgs sends the Endless pieces as the arguments of a tool call
	// (named write_file) instead of as text. Gemini sends calls whole, so
	// there it has no effect.
	EndlessArgs bool
}

// Forever is a turn that streams piece without end and without usage.
func Forever(piece string) Turn { return Turn{Endless: piece} }

// ForeverArgs is a turn whose tool call's arguments never end.
func ForeverArgs(piece string) Turn { return Turn{Endless: piece, EndlessArgs: true} }

// Say is a turn that answers with text pieces.
func Say(pieces ...string) Turn { return Turn{Text: pieces} }

// Use is a turn that makes tool calls.
func Use(calls ...Call) Turn { return Turn{Calls: calls} }

// Tokens is a turn that answers with n text pieces, each piece.
func Tokens(n int, piece string) Turn {
	text := make([]string, n)
	for i := range text {
		text[i] = piece
	}
	return Turn{Text: text}
}

// Request is what the server received for one turn. Body is the decoded
// JSON body, nil if it was not a JSON object. Header and Body are shared by
// every copy of the Request; do not modify them.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         map[string]any
}

// format is a family of wire formats.
type format int

const (
	openaiFormat format = iota
	anthropicFormat
	geminiFormat
)

// Server is a fake provider on 127.0.0.1.
type Server struct {
	format    format
	srv       *httptest.Server
	done      chan struct{} // closed by Close, to end waiting handlers
	closeOnce sync.Once

	mu       sync.Mutex
	queue    []Turn
	respond  func(r Request, n int) Turn
	requests []Request
	models   []string
	open     int // chat requests being answered
}

// New starts a fake provider. provider is "openai", "openai_compatible" or
// "ollama" (all in OpenAI's format), "anthropic" or "gemini"; New panics on
// any other name.
func New(provider string) *Server {
	s := &Server{done: make(chan struct{}), models: []string{"fake-model"}}
	switch provider {
	case "openai", "openai_compatible", "ollama":
		s.format = openaiFormat
	case "anthropic":
		s.format = anthropicFormat
	case "gemini":
		s.format = geminiFormat
	default:
		panic(fmt.Sprintf("providertest: unknown provider %q", provider))
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is what a user would configure as the provider's base URL:
// root+"/v1" for the OpenAI format, the root for Anthropic and Gemini.
func (s *Server) BaseURL() string {
	if s.format == openaiFormat {
		return s.srv.URL + "/v1"
	}
	return s.srv.URL
}

// Client is a provider HTTP client that may reach this server, and no other
// internal address: a netguard client allowing exactly its host:port.
func (s *Server) Client() *http.Client {
	allow, err := netguard.ParseAllowList(s.srv.Listener.Addr().String())
	if err != nil {
		panic(fmt.Sprintf("providertest: %v", err))
	}
	return netguard.NewClient(netguard.NewDialer(allow))
}

// Close ends every open request and shuts the server down. It is safe to
// call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// Push queues scripted answers, consumed in order.
func (s *Server) Push(turns ...Turn) {
	s.mu.Lock()
	s.queue = append(s.queue, turns...)
	s.mu.Unlock()
}

// Respond sets a function that answers when the queue is empty. It gets the
// request and its number among all chat requests, starting at 1, and may be
// called from several goroutines at once. Without a queued turn or a
// Respond function, the server answers 500 with a JSON error saying "no
// scripted turn".
func (s *Server) Respond(f func(r Request, n int) Turn) {
	s.mu.Lock()
	s.respond = f
	s.mu.Unlock()
}

// Requests returns the chat requests received so far, in order. Model list
// requests are not recorded.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Open is how many chat requests the server is answering right now: a
// client that stopped reading and closed its connection leaves none.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// Models sets what the model list endpoint answers; "fake-model" until set.
func (s *Server) Models(names ...string) {
	s.mu.Lock()
	s.models = slices.Clone(names)
	s.mu.Unlock()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/models"):
		s.listModels(w)
		return
	case r.Method != http.MethodPost:
	case s.format == openaiFormat && strings.HasSuffix(p, "/chat/completions"),
		s.format == anthropicFormat && strings.HasSuffix(p, "/messages"),
		s.format == geminiFormat && strings.HasSuffix(p, ":streamGenerateContent"):
		s.chat(w, r)
		return
	}
	s.writeError(w, http.StatusNotFound, "providertest: no such endpoint: "+r.Method+" "+p)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
	_ = json.Unmarshal(raw, &req.Body)

	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.open++
	defer func() {
		s.mu.Lock()
		s.open--
		s.mu.Unlock()
	}()
	n := len(s.requests)
	var turn Turn
	queued := len(s.queue) > 0
	if queued {
		turn = s.queue[0]
		s.queue[0] = Turn{}
		s.queue = s.queue[1:]
	}
	respond := s.respond
	s.mu.Unlock()

	switch {
	case queued:
	case respond != nil:
		turn = respond(req, n)
	default:
		s.writeError(w, http.StatusInternalServerError, "no scripted turn")
		return
	}
	s.play(w, r, req, n, turn)
}

// play answers one chat request with turn.
func (s *Server) play(w http.ResponseWriter, r *http.Request, req Request, n int, turn Turn) {
	ctx := r.Context()
	if turn.Hang {
		s.waitGone(ctx)
		return
	}
	if turn.Status != 0 && turn.Status != http.StatusOK {
		if s.pause(ctx, turn.Delay) {
			s.writeError(w, turn.Status, fmt.Sprintf("scripted %d %s", turn.Status, http.StatusText(turn.Status)))
		}
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	fw := &frameWriter{s: s, ctx: ctx, w: w, flusher: flusher, delay: turn.Delay, buf: make([]byte, 0, 512)}
	in, out := usage(turn)
	var enc encoder
	switch s.format {
	case openaiFormat:
		enc = newOpenAIEncoder(fw, modelOf(req), n)
	case anthropicFormat:
		enc = newAnthropicEncoder(fw, modelOf(req), n)
	case geminiFormat:
		enc = newGeminiEncoder(fw, geminiModel(req.Path), n)
	}
	if !enc.frames(turn) {
		return
	}
	if turn.Endless != "" {
		enc.endless(turn)
		return
	}
	switch {
	case turn.Cut:
		panic(http.ErrAbortHandler) // the connection closes mid-body
	case turn.StallAfter:
		s.waitGone(ctx)
		return
	}
	enc.end(len(turn.Calls) > 0, in, out)
}

// encoder writes one turn in a provider's format.
type encoder interface {
	// frames sends the text and tool calls; false if the client went away.
	frames(t Turn) bool
	// end sends usage and the finish reason.
	end(toolUse bool, in, out int64)
	// endless sends t.Endless until the client leaves.
	endless(t Turn)
}

// frameWriter sends SSE frames, one write and flush each.
type frameWriter struct {
	s       *Server
	ctx     context.Context
	w       http.ResponseWriter
	flusher http.Flusher
	delay   time.Duration
	buf     []byte // the frame being built
}

// send writes buf as one frame after the turn's delay; false if the client
// went away or the server closed.
func (fw *frameWriter) send() bool { return fw.wait() && fw.write() }

// sendText is send for text piece i, reported to onFrame (if set) just
// before the write.
func (fw *frameWriter) sendText(onFrame func(int), i int) bool {
	if !fw.wait() {
		return false
	}
	if onFrame != nil {
		onFrame(i)
	}
	return fw.write()
}

// repeat sends buf again and again until the client leaves or the server
// closes.
func (fw *frameWriter) repeat() {
	for {
		select {
		case <-fw.s.done:
			return
		default:
		}
		if !fw.send() {
			return
		}
	}
}

// wait waits the turn's delay; false if the client went away or the server
// closed first.
func (fw *frameWriter) wait() bool {
	return fw.delay <= 0 || fw.s.pause(fw.ctx, fw.delay)
}

// write writes and flushes buf; false if the client went away.
func (fw *frameWriter) write() bool {
	if _, err := fw.w.Write(fw.buf); err != nil {
		return false
	}
	if fw.flusher != nil {
		fw.flusher.Flush()
	}
	return true
}

// pause waits d; false if the client went away or the server closed first.
func (s *Server) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

// waitGone waits until the client leaves or the server closes.
func (s *Server) waitGone(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.done:
	}
}

// modelOf is the model an OpenAI or Anthropic request names.
func modelOf(r Request) string {
	if m, ok := r.Body["model"].(string); ok && m != "" {
		return m
	}
	return "fake-model"
}

// geminiModel is the model in a path like /v1beta/models/{model}:streamGenerateContent.
func geminiModel(path string) string {
	_, rest, _ := strings.Cut(path, "/models/")
	model, _, _ := strings.Cut(rest, ":")
	if model == "" {
		return "fake-model"
	}
	return model
}

func (s *Server) listModels(w http.ResponseWriter) {
	s.mu.Lock()
	names := slices.Clone(s.models)
	s.mu.Unlock()
	var body any
	switch s.format {
	case openaiFormat:
		type model struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		}
		data := make([]model, len(names))
		for i, n := range names {
			data[i] = model{ID: n, Object: "model", Created: 1735689600, OwnedBy: "providertest"}
		}
		body = map[string]any{"object": "list", "data": data}
	case anthropicFormat:
		type model struct {
			ID          string `json:"id"`
			Type        string `json:"type"`
			DisplayName string `json:"display_name"`
			CreatedAt   string `json:"created_at"`
		}
		data := make([]model, len(names))
		for i, n := range names {
			data[i] = model{ID: n, Type: "model", DisplayName: n, CreatedAt: "2025-01-01T00:00:00Z"}
		}
		var first, last any
		if len(names) > 0 {
			first, last = names[0], names[len(names)-1]
		}
		body = map[string]any{"data": data, "has_more": false, "first_id": first, "last_id": last}
	case geminiFormat:
		type model struct {
			Name                       string   `json:"name"`
			DisplayName                string   `json:"displayName"`
			SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
		}
		data := make([]model, len(names))
		for i, n := range names {
			data[i] = model{Name: "models/" + n, DisplayName: n, SupportedGenerationMethods: []string{"generateContent", "countTokens"}}
		}
		body = map[string]any{"models": data}
	}
	writeJSON(w, http.StatusOK, body)
}

// writeError answers with status and the provider's JSON error body.
func (s *Server) writeError(w http.ResponseWriter, status int, message string) {
	var body any
	switch s.format {
	case openaiFormat:
		typ, code := "server_error", any(nil)
		switch {
		case status == http.StatusUnauthorized:
			typ, code = "invalid_request_error", "invalid_api_key"
		case status == http.StatusTooManyRequests:
			typ, code = "requests", "rate_limit_exceeded"
		case status < 500:
			typ = "invalid_request_error"
		}
		body = map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nil, "code": code}}
	case anthropicFormat:
		typ := map[int]string{
			400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
			404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error",
		}[status]
		if typ == "" {
			typ = "api_error"
		}
		body = map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": message}}
	case geminiFormat:
		st := map[int]string{
			400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
			429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
		}[status]
		if st == "" {
			st = "INTERNAL"
		}
		body = map[string]any{"error": map[string]any{"code": status, "message": message, "status": st}}
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "0")
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// The frames are built by hand: a text frame is a fixed prefix, the piece
// as a JSON string and a fixed suffix, so a turn of many pieces costs one
// escape, one write and one flush per piece.

// openaiEncoder writes chat.completion.chunk frames. Tool calls start with
// a delta naming the call; their arguments follow in pieces. The finish
// reason and the usage come in chunks of their own, then [DONE].
type openaiEncoder struct {
	fw   *frameWriter
	head string // every chunk up to and including `"choices":[`
	n    int
}

func newOpenAIEncoder(fw *frameWriter, model string, n int) *openaiEncoder {
	head := `data: {"id":"chatcmpl-` + strconv.Itoa(n) + `","object":"chat.completion.chunk","created":` +
		strconv.FormatInt(time.Now().Unix(), 10) + `,"model":` + quote(model) + `,"choices":[`
	return &openaiEncoder{fw: fw, head: head, n: n}
}

const openaiChoiceEnd = `},"logprobs":null,"finish_reason":null}]}` + "\n\n"

func (e *openaiEncoder) frames(t Turn) bool {
	fw := e.fw
	fw.buf = append(append(fw.buf[:0], e.head...), `{"index":0,"delta":{"role":"assistant","content":""`+openaiChoiceEnd...)
	if !fw.send() {
		return false
	}
	prefix := e.head + `{"index":0,"delta":{"content":`
	for i, piece := range t.Text {
		fw.buf = appendString(append(fw.buf[:0], prefix...), piece)
		fw.buf = append(fw.buf, openaiChoiceEnd...)
		if !fw.sendText(t.OnFrame, i) {
			return false
		}
	}
	for i, c := range t.Calls {
		index := strconv.Itoa(i)
		fw.buf = append(append(fw.buf[:0], e.head...), `{"index":0,"delta":{"tool_calls":[{"index":`...)
		fw.buf = append(fw.buf, index+`,"id":"call_`+strconv.Itoa(e.n)+"_"+strconv.Itoa(i+1)+`","type":"function","function":{"name":`...)
		fw.buf = appendString(fw.buf, c.Name)
		fw.buf = append(fw.buf, `,"arguments":""}}]`+openaiChoiceEnd...)
		if !fw.send() {
			return false
		}
		for _, piece := range splitArgs(c.Args) {
			fw.buf = append(append(fw.buf[:0], e.head...), `{"index":0,"delta":{"tool_calls":[{"index":`+index+`,"function":{"arguments":`...)
			fw.buf = appendString(fw.buf, piece)
			fw.buf = append(fw.buf, `}}]`+openaiChoiceEnd...)
			if !fw.send() {
				return false
			}
		}
	}
	return true
}

func (e *openaiEncoder) endless(t Turn) {
	fw := e.fw
	prefix := e.head + `{"index":0,"delta":{"content":`
	if t.EndlessArgs {
		index := strconv.Itoa(len(t.Calls))
		fw.buf = append(append(fw.buf[:0], e.head...), `{"index":0,"delta":{"tool_calls":[{"index":`+index+
			`,"id":"call_endless","type":"function","function":{"name":"write_file","arguments":""}}]`+openaiChoiceEnd...)
		if !fw.send() {
			return
		}
		prefix = e.head + `{"index":0,"delta":{"tool_calls":[{"index":` + index + `,"function":{"arguments":`
	}
	suffix := openaiChoiceEnd
	if t.EndlessArgs {
		suffix = `}}]` + openaiChoiceEnd
	}
	fw.buf = appendString(append(fw.buf[:0], prefix...), t.Endless)
	fw.buf = append(fw.buf, suffix...)
	fw.repeat()
}

func (e *openaiEncoder) end(toolUse bool, in, out int64) {
	fw := e.fw
	reason := "stop"
	if toolUse {
		reason = "tool_calls"
	}
	fw.buf = append(append(fw.buf[:0], e.head...), `{"index":0,"delta":{},"logprobs":null,"finish_reason":"`+reason+`"}]}`+"\n\n"...)
	if !fw.send() {
		return
	}
	fw.buf = append(append(fw.buf[:0], e.head...), `],"usage":{"prompt_tokens":`...)
	fw.buf = strconv.AppendInt(fw.buf, in, 10)
	fw.buf = append(fw.buf, `,"completion_tokens":`...)
	fw.buf = strconv.AppendInt(fw.buf, out, 10)
	fw.buf = append(fw.buf, `,"total_tokens":`...)
	fw.buf = strconv.AppendInt(fw.buf, in+out, 10)
	fw.buf = append(fw.buf, "}}\n\n"...)
	if !fw.send() {
		return
	}
	fw.buf = append(fw.buf[:0], "data: [DONE]\n\n"...)
	fw.send()
}

// anthropicEncoder writes Messages stream events: message_start, a text
// block, one tool_use block per call with its input in input_json_delta
// pieces, then message_delta with the stop reason and usage, and
// message_stop.
type anthropicEncoder struct {
	fw    *frameWriter
	model string
	n     int
}

func newAnthropicEncoder(fw *frameWriter, model string, n int) *anthropicEncoder {
	return &anthropicEncoder{fw: fw, model: model, n: n}
}

func (e *anthropicEncoder) frames(t Turn) bool {
	fw := e.fw
	in, _ := usage(t)
	fw.buf = append(fw.buf[:0], "event: message_start\ndata: "+`{"type":"message_start","message":{"id":"msg_`+strconv.Itoa(e.n)+
		`","type":"message","role":"assistant","model":`+quote(e.model)+
		`,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`...)
	fw.buf = strconv.AppendInt(fw.buf, in, 10)
	fw.buf = append(fw.buf, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}}`+"\n\n"...)
	if !fw.send() {
		return false
	}
	index := 0
	if len(t.Text) > 0 {
		if !e.blockStart(index, `{"type":"text","text":""}`) {
			return false
		}
		prefix := "event: content_block_delta\ndata: " + `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`
		for i, piece := range t.Text {
			fw.buf = appendString(append(fw.buf[:0], prefix...), piece)
			fw.buf = append(fw.buf, "}}\n\n"...)
			if !fw.sendText(t.OnFrame, i) {
				return false
			}
		}
		if !e.blockStop(index) {
			return false
		}
		index++
	}
	for i, c := range t.Calls {
		block := `{"type":"tool_use","id":"toolu_` + strconv.Itoa(e.n) + "_" + strconv.Itoa(i+1) + `","name":` + quote(c.Name) + `,"input":{}}`
		if !e.blockStart(index, block) {
			return false
		}
		prefix := "event: content_block_delta\ndata: " + `{"type":"content_block_delta","index":` + strconv.Itoa(index) +
			`,"delta":{"type":"input_json_delta","partial_json":`
		for _, piece := range splitArgs(c.Args) {
			fw.buf = appendString(append(fw.buf[:0], prefix...), piece)
			fw.buf = append(fw.buf, "}}\n\n"...)
			if !fw.send() {
				return false
			}
		}
		if !e.blockStop(index) {
			return false
		}
		index++
	}
	return true
}

// endless opens a block of its own after the turn's blocks and never
// closes it.
func (e *anthropicEncoder) endless(t Turn) {
	fw := e.fw
	index := len(t.Calls)
	if len(t.Text) > 0 {
		index++
	}
	block, delta := `{"type":"text","text":""}`, `{"type":"text_delta","text":`
	if t.EndlessArgs {
		block = `{"type":"tool_use","id":"toolu_endless","name":"write_file","input":{}}`
		delta = `{"type":"input_json_delta","partial_json":`
	}
	if !e.blockStart(index, block) {
		return
	}
	fw.buf = append(fw.buf[:0], "event: content_block_delta\ndata: "+`{"type":"content_block_delta","index":`+strconv.Itoa(index)+`,"delta":`+delta...)
	fw.buf = appendString(fw.buf, t.Endless)
	fw.buf = append(fw.buf, "}}\n\n"...)
	fw.repeat()
}

func (e *anthropicEncoder) blockStart(index int, block string) bool {
	e.fw.buf = append(e.fw.buf[:0], "event: content_block_start\ndata: "+`{"type":"content_block_start","index":`+
		strconv.Itoa(index)+`,"content_block":`+block+"}\n\n"...)
	return e.fw.send()
}

func (e *anthropicEncoder) blockStop(index int) bool {
	e.fw.buf = append(e.fw.buf[:0], "event: content_block_stop\ndata: "+`{"type":"content_block_stop","index":`+
		strconv.Itoa(index)+"}\n\n"...)
	return e.fw.send()
}

func (e *anthropicEncoder) end(toolUse bool, _, out int64) {
	fw := e.fw
	reason := "end_turn"
	if toolUse {
		reason = "tool_use"
	}
	fw.buf = append(fw.buf[:0], "event: message_delta\ndata: "+`{"type":"message_delta","delta":{"stop_reason":"`+reason+
		`","stop_sequence":null},"usage":{"output_tokens":`...)
	fw.buf = strconv.AppendInt(fw.buf, out, 10)
	fw.buf = append(fw.buf, "}}\n\n"...)
	if !fw.send() {
		return
	}
	fw.buf = append(fw.buf[:0], "event: message_stop\ndata: "+`{"type":"message_stop"}`+"\n\n"...)
	fw.send()
}

// geminiEncoder writes GenerateContentResponse chunks: one per text piece,
// one per function call (Gemini sends calls whole), and a last one with the
// finish reason and the usage. Gemini says STOP after function calls too.
type geminiEncoder struct {
	fw   *frameWriter
	tail string // every chunk after its candidates
}

func newGeminiEncoder(fw *frameWriter, model string, n int) *geminiEncoder {
	return &geminiEncoder{fw: fw, tail: `,"modelVersion":` + quote(model) + `,"responseId":"resp-` + strconv.Itoa(n) + `"}` + "\n\n"}
}

const geminiPartsStart = `data: {"candidates":[{"content":{"parts":[`

func (e *geminiEncoder) frames(t Turn) bool {
	fw := e.fw
	suffix := `}],"role":"model"},"index":0}]` + e.tail
	for i, piece := range t.Text {
		fw.buf = append(fw.buf[:0], geminiPartsStart+`{"text":`...)
		fw.buf = appendString(fw.buf, piece)
		fw.buf = append(fw.buf, suffix...)
		if !fw.sendText(t.OnFrame, i) {
			return false
		}
	}
	for _, c := range t.Calls {
		fw.buf = append(fw.buf[:0], geminiPartsStart+`{"functionCall":{"name":`...)
		fw.buf = appendString(fw.buf, c.Name)
		fw.buf = appendGeminiArgs(fw.buf, c.Args)
		fw.buf = append(fw.buf, "}"+suffix...)
		if !fw.send() {
			return false
		}
	}
	return true
}

// appendGeminiArgs adds the "args" member when args is a JSON object,
// compacted so that it stays on the SSE data line.
func appendGeminiArgs(dst []byte, args string) []byte {
	trimmed := bytes.TrimSpace([]byte(args))
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return dst
	}
	var b bytes.Buffer
	_ = json.Compact(&b, trimmed)
	dst = append(dst, `,"args":`...)
	return append(dst, b.Bytes()...)
}

func (e *geminiEncoder) endless(t Turn) {
	fw := e.fw
	fw.buf = append(fw.buf[:0], geminiPartsStart+`{"text":`...)
	fw.buf = appendString(fw.buf, t.Endless)
	fw.buf = append(fw.buf, `}],"role":"model"},"index":0}]`+e.tail...)
	fw.repeat()
}

func (e *geminiEncoder) end(_ bool, in, out int64) {
	fw := e.fw
	fw.buf = append(fw.buf[:0], geminiPartsStart+`{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":`...)
	fw.buf = strconv.AppendInt(fw.buf, in, 10)
	fw.buf = append(fw.buf, `,"candidatesTokenCount":`...)
	fw.buf = strconv.AppendInt(fw.buf, out, 10)
	fw.buf = append(fw.buf, `,"totalTokenCount":`...)
	fw.buf = strconv.AppendInt(fw.buf, in+out, 10)
	fw.buf = append(fw.buf, "}"+e.tail...)
	fw.send()
}

// usage is the token counts a turn reports.
func usage(t Turn) (in, out int64) {
	if t.InputTokens == 0 && t.OutputTokens == 0 {
		return 10, int64(len(t.Text))
	}
	return t.InputTokens, t.OutputTokens
}

// splitArgs cuts tool call arguments into up to three pieces at rune
// boundaries, as providers stream them.
func splitArgs(args string) []string {
	const parts = 3
	if args == "" {
		return nil
	}
	pieces := make([]string, 0, parts)
	start := 0
	for k := 1; k < parts; k++ {
		cut := len(args) * k / parts
		for cut < len(args) && !utf8.RuneStart(args[cut]) {
			cut++
		}
		if cut > start {
			pieces = append(pieces, args[start:cut])
			start = cut
		}
	}
	if start < len(args) {
		pieces = append(pieces, args[start:])
	}
	return pieces
}

func quote(s string) string { return string(appendString(nil, s)) }

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does
// without HTML escaping: invalid UTF-8 becomes U+FFFD, and U+2028 and
// U+2029 are escaped so the frame is also valid JavaScript.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
