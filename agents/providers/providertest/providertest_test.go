package providertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"studio/agents/providers"
	"studio/internal/testwait"
)

var wireProviders = []string{"openai", "anthropic", "gemini"}

var models = map[string]string{"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}

// start runs a fake provider and a real client pointed at it, with retries
// that do not wait.
func start(t *testing.T, provider string, opts ...providers.Option) (*Server, *providers.Provider) {
	t.Helper()
	srv := New(provider)
	t.Cleanup(srv.Close)
	opts = append([]providers.Option{
		providers.WithHTTPClient(srv.Client()),
		providers.WithRetryPolicy(providers.RetryPolicy{
			Sleep: func(ctx context.Context, d time.Duration) error { return nil },
		}),
		providers.WithLogger(slog.New(slog.DiscardHandler)),
	}, opts...)
	p, err := providers.New(provider, "sk-test", srv.BaseURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, p
}

func hello(provider string) providers.Request {
	return providers.Request{
		Model:    models[provider],
		Messages: []providers.Message{{Role: providers.RoleUser, Text: "hi"}},
		Tools: []providers.Tool{
			{Name: "read_file", Schema: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}}}`)},
			{Name: "list_files"},
		},
	}
}

// answer is everything a stream delivered.
type answer struct {
	text   string
	calls  []providers.ToolCall
	usage  *providers.Usage
	finish providers.FinishReason
}

func drain(s *providers.Stream) (answer, error) {
	defer s.Close()
	var a answer
	for s.Next() {
		ev := s.Event()
		switch ev.Kind {
		case providers.EventText:
			a.text += ev.Text
		case providers.EventToolCall:
			a.calls = append(a.calls, ev.ToolCall)
		case providers.EventUsage:
			u := ev.Usage
			a.usage = &u
		case providers.EventFinish:
			a.finish = ev.Finish
		}
	}
	return a, s.Err()
}

func streamAll(ctx context.Context, p *providers.Provider, req providers.Request) (answer, error) {
	s, err := p.Stream(ctx, req)
	if err != nil {
		return answer{}, err
	}
	return drain(s)
}

func sameJSON(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

func TestStreamsTextAndToolCalls(t *testing.T) {
	t.Parallel()
	for _, provider := range []string{"openai", "openai_compatible", "ollama", "anthropic", "gemini"} {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider)
			srv.Push(Turn{
				Text: []string{"Let me ", "look at \"it\"\n", "ünïcode ✓"},
				Calls: []Call{
					{Name: "read_file", Args: `{"path": "src/App.tsx", "note": "€ and \"quotes\"\n"}`},
					{Name: "list_files", Args: `{}`},
				},
				InputTokens:  120,
				OutputTokens: 30,
			})
			req := hello(provider)
			req.Model = "some-model"
			a, err := streamAll(context.Background(), p, req)
			if err != nil {
				t.Fatal(err)
			}
			if want := "Let me look at \"it\"\nünïcode ✓"; a.text != want {
				t.Errorf("text = %q, want %q", a.text, want)
			}
			if len(a.calls) != 2 {
				t.Fatalf("calls = %+v", a.calls)
			}
			if c := a.calls[0]; c.Name != "read_file" || !sameJSON(c.Args, `{"path":"src/App.tsx","note":"€ and \"quotes\"\n"}`) || c.ArgsErr != nil || c.ID == "" {
				t.Errorf("call 0 = %+v", c)
			}
			if c := a.calls[1]; c.Name != "list_files" || c.Args != "{}" || c.ArgsErr != nil || c.ID == "" || c.ID == a.calls[0].ID {
				t.Errorf("call 1 = %+v", c)
			}
			if a.usage == nil || *a.usage != (providers.Usage{InputTokens: 120, OutputTokens: 30}) {
				t.Errorf("usage = %+v", a.usage)
			}
			if a.finish != providers.FinishToolCalls {
				t.Errorf("finish = %q", a.finish)
			}

			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests", len(reqs))
			}
			r := reqs[0]
			wantPath := map[string]string{
				"anthropic": "/v1/messages",
				"gemini":    "/v1beta/models/some-model:streamGenerateContent",
			}[provider]
			if wantPath == "" {
				wantPath = "/v1/chat/completions"
			}
			if r.Method != http.MethodPost || r.Path != wantPath {
				t.Errorf("request %s %s, want POST %s", r.Method, r.Path, wantPath)
			}
			if r.Body == nil {
				t.Error("the body was not decoded")
			}
			if provider != "gemini" && r.Body["model"] != "some-model" {
				t.Errorf("model = %v", r.Body["model"])
			}
		})
	}
}

func TestTextOnlyTurnAndDefaultUsage(t *testing.T) {
	t.Parallel()
	for _, provider := range wireProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider)
			srv.Push(Say("a", "b", "c"))
			a, err := streamAll(context.Background(), p, hello(provider))
			if err != nil {
				t.Fatal(err)
			}
			if a.text != "abc" || len(a.calls) != 0 || a.finish != providers.FinishStop {
				t.Errorf("answer = %+v", a)
			}
			if a.usage == nil || *a.usage != (providers.Usage{InputTokens: 10, OutputTokens: 3}) {
				t.Errorf("usage = %+v", a.usage)
			}
		})
	}
}

// TestArgsArriveInPieces reads the raw stream: the arguments of a call are
// spread over several frames.
func TestArgsArriveInPieces(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ path, marker string }{
		"openai":    {"/v1/chat/completions", `"function":{"arguments":`},
		"anthropic": {"/v1/messages", `"input_json_delta"`},
	}
	for provider, tc := range cases {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv := New(provider)
			defer srv.Close()
			srv.Push(Use(Call{Name: "read_file", Args: `{"path": "src/App.tsx"}`}))
			root := strings.TrimSuffix(srv.BaseURL(), "/v1")
			resp, err := http.Post(root+tc.path, "application/json", strings.NewReader(`{"model":"m"}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type = %q", ct)
			}
			var args string
			pieces := 0
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				line, ok := strings.CutPrefix(sc.Text(), "data: ")
				if !ok || !strings.Contains(line, tc.marker) {
					continue
				}
				var frame struct {
					Choices []struct {
						Delta struct {
							ToolCalls []struct {
								Function struct{ Arguments string } `json:"function"`
							} `json:"tool_calls"`
						} `json:"delta"`
					} `json:"choices"`
					Delta struct {
						PartialJSON string `json:"partial_json"`
					} `json:"delta"`
				}
				if err := json.Unmarshal([]byte(line), &frame); err != nil {
					t.Fatalf("frame %s: %v", line, err)
				}
				piece := frame.Delta.PartialJSON
				if len(frame.Choices) > 0 {
					piece = frame.Choices[0].Delta.ToolCalls[0].Function.Arguments
				}
				if piece != "" {
					pieces++
					args += piece
				}
			}
			if pieces < 2 || args != `{"path": "src/App.tsx"}` {
				t.Errorf("arguments came in %d pieces: %q", pieces, args)
			}
		})
	}
}

