package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// heartbeat keeps idle streams open through proxies.
const heartbeat = 15 * time.Second

// streamRetryAfter is the wait suggested to a client over its stream cap:
// long enough for a closed tab's stream to be noticed and freed.
const streamRetryAfter = 5 * time.Second

// sseWriter is the one Server-Sent Events writer: headers once, a flush per
// event, comments as heartbeats.
type sseWriter struct {
	w       http.ResponseWriter
	f       http.Flusher
	release func() // frees the user's stream slot
}

// streamSlots counts the event streams each user holds open on this
// replica, so that one person's tabs and scripts cannot tie up connections
// and goroutines without end.
type streamSlots struct {
	max  int // 0: no limit
	mu   sync.Mutex
	open map[uuid.UUID]int
}

func newStreamSlots(max int) *streamSlots {
	return &streamSlots{max: max, open: map[uuid.UUID]int{}}
}

// take claims a slot for user; false when they hold every slot already.
func (s *streamSlots) take(user uuid.UUID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max > 0 && s.open[user] >= s.max {
		return false
	}
	s.open[user]++
	return true
}

func (s *streamSlots) release(user uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[user]--; s.open[user] <= 0 {
		delete(s.open, user)
	}
}

// startSSE claims one of the user's stream slots and opens the stream. The
// caller closes the writer when the stream ends, which frees the slot.
func (s *Server) startSSE(c echo.Context) (*sseWriter, error) {
	user := currentUser(c).ID
	if !s.streams.take(user) {
		e := NewError(http.StatusTooManyRequests, "too_many_streams", fmt.Sprintf(
			"You have %d live views open, the most studio keeps for one person; close some tabs (or other clients following runs, status or logs) and try again.", s.streams.max))
		e.RetryAfter = streamRetryAfter
		return nil, e
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("Connection", "keep-alive")
	c.Response().WriteHeader(http.StatusOK)
	c.Response().Flush()
	var once sync.Once
	return &sseWriter{w: c.Response(), f: c.Response(), release: func() { once.Do(func() { s.streams.release(user) }) }}, nil
}

// close ends the stream's hold on its slot; it is safe to call more than once.
func (s *sseWriter) close() { s.release() }

// event writes one event; data is sent as JSON.
func (s *sseWriter) event(id int64, kind string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return s.raw(id, kind, b)
}

// raw writes one event whose data is already JSON.
func (s *sseWriter) raw(id int64, kind string, data []byte) error {
	if _, err := fmt.Fprintf(s.w, "id: %d\nevent: %s\ndata: %s\n\n", id, kind, data); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

func (s *sseWriter) comment(text string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

// wait blocks until wake fires (true) or the stream should end because the
// client left or a heartbeat could not be written (false). It sends a
// heartbeat comment every 15 s meanwhile.
func (s *sseWriter) wait(ctx context.Context, wake <-chan struct{}) bool {
	beat := time.NewTimer(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-wake:
			return true
		case <-beat.C:
			if s.comment("heartbeat") != nil {
				return false
			}
			beat.Reset(heartbeat)
		}
	}
}

// lastEventID is where a reconnecting stream resumes (0: from the start).
func lastEventID(c echo.Context) int64 {
	v := c.Request().Header.Get("Last-Event-ID")
	if v == "" {
		v = c.QueryParam("last_event_id")
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	if n < 0 {
		return 0
	}
	return n
}

// html writes one event whose data is an HTML fragment (for htmx's SSE
// extension), each line of it a data line.
func (s *sseWriter) html(id int64, kind, fragment string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %d\nevent: %s\n", id, kind)
	// A lone \r ends an SSE line too: it must not start a field of its own.
	fragment = strings.ReplaceAll(strings.ReplaceAll(fragment, "\r\n", "\n"), "\r", "\n")
	for _, line := range strings.Split(fragment, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

// component writes one event whose data is a rendered templ component.
func (s *sseWriter) component(ctx context.Context, id int64, kind string, c templ.Component) error {
	var b strings.Builder
	if err := c.Render(ctx, &b); err != nil {
		return err
	}
	return s.html(id, kind, b.String())
}
