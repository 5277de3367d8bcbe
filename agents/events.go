package agents

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"studio/db"
)

// Event kinds of a run's stream, as API.md names them; payloads.go holds
// the data of each.
const (
	KindToken       = "token"        // TokenEvent
	KindToolCall    = "tool_call"    // ToolCallEvent
	KindToolResult  = "tool_result"  // ToolResultEvent
	KindFileChanged = "file_changed" // FileChangedEvent
	KindStatus      = "status"       // StatusEvent
	KindDone        = "done"         // DoneEvent
)

// Event is one entry of a run's stream; Seq is its SSE id.
type Event struct {
	Seq  int64           `json:"seq"`
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

// RunTopic is the events topic of one run: stored events arrived.
func RunTopic(id uuid.UUID) string { return "run:" + id.String() }

func cancelTopic(id uuid.UUID) string { return "run-cancel:" + id.String() }

// flushEvery is how long a run's events wait before they are stored in a
// batch (followers on this replica get them at once, from memory).
const flushEvery = 40 * time.Millisecond

// runLog is a live run's event stream: its newest events kept in memory for
// followers on this replica, everything written to agent_run_events in
// batches (by the service's flushLoop, for all runs at once) for everyone
// else and for followers that fall behind.
type runLog struct {
	s  *Service
	id uuid.UUID

	storing sync.Mutex // held while the log's events are written
	mu      sync.Mutex
	events  []Event // the newest events, in order
	first   int64   // the seq of events[0], or of the next event when there is none
	stored  int     // events[:stored] are in the database
	waiters map[chan struct{}]struct{}
}

// keepEvents is how many stored events a live run keeps in memory at least.
// Older ones are let go in batches of as many, so a run's memory stays
// bounded however many token events it streams; a follower that far behind
// reads them from the database.
const keepEvents = 4096

func newRunLog(s *Service, id uuid.UUID) *runLog { return newRunLogAfter(s, id, 0) }

// newRunLogAfter is the log of a run whose events up to seq are stored.
func newRunLogAfter(s *Service, id uuid.UUID, seq int64) *runLog {
	return &runLog{s: s, id: id, first: seq + 1, waiters: map[chan struct{}]struct{}{}}
}

// emit appends an event and wakes the followers.
func (l *runLog) emit(kind string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		raw = []byte(`{}`)
	}
	raw = cleanJSON(raw)
	l.mu.Lock()
	l.events = append(l.events, Event{Seq: l.first + int64(len(l.events)), Kind: kind, Data: raw})
	for w := range l.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	l.mu.Unlock()
}

// since returns the events after seq; inMemory is false when the first of
// them has been let go and must be read from the database.
func (l *runLog) since(seq int64) (events []Event, inMemory bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := max(seq, 0) + 1 - l.first
	switch {
	case i < 0:
		return nil, false
	case i >= int64(len(l.events)):
		return nil, true
	}
	return l.events[i:], true
}

// markStored notes that n more events are in the database and lets go of
// the stored ones beyond the newest keepEvents, a batch at a time so that
// copying what is kept stays cheap.
func (l *runLog) markStored(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stored += n
	if drop := min(l.stored, len(l.events)-keepEvents); drop >= keepEvents {
		// A copy, so the old array goes once its followers are done with it.
		l.events = append(make([]Event, 0, len(l.events)-drop+keepEvents), l.events[drop:]...)
		l.first += int64(drop)
		l.stored -= drop
	}
}

// endedBy says the done event is at or before seq.
func (l *runLog) endedBy(seq int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.events)
	return n > 0 && l.events[n-1].Kind == KindDone && seq >= l.events[n-1].Seq
}

func (l *runLog) wait() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	l.waiters[ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.waiters, ch)
		l.mu.Unlock()
	}
}

// flushLoop stores the events of every live run, one statement per tick
// however many runs there are, until the service closes.
func (s *Service) flushLoop() {
	defer s.wg.Done()
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-s.bg.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		logs := make([]*runLog, 0, len(s.runs))
		for _, r := range s.runs {
			logs = append(logs, r.log)
		}
		s.mu.Unlock()
		s.store(context.Background(), logs...)
	}
}

// storeAll stores what is left of a run's events, retrying while the
// database is briefly away.
func (s *Service) storeAll(l *runLog) {
	for i := 0; i < 50 && !s.store(context.Background(), l); i++ {
		time.Sleep(200 * time.Millisecond)
	}
}

// store writes the events of the logs not stored yet and wakes their
// followers on other replicas; it reports whether everything is stored.
func (s *Service) store(ctx context.Context, logs ...*runLog) bool {
	var p db.InsertRunEventsParams
	var held []*runLog
	var counts []int
	var topics []string
	defer func() {
		for _, l := range held {
			l.storing.Unlock()
		}
	}()
	for _, l := range logs {
		l.storing.Lock() // one writer per log, so no event is stored twice
		l.mu.Lock()
		pending := l.events[l.stored:]
		l.mu.Unlock()
		if len(pending) == 0 {
			l.storing.Unlock()
			continue
		}
		held = append(held, l)
		counts = append(counts, len(pending))
		topics = append(topics, RunTopic(l.id))
		for _, e := range pending {
			p.RunIds = append(p.RunIds, l.id)
			p.Seqs = append(p.Seqs, e.Seq)
			p.Kinds = append(p.Kinds, e.Kind)
			p.Datas = append(p.Datas, e.Data)
		}
	}
	if len(held) == 0 {
		return true
	}
	if err := s.q.InsertRunEvents(ctx, p); err != nil {
		if len(held) == 1 {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" {
				// The run's row is gone (its project was deleted): nobody
				// can follow it any more.
				held[0].markStored(counts[0])
				return true
			}
			s.log.Warn("store run events", "run", held[0].id, "err", err)
			return false
		}
		// One run's events must not hold back the others': store each alone.
		for _, l := range held {
			l.storing.Unlock()
		}
		others := held
		held = nil
		ok := true
		for _, l := range others {
			ok = s.store(ctx, l) && ok
		}
		return ok
	}
	for i, l := range held {
		l.markStored(counts[i])
	}
	s.bus.Publish(ctx, topics...)
	return true
}

