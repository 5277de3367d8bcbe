package providers

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"studio/internal/testwait"
)

var testModels = map[string]string{OpenAI: "gpt-4o", Anthropic: "claude-sonnet-4-5", Gemini: "gemini-2.5-flash"}

func hello(provider string) Request {
	return Request{Model: testModels[provider], Messages: []Message{{Role: RoleUser, Text: "hi"}}}
}

// okTurn is a short successful answer, "fine", in each wire format.
var okTurn = map[string][]string{
	OpenAI:    {chunk(`{"role":"assistant","content":""}`, ""), chunk(`{"content":"fine"}`, "stop"), usageChunk(5, 1), done},
	Anthropic: anthropicTurn(textBlock(0, "fine"), messageEnd("end_turn", 1)),
	Gemini:    {data(`{"candidates":[{"content":{"parts":[{"text":"fine"}],"role":"model"},"finishReason":"STOP","index":0}]}`)},
}

// firstTokens is the start of an answer, "Hello", that never finishes.
var firstTokens = map[string][]string{
	OpenAI:    {chunk(`{"role":"assistant","content":""}`, ""), chunk(`{"content":"Hel"}`, ""), chunk(`{"content":"lo"}`, "")},
	Anthropic: append([]string{messageStart(5)}, textBlock(0, "Hel", "lo")[:3]...),
	Gemini: {
		data(`{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}]}`),
		data(`{"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},"index":0}]}`),
	},
}

// serverError is each provider's body for a 500.
var serverError = map[string]string{
	OpenAI:    `{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`,
	Anthropic: `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`,
	Gemini:    `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`,
}

var allProviders = []string{OpenAI, Anthropic, Gemini}

func TestKeyRejected(t *testing.T) {
	t.Parallel()
	cases := []struct {
		provider string
		status   int
		body     string
	}{
		{OpenAI, 401, `{"error":{"message":"Incorrect API key provided: ` + testKey + `.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
		{Ollama, 401, `{"error":{"message":"unauthorized"}}`},
		{Anthropic, 401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`},
		{Anthropic, 403, `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}`},
		// Gemini answers a wrong key with 400 INVALID_ARGUMENT.
		{Gemini, 400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`},
		{Gemini, 403, `{"error":{"code":403,"message":"Permission denied: Consumer has been suspended.","status":"PERMISSION_DENIED"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.provider, func(t *testing.T) {
			t.Parallel()
			rejected := reply{status: tc.status, body: tc.body}
			h := newHarness(t, tc.provider, []reply{rejected, rejected})
			model := cmp.Or(testModels[tc.provider], "llama3.1")
			_, err := h.p.Stream(context.Background(), Request{Model: model})
			requireError(t, err, ErrKeyRejected, "the key was rejected by "+tc.provider)
			h.fake.requireRequests(1) // a wrong key is not retried

			_, err = h.p.ListModels(context.Background())
			requireError(t, err, ErrKeyRejected, "the key was rejected by "+tc.provider)
		})
	}
}

func TestUnreadableResponses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		provider string
		reply    reply
	}{
		{"openai html", OpenAI, reply{contentType: "text/html", body: "<html><body>Welcome to nginx!</body></html>"}},
		{"openai json instead of sse", OpenAI, reply{body: `{"id":"chatcmpl-1","object":"chat.completion","choices":[]}`}},
		{"openai broken json chunk", OpenAI, reply{frames: []string{data(`{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"hi"`), done}}},
		{"anthropic html", Anthropic, reply{contentType: "text/html", body: "<html>Bad gateway</html>"}},
		{"anthropic broken json event", Anthropic, reply{frames: []string{event("message_start", `{"type":"message_start","message":{`)}}},
		{"gemini html", Gemini, reply{contentType: "text/html", body: "<html>\n<body>oops</body>\n</html>"}},
		{"gemini broken json chunk", Gemini, reply{frames: []string{data(`{"candidates":[{"content":`)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.provider, []reply{tc.reply})
			_, err := h.p.Stream(context.Background(), hello(tc.provider))
			requireError(t, err, ErrUnreadable, tc.provider+" sent a response Studio could not read")
			h.fake.requireRequests(1)
		})
	}
}

func TestServerErrorIsRetried(t *testing.T) {
	t.Parallel()
	for _, provider := range allProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, provider, []reply{
				{status: 500, body: serverError[provider]},
				{frames: okTurn[provider]},
			})
			tr, err := h.streamAll(t, hello(provider))
			if err != nil || tr.text != "fine" || tr.finish != FinishStop {
				t.Fatalf("turn = %+v, %v", tr, err)
			}
			h.fake.requireRequests(2)
			delays := h.sleeps.recorded()
			if len(delays) != 1 || delays[0] < 800*time.Millisecond || delays[0] > 1200*time.Millisecond {
				t.Errorf("waited %v, want one backoff of about 1s", delays)
			}
			if !strings.Contains(h.logs.String(), "retrying") {
				t.Errorf("retry not logged:\n%s", h.logs)
			}
		})
	}
}

