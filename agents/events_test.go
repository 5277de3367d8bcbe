package agents

import (
	"testing"

	"github.com/google/uuid"
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