// cleanText makes text storable: PostgreSQL's text and jsonb hold no NUL.
func cleanText(s string) string { return strings.ReplaceAll(s, "\x00", "\uFFFD") }

// cleanJSON replaces the \u0000 escapes of JSON text (which jsonb refuses)
// with U+FFFD, leaving an escaped backslash followed by "u0000" alone.
func cleanJSON(b []byte) []byte {
	const nul = `\u0000`
	if !bytes.Contains(b, []byte(nul)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			if bytes.HasPrefix(b[i:], []byte(nul)) {
				out = append(out, `\ufffd`...)
				i += len(nul) - 1
				continue
			}
			out = append(out, b[i], b[i+1]) // an escape: keep it whole
			i++
			continue
		}
		out = append(out, b[i])
	}
	return out
}

// follow sends the events after seq until the done event: from memory, or
// from the database while the follower is behind what memory keeps.
func (l *runLog) follow(ctx context.Context, after int64, send func(Event) error, beat func() error) error {
	wake, stop := l.wait()
	defer stop()
	idle := time.NewTicker(beatEvery)
	defer idle.Stop()
	for {
		pending, inMemory := l.since(after)
		if !inMemory {
			var err error
			if pending, err = l.s.storedEvents(ctx, l.id, after); err != nil {
				return err
			}
			if len(pending) == 0 {
				return fmt.Errorf("the events of run %s after %d are neither in memory nor stored", l.id, after)
			}
		}
		if len(pending) == 0 && l.endedBy(after) {
			return nil // a client that already had the done event
		}
		var done bool
		var err error
		if after, done, err = sendUntilDone(pending, after, send); err != nil || done {
			return err
		}
		if !inMemory {
			continue // catching up
		}
		select {
		case <-wake:
		case <-idle.C:
			if err := beat(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sendUntilDone sends events in order, stopping after the done event; it
// returns the last sequence number sent and whether done was among them.
func sendUntilDone(events []Event, after int64, send func(Event) error) (int64, bool, error) {
	for _, e := range events {
		if err := send(e); err != nil {
			return after, false, err
		}
		after = e.Seq
		if e.Kind == KindDone {
			return after, true, nil
		}
	}
	return after, false, nil
}

// beatEvery is how often a follower that has nothing to send calls beat.
const beatEvery = 15 * time.Second

// storedPage is how many stored events a follower reads at a time.
const storedPage = 1000

// storedEvents reads up to storedPage of a run's events after seq from the
// database.
func (s *Service) storedEvents(ctx context.Context, runID uuid.UUID, after int64) ([]Event, error) {
	rows, err := s.q.ListRunEventsAfter(ctx, db.ListRunEventsAfterParams{RunID: runID, Seq: after, MaxRows: storedPage})
	if err != nil {
		return nil, err
	}
	events := make([]Event, len(rows))
	for i, row := range rows {
		events[i] = Event{Seq: row.Seq, Kind: row.Kind, Data: row.Data}
	}
	return events, nil
}

// Follow sends a run's events after seq, waiting for new ones, until the
// done event has been sent or ctx ends; while nothing happens it calls beat
// every 15 s (an SSE heartbeat). It works on every replica: the run's
// own replica serves from memory, the others from agent_run_events, woken
// by LISTEN/NOTIFY.
func (s *Service) Follow(ctx context.Context, user, runID uuid.UUID, after int64, send func(Event) error, beat func() error) error {
	if _, err := s.Get(ctx, user, runID); err != nil {
		return err
	}
	if r := s.live(runID); r != nil {
		return r.log.follow(ctx, after, send, beat)
	}
	wake, stop := s.bus.Subscribe(RunTopic(runID))
	defer stop()
	poll := time.NewTicker(2 * time.Second) // in case a notification is lost
	defer poll.Stop()
	idle := time.Now()
	for {
		events, err := s.storedEvents(ctx, runID, after)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			if done, err := s.q.GetRunDoneSeq(ctx, runID); err == nil && after >= done {
				return nil // a client that already had the done event
			}
		}
		if len(events) > 0 {
			idle = time.Now()
		} else if time.Since(idle) >= beatEvery-3*time.Second { // checked every 2 s
			if err := beat(); err != nil {
				return err
			}
			idle = time.Now()
		}
		var done bool
		if after, done, err = sendUntilDone(events, after, send); err != nil || done {
			return err
		}
		if len(events) == storedPage {
			continue
		}
		select {
		case <-wake:
		case <-poll.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
