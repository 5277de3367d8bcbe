package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"studio/containers"
	"studio/projects"
	"studio/terminal"
)

const (
	// terminalPing keeps an idle terminal's websocket open through proxies
	// and finds a page that vanished without closing it.
	terminalPing = 30 * time.Second
	// terminalWriteTimeout bounds each write to the page.
	terminalWriteTimeout = 30 * time.Second
	// terminalTouchEvery: how often a terminal in use records use of its
	// project at most.
	terminalTouchEvery = 30 * time.Second
	// terminalMaxInput bounds one message from the page (a paste).
	terminalMaxInput = 64 << 10
)

var terminalUpgrader = websocket.Upgrader{
	ReadBufferSize:  4 << 10,
	WriteBufferSize: 32 << 10,
	// The origin was checked before the upgrade, with a message a person
	// can read; this is the same check.
	CheckOrigin: func(*http.Request) bool { return true },
}

// terminalMessage is a text message between the page and the terminal.
// From the page: "resize" (cols, rows) or "close" (hang the shell up);
// to it: "notice" (text to show) or "closed" (reason; ended when the
// shell is gone, not merely shown in another window). Keystrokes and
// output travel as binary messages.
type terminalMessage struct {
	Type   string `json:"type"`
	Cols   uint16 `json:"cols,omitempty"`
	Rows   uint16 `json:"rows,omitempty"`
	Text   string `json:"text,omitempty"`
	Reason string `json:"reason,omitempty"`
	Ended  bool   `json:"ended,omitempty"`
}

// Close hangs up the shells of the workspace terminals, at shutdown: a
// websocket is not a request the HTTP server waits for.
func (s *Server) Close() { s.terminals.Close() }

// terminalSocket connects the workspace's terminal to a shell in the
// project's container: GET /projects/:id/terminal?session=…&cols=…&rows=…
// upgraded to a websocket. Everything that can refuse it is checked
// before the upgrade.
func (s *Server) terminalSocket(c echo.Context) error {
	r := c.Request()
	if !websocket.IsWebSocketUpgrade(r) {
		return NewError(http.StatusBadRequest, "not_websocket", "This address is the terminal's websocket; open the terminal from the project's workspace.")
	}
	if !s.fromUIOrigin(r) {
		s.log(c).Warn("cross-origin terminal refused", "origin", r.Header.Get("Origin"))
		return NewError(http.StatusForbidden, "cross_origin",
			"This terminal was opened from another site, not from Studio at "+s.uiOrigin()+", so it was refused.")
	}
	h, err := s.openProject(c)
	if err != nil {
		return err
	}
	key := terminal.Key{Owner: currentUser(c).ID, Project: h.ID(), ID: c.QueryParam("session")}
	if !terminal.ValidID(key.ID) {
		return &Error{Status: http.StatusBadRequest, Code: "bad_session", Field: "session", Message: projects.Sentence(terminal.ErrBadID.Error())}
	}
	size, err := terminalSize(c)
	if err != nil {
		return err
	}
	conn, err := terminalUpgrader.Upgrade(c.Response(), r, nil)
	if err != nil {
		return nil // the upgrader answered the client
	}
	ws := &terminalConn{conn: conn}
	defer conn.Close()

	sess, err := s.terminals.Session(key, func(ctx context.Context) (containers.Terminal, error) {
		return h.Terminal(ctx, size, func(text string) { _ = ws.notice(text) })
	})
	var client *terminal.Client
	var replay []byte
	if err == nil {
		client, replay, err = sess.Attach()
	}
	if err != nil {
		ws.closed(s.terminalRefusal(c, err), true)
		return nil
	}
	if len(replay) > 0 && ws.send(websocket.BinaryMessage, replay) != nil {
		client.Detach()
		return nil
	}
	if size.Cols > 0 {
		_ = client.Resize(r.Context(), size) // the page may be wider than when it left
	}
	touch := s.touchEvery(h.ID(), terminalTouchEvery)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ws.forward(r.Context(), client, touch)
	}()
	s.readTerminal(r.Context(), ws, client, touch)
	client.Detach()
	<-done
	return nil
}