func TestServerErrorIsRetried(t *testing.T) {
	t.Parallel()
	for _, provider := range wireProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider)
			srv.Push(Turn{Status: 500}, Say("fine"))
			a, err := streamAll(context.Background(), p, hello(provider))
			if err != nil || a.text != "fine" || a.finish != providers.FinishStop {
				t.Fatalf("answer = %+v, %v", a, err)
			}
			if n := len(srv.Requests()); n != 2 {
				t.Errorf("got %d requests, want 2", n)
			}
		})
	}
}

func TestTooManyRequests(t *testing.T) {
	t.Parallel()
	for _, provider := range wireProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider)
			srv.Push(Turn{Status: 429}, Say("fine"))
			a, err := streamAll(context.Background(), p, hello(provider))
			if err != nil || a.text != "fine" {
				t.Fatalf("answer = %+v, %v", a, err)
			}
		})
	}
	srv := New("openai")
	defer srv.Close()
	srv.Push(Turn{Status: 429})
	resp, err := http.Post(srv.BaseURL()+"/chat/completions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "0" {
		t.Errorf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestKeyRejected(t *testing.T) {
	t.Parallel()
	for _, provider := range wireProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider)
			srv.Push(Turn{Status: 401})
			_, err := p.Stream(context.Background(), hello(provider))
			if !errors.Is(err, providers.ErrKeyRejected) {
				t.Errorf("err = %v, want ErrKeyRejected", err)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("got %d requests, want 1", n)
			}
		})
	}
}

func TestRespondWhenQueueIsEmpty(t *testing.T) {
	t.Parallel()
	for _, provider := range wireProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider)
			srv.Push(Say("queued"))
			var mu sync.Mutex
			var got []int
			srv.Respond(func(r Request, n int) Turn {
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
				if r.Method != http.MethodPost || r.Body == nil {
					return Turn{Status: 400}
				}
				return Say(fmt.Sprint("answer ", n))
			})
			for _, want := range []string{"queued", "answer 2", "answer 3"} {
				a, err := streamAll(context.Background(), p, hello(provider))
				if err != nil || a.text != want {
					t.Fatalf("answer = %+v, %v; want %q", a, err, want)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !reflect.DeepEqual(got, []int{2, 3}) {
				t.Errorf("Respond got request numbers %v", got)
			}
		})
	}
}

