package handlers

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	pt "studio/agents/providers/providertest"
	"studio/config"
)

// openStream GETs an event stream and leaves it open; cancel closes it.
func (e *testEnv) openStream(client *http.Client, path string, headers ...string) (*http.Response, context.CancelFunc) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		cancel()
		e.t.Fatalf("GET %s: %v", path, err)
	}
	e.t.Cleanup(func() { cancel(); res.Body.Close() })
	return res, cancel
}

// Each user may hold STUDIO_MAX_STREAMS_PER_USER event streams open, over
// every kind of stream, browser and API alike; one more gets 429, and
// closing a stream frees its slot.
func TestStreamsPerUserAreCapped(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(c *config.Config, _ *Deps) { c.MaxStreamsPerUser = 3 })
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "openai", "static", fake)
	fake.Push(pt.Turn{Hang: true})
	run := env.chat(token, project, map[string]any{"message": "Wait", "model": "openai/gpt-4o-mini"})
	client := &http.Client{}

	var closers []context.CancelFunc
	for _, path := range []string{"/api/runs/" + run + "/stream", "/api/projects/" + project + "/events", "/api/projects/" + project + "/events"} {
		res, cancel := env.openStream(client, path, bearer(token)...)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("stream %s: %d", path, res.StatusCode)
		}
		closers = append(closers, cancel)
	}
	res, _ := env.openStream(client, "/api/runs/"+run+"/stream", bearer(token)...)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), `"code":"too_many_streams"`) || !strings.Contains(string(body), "close some tabs") || res.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth stream: %d %s", res.StatusCode, body)
	}

	// Another user's streams are their own, and the browser's count too.
	b := env.browser()
	b.signup("b@example.com")
	for range 3 {
		if res, _ := env.openStream(b.client, "/events"); res.StatusCode != http.StatusOK {
			t.Fatalf("browser stream: %d", res.StatusCode)
		}
	}
	res, _ = env.openStream(b.client, "/events")
	body, _ = io.ReadAll(res.Body)
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "close some tabs") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("fourth browser stream: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}

	// Closing a stream frees its slot once the server sees the client go.
	closers[1]()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, cancel := env.openStream(client, "/api/projects/"+project+"/events", bearer(token)...)
		if res.StatusCode == http.StatusOK {
			break
		}
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("the closed stream's slot was not freed: %d", res.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