// readTerminal passes the page's keystrokes and sizes on until it leaves.
func (s *Server) readTerminal(ctx context.Context, ws *terminalConn, client *terminal.Client, touch func(context.Context)) {
	conn := ws.conn
	conn.SetReadLimit(terminalMaxInput)
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(2 * terminalPing)) }
	alive()
	conn.SetPongHandler(func(string) error { alive(); return nil })
	for {
		kind, p, err := conn.ReadMessage()
		if err != nil {
			return
		}
		alive()
		switch kind {
		case websocket.BinaryMessage:
			if _, err := client.Write(p); err != nil {
				return
			}
			touch(ctx)
		case websocket.TextMessage:
			var m terminalMessage
			if json.Unmarshal(p, &m) != nil {
				continue
			}
			switch m.Type {
			case "resize":
				if m.Cols > 0 && m.Rows > 0 {
					_ = client.Resize(ctx, containers.TermSize{Cols: m.Cols, Rows: m.Rows})
				}
			case "close":
				client.Session().Close()
				return
			}
		}
	}
}

// touchEvery records use of the project, at most once per interval,
// from any goroutine: a terminal someone types in or watches print is in
// use, which postpones the project's pause and hibernation and thaws it.
func (s *Server) touchEvery(project uuid.UUID, interval time.Duration) func(context.Context) {
	var mu sync.Mutex
	var last time.Time
	return func(ctx context.Context) {
		mu.Lock()
		due := time.Since(last) > interval
		if due {
			last = time.Now()
		}
		mu.Unlock()
		if due {
			s.Projects.Touch(ctx, project)
		}
	}
}

// terminalRefusal is why a terminal could not open, in words for the page.
func (s *Server) terminalRefusal(c echo.Context, err error) string {
	switch {
	case errors.Is(err, terminal.ErrTooMany):
		return "You have as many terminals open as Studio allows; close one first."
	case errors.Is(err, terminal.ErrEnded), errors.Is(err, projects.ErrNotStarted), projects.Refused(err):
		return projects.Sentence(err.Error())
	}
	s.log(c).Error("open terminal", "err", err)
	return "Studio could not start a shell in the project; try again in a moment."
}

// terminalSize reads the optional cols and rows of the page's terminal.
func terminalSize(c echo.Context) (containers.TermSize, error) {
	var size containers.TermSize
	for _, f := range []struct {
		name string
		to   *uint16
	}{{"cols", &size.Cols}, {"rows", &size.Rows}} {
		v := c.QueryParam(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return size, &Error{Status: http.StatusBadRequest, Code: "bad_size", Field: f.name, Message: f.name + " must be a number from 1 to 1000."}
		}
		*f.to = uint16(n)
	}
	return size, nil
}

// terminalConn serialises the writes to a terminal's websocket.
type terminalConn struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

func (w *terminalConn) send(kind int, p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.conn.SetWriteDeadline(time.Now().Add(terminalWriteTimeout))
	return w.conn.WriteMessage(kind, p)
}

func (w *terminalConn) message(m terminalMessage) error {
	b, _ := json.Marshal(m)
	return w.send(websocket.TextMessage, b)
}

func (w *terminalConn) notice(text string) error {
	return w.message(terminalMessage{Type: "notice", Text: text})
}

// closed tells the page why the terminal stopped and closes the websocket.
func (w *terminalConn) closed(reason string, ended bool) {
	_ = w.message(terminalMessage{Type: "closed", Reason: reason, Ended: ended})
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
}

// forward sends the shell's output to the page, with pings while it is
// quiet, until the client is detached.
func (w *terminalConn) forward(ctx context.Context, client *terminal.Client, touch func(context.Context)) {
	ping := time.NewTicker(terminalPing)
	defer ping.Stop()
	for {
		select {
		case p, ok := <-client.Output:
			if !ok {
				if reason := client.Reason(); reason != terminal.Detached {
					w.closed(reason, client.Session().Ended())
				}
				_ = w.conn.Close() // ends the read loop
				return
			}
			touch(ctx)
			if w.send(websocket.BinaryMessage, p) != nil {
				_ = w.conn.Close()
				return
			}
		case <-ping.C:
			w.mu.Lock()
			err := w.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(terminalWriteTimeout))
			w.mu.Unlock()
			if err != nil {
				_ = w.conn.Close()
				return
			}
		}
	}
}