func TestNoScriptedTurn(t *testing.T) {
	t.Parallel()
	for _, provider := range wireProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider, providers.WithRetryPolicy(providers.RetryPolicy{
				Attempts: 1,
				Sleep:    func(ctx context.Context, d time.Duration) error { return nil },
			}))
			_, err := p.Stream(context.Background(), hello(provider))
			var perr *providers.Error
			if !errors.As(err, &perr) || perr.StatusCode != 500 || !strings.Contains(err.Error(), "no scripted turn") {
				t.Errorf("err = %v", err)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("got %d requests, want 1", n)
			}
		})
	}
}

func TestListModels(t *testing.T) {
	t.Parallel()
	for _, provider := range wireProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider)
			got, err := p.ListModels(context.Background())
			if err != nil || !reflect.DeepEqual(got, []string{"fake-model"}) {
				t.Errorf("default models = %v, %v", got, err)
			}
			srv.Models("model-b", "model-a")
			got, err = p.ListModels(context.Background())
			if err != nil || !reflect.DeepEqual(got, []string{"model-a", "model-b"}) {
				t.Errorf("models = %v, %v", got, err)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("model lists were recorded: %d requests", n)
			}
		})
	}
}

func TestMalformedArgs(t *testing.T) {
	t.Parallel()
	for _, provider := range []string{"openai", "anthropic"} {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider)
			srv.Push(Use(
				Call{Name: "write_file", Args: `{"path": "a.txt", "content": "unterminated`},
				Call{Name: "read_file", Args: `{"path":"a.txt"}`},
			))
			a, err := streamAll(context.Background(), p, hello(provider))
			if err != nil {
				t.Fatal(err)
			}
			if len(a.calls) != 2 || a.finish != providers.FinishToolCalls {
				t.Fatalf("answer = %+v", a)
			}
			bad := a.calls[0]
			if bad.Args != `{"path": "a.txt", "content": "unterminated` || bad.ArgsErr == nil || !strings.Contains(bad.ArgsErr.Error(), "write_file") {
				t.Errorf("bad call = %+v", bad)
			}
			if a.calls[1].ArgsErr != nil {
				t.Errorf("good call = %+v", a.calls[1])
			}
		})
	}
	t.Run("gemini", func(t *testing.T) {
		t.Parallel()
		// Gemini sends arguments as an object; text that is not one is left out.
		srv, p := start(t, "gemini")
		srv.Push(Use(Call{Name: "write_file", Args: `{"path": `}))
		a, err := streamAll(context.Background(), p, hello("gemini"))
		if err != nil || len(a.calls) != 1 || a.calls[0].Name != "write_file" || a.calls[0].Args != "{}" {
			t.Fatalf("answer = %+v, %v", a, err)
		}
	})
}

func TestCut(t *testing.T) {
	t.Parallel()
	for _, provider := range wireProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider)
			srv.Push(Turn{Text: []string{"Hel", "lo"}, Cut: true})
			a, err := streamAll(context.Background(), p, hello(provider))
			if !errors.Is(err, providers.ErrInterrupted) || a.text == "" || a.finish != "" {
				t.Errorf("answer = %+v, %v", a, err)
			}
		})
	}
}

func TestStallAfter(t *testing.T) {
	t.Parallel()
	for _, provider := range wireProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider, providers.WithIdleTimeout(100*time.Millisecond))
			srv.Push(Turn{Text: []string{"Hel", "lo"}, StallAfter: true})
			a, err := streamAll(context.Background(), p, hello(provider))
			if !errors.Is(err, providers.ErrTimeout) || !errors.Is(err, providers.ErrInterrupted) || a.text != "Hello" {
				t.Errorf("answer = %+v, %v", a, err)
			}
		})
	}
}

func TestHang(t *testing.T) {
	t.Parallel()
	for _, provider := range wireProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider)
			srv.Push(Turn{Hang: true})
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := p.Stream(ctx, hello(provider))
			if !errors.Is(err, providers.ErrTimeout) {
				t.Errorf("err = %v, want ErrTimeout", err)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("got %d requests, want 1", n)
			}
		})
	}
}