func TestRateLimitWaitsAsAsked(t *testing.T) {
	t.Parallel()
	cases := []struct {
		provider    string
		rateLimited reply
		want        time.Duration
	}{
		{OpenAI, reply{status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`}, 7 * time.Second},
		{OpenAI, reply{status: 429, header: map[string]string{"Retry-After-Ms": "2500", "Retry-After": "3"}, body: `{"error":{"message":"Rate limit reached"}}`}, 2500 * time.Millisecond},
		{Anthropic, reply{status: 429, header: map[string]string{"Retry-After": "4"}, body: `{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"}}`}, 4 * time.Second},
		{Gemini, reply{status: 429, body: `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"6s"}]}}`}, 6 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.provider, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.provider, []reply{tc.rateLimited, {frames: okTurn[tc.provider]}})
			tr, err := h.streamAll(t, hello(tc.provider))
			if err != nil || tr.text != "fine" {
				t.Fatalf("turn = %+v, %v", tr, err)
			}
			h.fake.requireRequests(2)
			if got := h.sleeps.recorded(); len(got) != 1 || got[0] != tc.want {
				t.Errorf("waited %v, want [%v]", got, tc.want)
			}
		})
	}
}

func TestRateLimitBeyondBudgetGivesUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, OpenAI, []reply{{status: 429, header: map[string]string{"Retry-After": "60"}, body: `{"error":{"message":"Rate limit reached for gpt-4o"}}`}})
	_, err := h.p.Stream(context.Background(), hello(OpenAI))
	requireError(t, err, nil, "openai answered 429 Too Many Requests: Rate limit reached for gpt-4o (it asked to wait 1m0s)")
	var perr *Error
	if !errors.As(err, &perr) || perr.StatusCode != 429 || perr.RetryAfter != time.Minute {
		t.Errorf("error = %#v", err)
	}
	h.fake.requireRequests(1)
	if got := h.sleeps.recorded(); len(got) != 0 {
		t.Errorf("waited %v", got)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	t.Parallel()
	down := reply{status: 503, body: `{"error":{"message":"upstream down (key ` + testKey + `)"}}`}
	h := newHarness(t, OpenAICompatible, []reply{down, down, down})
	_, err := h.p.Stream(context.Background(), Request{Model: "anthropic/claude-sonnet-4"})
	requireError(t, err, nil, "openai_compatible answered 503 Service Unavailable: upstream down (key [redacted])")
	h.fake.requireRequests(3)
	delays := h.sleeps.recorded()
	if len(delays) != 2 || delays[1] < 1600*time.Millisecond || delays[1] > 2400*time.Millisecond {
		t.Errorf("waited %v, want about 1s then 2s", delays)
	}
}

func TestUnreachableServerIsRetried(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	h := newHarnessAt(t, Ollama, nil, "http://"+addr+"/v1")

	_, err = h.p.Stream(context.Background(), Request{Model: "llama3.1"})
	want := "could not reach ollama at http://" + addr + "/v1: dial tcp " + addr + ": connect: connection refused"
	requireError(t, err, nil, want)
	if got := h.sleeps.recorded(); len(got) != 2 {
		t.Errorf("waited %v, want two backoffs", got)
	}
}

func TestSilentProviderTimesOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, OpenAI, []reply{{hang: true}}, WithIdleTimeout(100*time.Millisecond))
	start := time.Now()
	_, err := h.p.Stream(context.Background(), hello(OpenAI))
	requireError(t, err, ErrTimeout, "the openai API did not answer in time")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v", took)
	}
	h.fake.requireRequests(1)
}

func TestStallAfterTokensTimesOut(t *testing.T) {
	t.Parallel()
	for _, provider := range allProviders {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, provider, []reply{{frames: firstTokens[provider], then: "stall"}}, WithIdleTimeout(150*time.Millisecond))
			tr, err := h.streamAll(t, hello(provider))
			if tr.text != "Hello" {
				t.Errorf("text = %q", tr.text)
			}
			requireError(t, err, ErrInterrupted, "the "+provider+" answer broke off before it was complete: the "+provider+" API did not answer in time")
			if !errors.Is(err, ErrTimeout) {
				t.Errorf("%v is not ErrTimeout", err)
			}
			h.fake.requireRequests(1)
		})
	}
}

