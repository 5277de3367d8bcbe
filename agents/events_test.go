package agents

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"

	"studio/db"
	"studio/db/dbtest"
	"studio/events"
)

// A run that streams many events keeps only the newest in memory once they
// are stored; the ones let go are reported as not in memory.
func TestRunLogLetsGoOfStoredEvents(t *testing.T) {
	l := newRunLog(nil, uuid.New())
	const n = 100_000
	for i := range n {
		l.emit(KindToken, TokenEvent{Text: "x"})
		if i%1000 == 999 {
			l.markStored(1000) // what the flush loop does
		}
	}
	if len(l.events) > 2*keepEvents {
		t.Fatalf("%d events kept in memory, want at most %d", len(l.events), 2*keepEvents)
	}
	if _, inMemory := l.since(0); inMemory {
		t.Fatal("the first events are reported in memory after they were let go")
	}
	events, inMemory := l.since(n - 2)
	if !inMemory || len(events) != 2 || events[0].Seq != n-1 || events[1].Seq != n {
		t.Fatalf("the newest events: %v %v", inMemory, events)
	}
	// Not yet stored events are never let go.
	for range 3 * keepEvents {
		l.emit(KindToken, TokenEvent{Text: "y"})
	}
	l.markStored(0)
	if events, _ := l.since(n); len(events) != 3*keepEvents {
		t.Fatalf("%d unstored events in memory, want %d", len(events), 3*keepEvents)
	}
}

func TestMain(m *testing.M) { dbtest.Main(m) }

// The events of several runs go in one statement; a run whose row is gone
// does not hold back the others', events stored twice are stored once, and
// a NUL becomes U+FFFD.
func TestStoreEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	quiet := slog.New(slog.DiscardHandler)
	s := &Service{pool: pool, q: db.New(pool), bus: events.New(pool, quiet), log: quiet}
	run := newRunRow(t, s.q)

	kept, gone := newRunLog(s, run.ID), newRunLog(s, uuid.New())
	kept.emit(KindToken, map[string]string{"text": "a \x00 b"})
	kept.emit(KindStatus, StatusEvent{Status: db.RunStatusRunning})
	gone.emit(KindToken, map[string]string{"text": "nobody follows this"})
	if !s.store(ctx, kept, gone) {
		t.Fatal("store reported events left over")
	}
	if kept.stored != 2 || gone.stored != 1 {
		t.Fatalf("stored %d and %d events, want 2 and 1", kept.stored, gone.stored)
	}
	stored := storedEvents(t, s.q, run.ID)
	if len(stored) != 2 || !strings.Contains(string(stored[0].Data), "a \uFFFD b") {
		t.Fatalf("stored %v", stored)
	}

	// As after a reply lost on its way back: the same events again.
	kept.stored = 0
	if !s.store(ctx, kept) {
		t.Fatal("events stored twice were refused")
	}
	if n := len(storedEvents(t, s.q, run.ID)); n != 2 {
		t.Fatalf("%d events stored, want 2", n)
	}
}

func newRunRow(t *testing.T, q *db.Queries) db.AgentRun {
	t.Helper()
	ctx := context.Background()
	user, err := q.CreateUser(ctx, db.CreateUserParams{Email: uuid.NewString()[:8] + "@example.com", PasswordHash: "x", Role: "user"})
	if err != nil {
		t.Fatal(err)
	}
	proj, err := q.CreateProject(ctx, db.CreateProjectParams{OwnerID: user.ID, Name: "events", Slug: "events-" + uuid.NewString()[:8], Template: "static"})
	if err != nil {
		t.Fatal(err)
	}
	run, err := q.CreateRun(ctx, db.CreateRunParams{ProjectID: proj.ID, UserID: user.ID, AgentID: "builder", AgentVersion: 1, Model: "openai/gpt-4o-mini", Instance: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func storedEvents(t *testing.T, q *db.Queries, run uuid.UUID) []db.AgentRunEvent {
	t.Helper()
	rows, err := q.ListRunEventsAfter(context.Background(), db.ListRunEventsAfterParams{RunID: run, Seq: 0, MaxRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
