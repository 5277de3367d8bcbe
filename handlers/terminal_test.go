package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"studio/db"
	"studio/internal/testwait"
)

// terminalOwner is a signed-in browser whose project from template is
// active.
func terminalOwner(t *testing.T, env *testEnv, email, template string) (*browser, string) {
	t.Helper()
	token := env.register(email)
	id := env.newProjectFrom(token, "Shell", template)
	b := env.browser()
	if res := b.login(email, "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	return b, id
}

// dialTerminal opens the project's terminal as this browser, from the
// UI's origin unless headers say otherwise.
func (b *browser) dialTerminal(project, session string, query url.Values, headers ...string) (*termClient, *http.Response, error) {
	b.t.Helper()
	if query == nil {
		query = url.Values{}
	}
	query.Set("session", session)
	u := "ws" + strings.TrimPrefix(b.http.URL, "http") + "/projects/" + project + "/terminal?" + query.Encode()
	h := http.Header{"Origin": {uiOrigin}}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	d := websocket.Dialer{Jar: b.client.Jar, HandshakeTimeout: 10 * time.Second}
	conn, res, err := d.Dial(u, h)
	if err != nil {
		return nil, res, err
	}
	tc := &termClient{t: b.t, conn: conn}
	b.t.Cleanup(func() { conn.Close() })
	return tc, res, nil
}

// termClient is the page's end of a terminal.
type termClient struct {
	t      testing.TB
	conn   *websocket.Conn
	screen strings.Builder
	texts  []terminalMessage
}

func (c *termClient) typeIn(s string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.BinaryMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *termClient) control(m terminalMessage) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatal(err)
	}
}

// waitFor reads until the screen shows want; false when the socket
// closed first.
func (c *termClient) waitFor(want string) bool {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(90 * time.Second))
	for !strings.Contains(c.screen.String(), want) {
		kind, p, err := c.conn.ReadMessage()
		if err != nil {
			return false
		}
		if kind == websocket.TextMessage {
			var m terminalMessage
			_ = json.Unmarshal(p, &m)
			c.texts = append(c.texts, m)
			continue
		}
		c.screen.Write(p)
	}
	return true
}

func (c *termClient) mustSee(want string) {
	c.t.Helper()
	if !c.waitFor(want) {
		c.t.Fatalf("the terminal closed before printing %q; it printed %q and said %+v", want, c.screen.String(), c.texts)
	}
}

// closedMessage reads until the server closes the socket and returns its
// last "closed" message.
func (c *termClient) closedMessage() terminalMessage {
	c.t.Helper()
	c.waitFor("\x00never printed\x00")
	for i := len(c.texts) - 1; i >= 0; i-- {
		if c.texts[i].Type == "closed" {
			return c.texts[i]
		}
	}
	c.t.Fatalf("the terminal closed without saying why: %+v", c.texts)
	return terminalMessage{}
}

