package db_test

import (
	"context"
	"strings"
	"testing"

	"studio/db"
	"studio/db/dbtest"
)

// Built-ins cannot be hidden, a user has one open report per item, and
// 0015 goes down with reports and a hidden item and up again.
func TestModerationTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	var a string
	if err := pool.QueryRow(ctx, `
		WITH u AS (INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x') RETURNING id)
		INSERT INTO marketplace_items (id, kind, owner_id, visibility, name) SELECT 'mine-1', 'agent', id, 'instance', 'Mine' FROM u
		RETURNING owner_id`).Scan(&a); err != nil {
		t.Fatal(err)
	}
	q := db.New(pool)
	if n, err := q.HideItem(ctx, db.HideItemParams{ID: "builder", HiddenReason: "no"}); err != nil || n != 0 {
		t.Fatalf("hiding a built-in: %d rows, %v", n, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE marketplace_items SET hidden_at = now() WHERE id = 'reviewer'`); err == nil || !strings.Contains(err.Error(), "builtin_not_hidden") {
		t.Fatalf("a built-in was hidden: %v", err)
	}
	for _, reason := range []string{"", strings.Repeat("x", 1001)} {
		if _, err := pool.Exec(ctx, `INSERT INTO marketplace_reports (item_id, reporter_id, reason) VALUES ('mine-1', $1, $2)`, a, reason); err == nil {
			t.Fatalf("a report with a %d-character reason was stored", len(reason))
		}
	}
	const report = `INSERT INTO marketplace_reports (item_id, reporter_id, reason) VALUES ('mine-1', $1, 'spam')`
	if _, err := pool.Exec(ctx, report, a); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, report, a); err == nil {
		t.Fatal("a second open report by one user was stored")
	}
	if _, err := pool.Exec(ctx, `UPDATE marketplace_reports SET resolved_at = now(), resolution = 'dismissed'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, report, a); err != nil {
		t.Fatalf("a report after a resolved one: %v", err)
	}
	if n, err := q.HideItem(ctx, db.HideItemParams{ID: "mine-1", HiddenReason: "spam"}); err != nil || n != 1 {
		t.Fatalf("hide: %d, %v", n, err)
	}

	m, err := db.NewMigrator(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	downThrough(t, m, 15)
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	var hidden int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM marketplace_items WHERE hidden_at IS NOT NULL`).Scan(&hidden); err != nil || hidden != 0 {
		t.Fatalf("after down and up: %d hidden, %v", hidden, err)
	}
}
