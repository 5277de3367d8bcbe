package providers

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is the API key every test provider uses; it must never show up in
// an error or a log line.
const testKey = "sk-test-DO-NOT-LEAK-4242"

// reply is what a fake provider server does with one request.
type reply struct {
	status      int               // default 200
	header      map[string]string // extra response headers (Retry-After)
	contentType string            // for body replies; default application/json
	body        string            // a whole, non-streamed body
	frames      []string          // SSE frames, flushed one at a time; nil means body
	hang        bool              // send nothing until the client gives up
	then        string            // after the frames: "" ends the body, "stall" waits for the client to leave, "cut" drops the connection
}

// seenRequest is a request a fake server received.
type seenRequest struct {
	method, path, query string
	header              http.Header
	body                map[string]any
}

// fake is a local server speaking a provider's wire format, scripted with
// one reply per expected request.
type fake struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	replies []reply
	seen    []seenRequest
}

func newFake(t *testing.T, replies ...reply) *fake {
	t.Helper()
	f := &fake{t: t, replies: replies}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	f.mu.Lock()
	n := len(f.seen)
	f.seen = append(f.seen, seenRequest{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
	var rep reply
	ok := n < len(f.replies)
	if ok {
		rep = f.replies[n]
	}
	f.mu.Unlock()
	if !ok {
		f.t.Errorf("unexpected request %d: %s %s", n+1, r.Method, r.URL.Path)
		http.Error(w, "unexpected request", http.StatusTeapot)
		return
	}

	if rep.hang {
		<-r.Context().Done()
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.frames == nil {
		w.Header().Set("Content-Type", cmp.Or(rep.contentType, "application/json"))
		w.WriteHeader(cmp.Or(rep.status, http.StatusOK))
		_, _ = io.WriteString(w, rep.body)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(cmp.Or(rep.status, http.StatusOK))
	flusher := w.(http.Flusher)
	for _, frame := range rep.frames {
		if _, err := io.WriteString(w, frame); err != nil {
			return
		}
		flusher.Flush()
	}
	switch rep.then {
	case "stall":
		<-r.Context().Done()
	case "cut":
		panic(http.ErrAbortHandler) // the connection closes mid-body
	}
}

// requests returns what the server has received so far.
func (f *fake) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

func (f *fake) requireRequests(n int) []seenRequest {
	f.t.Helper()
	got := f.requests()
	if len(got) != n {
		f.t.Fatalf("server got %d requests, want %d", len(got), n)
	}
	return got
}

// SSE framing: "data:" only (OpenAI, Gemini) or with an event name (Anthropic).
func data(payload string) string        { return "data: " + payload + "\n\n" }
func event(name, payload string) string { return "event: " + name + "\n" + data(payload) }

// harness is a provider pointed at a fake, with its waits and logs recorded.
type harness struct {
	p      *Provider
	fake   *fake
	sleeps *sleepRecorder
	logs   *lockedBuffer
}

func newHarness(t *testing.T, provider string, replies []reply, opts ...Option) *harness {
	t.Helper()
	f := newFake(t, replies...)
	return newHarnessAt(t, provider, f, baseURLFor(provider, f.srv.URL), opts...)
}

func newHarnessAt(t *testing.T, provider string, f *fake, baseURL string, opts ...Option) *harness {
	t.Helper()
	h := &harness{fake: f, sleeps: &sleepRecorder{}, logs: &lockedBuffer{}}
	opts = append([]Option{
		local,
		WithRetryPolicy(RetryPolicy{Sleep: h.sleeps.sleep}),
		WithLogger(slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, opts...)
	p, err := New(provider, testKey, baseURL, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", provider, err)
	}
	h.p = p
	t.Cleanup(func() {
		if strings.Contains(h.logs.String(), testKey) {
			t.Errorf("the API key was logged:\n%s", h.logs.String())
		}
	})
	return h
}

// baseURLFor is the base URL a user would configure for a server at root.
func baseURLFor(provider, root string) string {
	switch provider {
	case Anthropic, Gemini:
		return root
	}
	return root + "/v1"
}

// sleepRecorder stands in for the retry clock.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// turn is everything a stream delivered.
type turn struct {
	text   string
	calls  []ToolCall
	usage  *Usage
	finish FinishReason
	kinds  []EventKind
}

// drain reads s to the end.
func drain(s *Stream) (turn, error) {
	defer s.Close()
	var tr turn
	for s.Next() {
		ev := s.Event()
		tr.kinds = append(tr.kinds, ev.Kind)
		switch ev.Kind {
		case EventText:
			tr.text += ev.Text
		case EventToolCall:
			tr.calls = append(tr.calls, ev.ToolCall)
		case EventUsage:
			u := ev.Usage
			tr.usage = &u
		case EventFinish:
			tr.finish = ev.Finish
		}
	}
	return tr, s.Err()
}

// streamAll starts a turn and drains it.
func (h *harness) streamAll(t *testing.T, req Request) (turn, error) {
	t.Helper()
	s, err := h.p.Stream(context.Background(), req)
	if err != nil {
		return turn{}, err
	}
	return drain(s)
}

// sampleRequest is a conversation with a tool round trip already in it.
func sampleRequest(model string) Request {
	temperature := 0.25
	return Request{
		Model:  model,
		System: "You are Studio's builder.",
		Messages: []Message{
			{Role: RoleUser, Text: "Add a dark mode toggle"},
			{Role: RoleAssistant, Text: "Reading the app first.", ToolCalls: []ToolCall{
				{ID: "call_1", Name: "read_file", Args: `{"path":"src/App.tsx"}`},
			}},
			{Role: RoleTool, ToolCallID: "call_1", Text: "export default function App() {}"},
		},
		Tools: []Tool{{
			Name:        "read_file",
			Description: "Read a file of the project",
			Schema:      json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}`),
		}},
		MaxTokens:   1000,
		Temperature: &temperature,
	}
}

// wantJSON compares a decoded JSON value with the JSON text want.
func wantJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation for %s: %v", what, err)
	}
	if !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		t.Errorf("%s:\n got %s\nwant %s", what, g, want)
	}
}

// path digs into decoded JSON: path(body, "messages", 0, "role").
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// requireError checks an error's kind and its exact user-facing message.
func requireError(t *testing.T, err error, kind error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", msg)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %q is not %v", err, kind)
	}
	if err.Error() != msg {
		t.Errorf("error message\n got %q\nwant %q", err.Error(), msg)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Errorf("error message contains the API key: %q", err)
	}
}
