// Package events carries "something new happened" between studio replicas.
// The events themselves live in PostgreSQL tables (project_events,
// agent_run_events), which are the source of truth and the replay log; the
// Bus only wakes the streams that follow a topic, on this replica through
// a channel and on every other through PostgreSQL LISTEN/NOTIFY.
package events

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

const channel = "studio_events"

// Bus wakes subscribers of a topic such as "project:<id>" or "user:<id>".
type Bus struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}

	listening     chan struct{} // closed once Run first listens
	markListening sync.Once
}

// New makes a bus; Run must be running for other replicas' events to arrive.
func New(pool *pgxpool.Pool, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	return &Bus{pool: pool, log: log, subs: map[string]map[chan struct{}]struct{}{}, listening: make(chan struct{})}
}

// Listening is closed once Run listens for other replicas' events (and has
// woken the subscribers that were waiting meanwhile).
func (b *Bus) Listening() <-chan struct{} { return b.listening }

// Publish wakes every subscriber of the topics, on every replica.
// Several topics go in one statement.
func (b *Bus) Publish(ctx context.Context, topics ...string) {
	if len(topics) == 0 {
		return
	}
	if _, err := b.pool.Exec(ctx, "SELECT pg_notify($1, t) FROM unnest($2::text[]) AS t", channel, topics); err != nil {
		b.log.Warn("publish event", "topics", len(topics), "err", err)
		for _, t := range topics {
			b.wake(t) // at least this replica's streams move on
		}
	}
}

// Subscribe returns a channel that receives a value (coalesced) whenever
// the topic has news, and a function that ends the subscription.
func (b *Bus) Subscribe(topic string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.subs[topic] == nil {
		b.subs[topic] = map[chan struct{}]struct{}{}
	}
	b.subs[topic][ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs[topic], ch)
		if len(b.subs[topic]) == 0 {
			delete(b.subs, topic)
		}
		b.mu.Unlock()
	}
}

func (b *Bus) wake(topic string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[topic] {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

func (b *Bus) wakeAll() {
	b.mu.Lock()
	topics := make([]string, 0, len(b.subs))
	for t := range b.subs {
		topics = append(topics, t)
	}
	b.mu.Unlock()
	for _, t := range topics {
		b.wake(t)
	}
}

// Run listens for notifications until ctx ends, reconnecting after errors.
// After a reconnect every subscriber is woken, since notifications sent
// meanwhile were lost; they re-read their tables and miss nothing.
func (b *Bus) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := b.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("event listener lost its connection; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		b.wakeAll()
	}
}

func (b *Bus) listen(ctx context.Context) error {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	defer func() {
		// The connection goes back to the pool: stop listening on it.
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := conn.Exec(c, "UNLISTEN *"); err != nil {
			conn.Conn().Close(c) //nolint:errcheck
		}
	}()
	b.wakeAll()
	b.markListening.Do(func() { close(b.listening) })
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		b.wake(strings.TrimSpace(n.Payload))
	}
}
