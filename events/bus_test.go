package events_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"studio/db/dbtest"
	"studio/events"

	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func wait(t *testing.T, ch <-chan struct{}, want bool) {
	t.Helper()
	select {
	case <-ch:
		if !want {
			t.Fatal("woken for another topic")
		}
	case <-time.After(2 * time.Second):
		if want {
			t.Fatal("no wake-up")
		}
	}
}

// Two buses on one database stand for two replicas.
func TestPublishReachesOtherReplicas(t *testing.T) {
	t.Parallel()
	_, url := dbtest.NewWithURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	var buses []*events.Bus
	for range 2 {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close) // after the listeners stopped
		b := events.New(pool, slog.New(slog.DiscardHandler))
		go b.Run(ctx)
		buses = append(buses, b)
	}
	t.Cleanup(cancel)
	a, stopA := buses[1].Subscribe("project:a")
	defer stopA()
	other, stopO := buses[1].Subscribe("project:b")
	defer stopO()
	for _, b := range buses {
		wait(t, b.Listening(), true)
	}
	drain(a)
	drain(other)
	buses[0].Publish(ctx, "project:a")
	wait(t, a, true)
	select {
	case <-other:
		t.Fatal("a subscriber of another topic was woken")
	case <-time.After(200 * time.Millisecond):
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