func TestTerminalRunsAShellAsTheProjectUser(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b, id := terminalOwner(t, env, "shell@example.com", "react-vite")
	term, _, err := b.dialTerminal(id, "tab-1", url.Values{"cols": {"100"}, "rows": {"30"}})
	if err != nil {
		t.Fatal(err)
	}
	term.typeIn("echo hello\n")
	term.mustSee("\rhello\r\n")
	term.typeIn("ls src; echo \"uid=$(id -u) size=$(stty size)\"\n")
	term.mustSee("uid=1000 size=30 100")
	if !strings.Contains(term.screen.String(), "main.tsx") {
		t.Fatalf("ls src: %q", term.screen.String())
	}
	term.control(terminalMessage{Type: "resize", Cols: 120, Rows: 40})
	term.typeIn("echo \"now=$(stty size)\"\n")
	term.mustSee("now=40 120")

	// A reconnect with the same session id finds the shell and its
	// scrollback; a new id is a new shell.
	term.typeIn("MARK=kept-shell\n")
	term.conn.Close()
	again, _, err := b.dialTerminal(id, "tab-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	again.mustSee("now=40 120") // replayed
	again.typeIn("echo \"$MARK\"\n")
	again.mustSee("\rkept-shell\r\n")
	other, _, err := b.dialTerminal(id, "tab-2", nil)
	if err != nil {
		t.Fatal(err)
	}
	other.typeIn("echo \"[$MARK]\"\n")
	other.mustSee("\r[]\r\n")
	if strings.Contains(other.screen.String(), "now=40 120") {
		t.Fatal("a new session replayed another's scrollback")
	}

	// Opening the same session elsewhere takes it over; closing it hangs
	// the shell up for good.
	third, _, err := b.dialTerminal(id, "tab-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := again.closedMessage(); m.Ended || !strings.Contains(m.Reason, "another window") {
		t.Fatalf("the window taken over was told %+v", m)
	}
	third.control(terminalMessage{Type: "close"})
	testwait.Eventually(t, 10*time.Second, func() bool {
		fresh, _, err := b.dialTerminal(id, "tab-1", nil)
		if err != nil {
			return false
		}
		defer fresh.conn.Close()
		fresh.typeIn("echo \"<$MARK>\"\n")
		return fresh.waitFor("\r<>\r\n")
	}, "a closed session's id starts a new shell")
}

func TestTerminalIsOnlyTheOwners(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	_, id := terminalOwner(t, env, "owner@example.com", "static")
	stranger := env.browser()
	stranger.signup("stranger@example.com")
	owner := env.browser()
	owner.login("owner@example.com", "a long password")

	tests := []struct {
		name    string
		b       *browser
		project string
		session string
		headers []string
		status  int
	}{
		{"another user", stranger, id, "s", nil, http.StatusNotFound},
		{"signed out", env.browser(), id, "s", nil, http.StatusSeeOther},
		{"no such project", owner, uuid.NewString(), "s", nil, http.StatusNotFound},
		{"another origin", owner, id, "s", []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"a preview's origin", owner, id, "s", []string{"Origin", "http://app.studio.localhost:8080"}, http.StatusForbidden},
		{"a bad session id", owner, id, "no spaces please", nil, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, res, err := tc.b.dialTerminal(tc.project, tc.session, nil, tc.headers...)
			if err == nil || res == nil || res.StatusCode != tc.status {
				t.Fatalf("dial: %v, %+v; want %d before any upgrade", err, res, tc.status)
			}
		})
	}
	if res, body := owner.do("GET", "/projects/"+id+"/terminal?session=s", nil); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "websocket") {
		t.Fatalf("a plain GET: %d %s", res.StatusCode, body)
	}
}

func TestTerminalWakesAHibernatedProjectAndEndsWhenIdle(t *testing.T) {
	t.Parallel()
	env := newEnvWith(t, envOptions{env: map[string]string{"STUDIO_TERMINAL_IDLE": "2s"}})
	b, id := terminalOwner(t, env, "sleepy@example.com", "static")
	if err := env.srv.Projects.Hibernate(context.Background(), uuid.MustParse(id)); err != nil {
		t.Fatal(err)
	}
	term, _, err := b.dialTerminal(id, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	term.typeIn("echo hello\n")
	term.mustSee("\rhello\r\n")
	if p, _ := db.New(env.pool).GetProject(context.Background(), uuid.MustParse(id)); p.Status == db.ProjectStatusHibernated {
		t.Fatal("the project still hibernates")
	}
	if m := term.closedMessage(); !m.Ended || !strings.Contains(m.Reason, "without use") {
		t.Fatalf("an idle terminal was told %+v", m)
	}
}

func TestTerminalThawsAPausedProjectButNotAStoppedOne(t *testing.T) {
	t.Parallel()
	env := pausingEnv(t)
	b, id := terminalOwner(t, env, "paused@example.com", "static")
	env.pauseIdle()
	if p, _ := db.New(env.pool).GetProject(context.Background(), uuid.MustParse(id)); p.PausedAt == nil {
		t.Fatal("the project did not pause")
	}
	term, _, err := b.dialTerminal(id, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	term.typeIn("echo thawed\n")
	term.mustSee("\rthawed\r\n")
	term.conn.Close()

	if _, err := env.srv.Projects.Stop(context.Background(), projectOwner(t, env, id), uuid.MustParse(id)); err != nil {
		t.Fatal(err)
	}
	stopped, _, err := b.dialTerminal(id, "another", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := stopped.closedMessage(); !m.Ended || !strings.Contains(m.Reason, "start it") {
		t.Fatalf("a stopped project's terminal was told %+v", m)
	}
}

func projectOwner(t *testing.T, env *testEnv, project string) uuid.UUID {
	t.Helper()
	p, err := db.New(env.pool).GetProject(context.Background(), uuid.MustParse(project))
	if err != nil {
		t.Fatal(err)
	}
	return p.OwnerID
}