func TestCloseEndsHangingRequests(t *testing.T) {
	t.Parallel()
	srv, p := start(t, "anthropic")
	srv.Push(Turn{Hang: true})
	errc := make(chan error, 1)
	go func() {
		_, err := p.Stream(context.Background(), hello("anthropic"))
		errc <- err
	}()
	testwait.Eventually(t, 10*time.Second, func() bool { return len(srv.Requests()) > 0 }, "the request reaches the server")
	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("Close waited for a hanging request")
	}
	if err := <-errc; err == nil {
		t.Error("the stream of a closed server succeeded")
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	srv, p := start(t, "openai")
	turn := Say("a", "b", "c")
	turn.Delay = 10 * time.Millisecond
	srv.Push(turn)
	begin := time.Now()
	a, err := streamAll(context.Background(), p, hello("openai"))
	if err != nil || a.text != "abc" {
		t.Fatalf("answer = %+v, %v", a, err)
	}
	// role, three pieces, finish, usage, [DONE]
	if elapsed := time.Since(begin); elapsed < 70*time.Millisecond {
		t.Errorf("the turn took %v, want at least 70ms", elapsed)
	}
}

func TestManyPieces(t *testing.T) {
	t.Parallel()
	for _, provider := range wireProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			srv, p := start(t, provider)
			srv.Push(Tokens(10000, "tok "))
			a, err := streamAll(context.Background(), p, hello(provider))
			if err != nil || len(a.text) != 40000 || a.finish != providers.FinishStop {
				t.Fatalf("got %d bytes of text, finish %q, %v", len(a.text), a.finish, err)
			}
			if a.usage == nil || a.usage.OutputTokens != 10000 {
				t.Errorf("usage = %+v", a.usage)
			}
		})
	}
}

func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	srv, p := start(t, "openai")
	srv.Respond(func(r Request, n int) Turn { return Say("x", "y") })
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			a, err := streamAll(context.Background(), p, hello("openai"))
			if err == nil && a.text != "xy" {
				err = fmt.Errorf("text %q", a.text)
			}
			errs <- err
		})
	}
	wg.Go(func() { srv.Push(Say("x", "y")) })
	wg.Go(func() { _ = srv.Requests() })
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(srv.Requests()); n != 20 {
		t.Errorf("got %d requests", n)
	}
}

func TestUnknownEndpoint(t *testing.T) {
	t.Parallel()
	srv := New("gemini")
	defer srv.Close()
	resp, err := http.Post(srv.BaseURL()+"/v1/chat/completions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || len(srv.Requests()) != 0 {
		t.Errorf("status %d, %d requests", resp.StatusCode, len(srv.Requests()))
	}
}

func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", `"quoted" \ back\slash`, "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f",
		"ünïcode ✓ 😀", "\u2028\u2029", "bad \xff utf-8 \xe2\x82", "</script>&<>",
	} {
		enc := appendString(nil, s)
		if !json.Valid(enc) {
			t.Errorf("%q encodes to invalid JSON %s", s, enc)
			continue
		}
		var got string
		_ = json.Unmarshal(enc, &got)
		want, _ := json.Marshal(s)
		var wantStr string
		_ = json.Unmarshal(want, &wantStr)
		if got != wantStr {
			t.Errorf("%q round-trips to %q, want %q", s, got, wantStr)
		}
		if strings.ContainsAny(string(enc), "\n\r") {
			t.Errorf("%q encodes with a line break: %s", s, enc)
		}
	}
}

func TestSplitArgs(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "{", "{}", `{"a":1}`, `{"k":"€€€€"}`, "€€"} {
		pieces := splitArgs(s)
		if strings.Join(pieces, "") != s {
			t.Errorf("%q splits into %q", s, pieces)
		}
		for _, p := range pieces {
			if p == "" || !utf8.ValidString(p) {
				t.Errorf("%q splits into %q", s, pieces)
			}
		}
		if len(s) >= 6 && len(pieces) < 2 {
			t.Errorf("%q is not split: %q", s, pieces)
		}
	}
}

func BenchmarkTurn(b *testing.B) {
	for _, provider := range wireProviders {
		b.Run(provider, func(b *testing.B) {
			srv := New(provider)
			defer srv.Close()
			turn := Tokens(1000, "token ")
			srv.Respond(func(r Request, n int) Turn { return turn })
			p, err := providers.New(provider, "sk-test", srv.BaseURL(), providers.WithHTTPClient(srv.Client()), providers.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			req := hello(provider)
			for b.Loop() {
				if _, err := streamAll(context.Background(), p, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