func TestErrorAfterTokensIsNotRetried(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		provider string
		reply    reply
		want     string
	}{
		{"openai connection cut", OpenAI, reply{frames: firstTokens[OpenAI], then: "cut"},
			"the openai answer broke off before it was complete: the connection to openai broke: unexpected EOF"},
		{"openai error chunk", OpenAI, reply{frames: append(firstTokens[OpenAI], data(`{"error":{"message":"The model crashed","type":"server_error"}}`))},
			"the openai answer broke off before it was complete: openai answered 500 Internal Server Error: The model crashed"},
		{"openai ends without finishing", OpenAI, reply{frames: firstTokens[OpenAI]},
			"the openai answer broke off before it was complete: openai closed the stream without finishing"},
		{"anthropic connection cut", Anthropic, reply{frames: firstTokens[Anthropic], then: "cut"},
			"the anthropic answer broke off before it was complete: the connection to anthropic broke: unexpected EOF"},
		{"anthropic overloaded event", Anthropic, reply{frames: append(firstTokens[Anthropic], event("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))},
			"the anthropic answer broke off before it was complete: anthropic answered 529: Overloaded"},
		{"gemini connection cut", Gemini, reply{frames: firstTokens[Gemini], then: "cut"},
			"the gemini answer broke off before it was complete: the connection to gemini broke: unexpected EOF"},
		{"gemini error chunk", Gemini, reply{frames: append(firstTokens[Gemini], data(`{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`))},
			"the gemini answer broke off before it was complete: gemini answered 503 Service Unavailable: The model is overloaded."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.provider, []reply{tc.reply})
			tr, err := h.streamAll(t, hello(tc.provider))
			if tr.text != "Hello" {
				t.Errorf("text = %q, want what arrived before the error", tr.text)
			}
			requireError(t, err, ErrInterrupted, tc.want)
			h.fake.requireRequests(1)
			if got := h.sleeps.recorded(); len(got) != 0 {
				t.Errorf("waited %v after tokens had flowed", got)
			}
		})
	}
}

func TestCallerDeadlineIsATimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Anthropic, []reply{{hang: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := h.p.Stream(ctx, hello(Anthropic))
	requireError(t, err, ErrTimeout, "the anthropic API did not answer in time")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v is not context.DeadlineExceeded", err)
	}
}

// TestCancelMidStream is not parallel: it counts goroutines.
func TestCancelMidStream(t *testing.T) {
	for _, provider := range allProviders {
		t.Run(provider, func(t *testing.T) {
			checkGoroutinesReturn(t)
			h := newHarness(t, provider, []reply{{frames: firstTokens[provider], then: "stall"}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := h.p.Stream(ctx, hello(provider))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !s.Next() || s.Event().Kind != EventText {
				t.Fatalf("first event = %+v, %v", s.Event(), s.Err())
			}

			cancel()
			start := time.Now()
			for s.Next() {
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("the stream took %v to end after cancel", took)
			}
			if !errors.Is(s.Err(), context.Canceled) {
				t.Errorf("Err = %v, want context.Canceled", s.Err())
			}
		})
	}
}

// TestCancelWhileWaiting cancels before the first byte, and during a retry wait.
func TestCancelWhileWaiting(t *testing.T) {
	checkGoroutinesReturn(t)
	f := newFake(t, reply{hang: true})
	p, err := New(Gemini, testKey, f.srv.URL, local)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = p.Stream(ctx, hello(Gemini))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}

	down := newFake(t, reply{status: 500, body: serverError[OpenAI]})
	p, err = New(OpenAI, testKey, down.srv.URL+"/v1", local, WithLogger(slog.New(slog.DiscardHandler))) // the real clock: the first backoff is about 1s
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = p.Stream(ctx, hello(OpenAI))
	if !errors.Is(err, context.Canceled) || time.Since(start) > 500*time.Millisecond {
		t.Errorf("err = %v after %v, want context.Canceled at once", err, time.Since(start))
	}
}

// checkGoroutinesReturn fails the test if goroutines it started are still
// running shortly after it ends (its servers are closed first).
func checkGoroutinesReturn(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		returned := false
		defer func() { // runs after a failed wait too
			if !returned {
				buf := make([]byte, 1<<20)
				t.Logf("%d goroutines before the test; now:\n%s", before, buf[:runtime.Stack(buf, true)])
			}
		}()
		testwait.Eventually(t, 3*time.Second, func() bool { return runtime.NumGoroutine() <= before }, "the test's goroutines return")
		returned = true
	})
}
