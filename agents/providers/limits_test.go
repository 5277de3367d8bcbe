package providers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A server that sends one SSE message without end (data lines and never the
// blank line that closes the message) yields no event at all; the cap on
// the wire stops it before the SDK has buffered more than a few times the
// answer's cap.
func TestEndlessMessageStopsAtTheWireCap(t *testing.T) {
	t.Parallel()
	const limit = 16 << 10
	var sent int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		w.Header().Set("Content-Type", "text/event-stream")
		line := []byte("data: " + strings.Repeat("x", 1000) + "\n")
		for r.Context().Err() == nil {
			n, err := w.Write(line)
			sent += int64(n)
			if err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	p, err := New(OpenAICompatible, "", srv.URL+"/v1", local, WithRetryPolicy(RetryPolicy{Attempts: 3, Sleep: func(context.Context, time.Duration) error { return nil }}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = p.Stream(ctx, Request{Model: "m", Messages: []Message{{Role: RoleUser, Text: "hi"}}, MaxBytes: limit})
	if ctx.Err() != nil {
		t.Fatal("the endless message was not stopped")
	}
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
	<-done
	// Loopback socket buffers hold a few MiB besides what was read.
	if max := int64(messageFactor*limit + messageSlack + 16<<20); sent > max {
		t.Errorf("the server got %d bytes out before the stop, want at most %d", sent, max)
	}
}

// TestEndlessModelListStopsAtItsCap: a server that answers the model list
// without end is cut off, so Test connection cannot fill studio's memory.
func TestEndlessModelListStopsAtItsCap(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[`)
		entry := []byte(`{"id":"m","object":"model"},`)
		for r.Context().Err() == nil {
			if _, err := w.Write(entry); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	p, err := New(OpenAICompatible, "", srv.URL+"/v1", local, WithRetryPolicy(RetryPolicy{Attempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = p.ListModels(ctx)
	if ctx.Err() != nil {
		t.Fatal("the endless model list was not stopped")
	}
	if err == nil {
		t.Fatal("an endless model list was accepted")
	}
}
