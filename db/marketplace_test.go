package db_test

import (
	"context"
	"strings"
	"testing"

	"studio/db"
	"studio/db/dbtest"
)

// The migration makes the built-ins items, keeps published versions as
// they are and counts installs and ratings, one rating per user.
func TestMarketplaceTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	q := db.New(pool)

	var builtIns, readOnly int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE v.read_only)
		FROM marketplace_items i JOIN agent_versions v ON v.agent_id = i.id AND v.version = 1
		WHERE i.owner_id IS NULL AND i.kind = 'agent' AND i.visibility = 'instance'`).Scan(&builtIns, &readOnly); err != nil || builtIns != 3 || readOnly != 1 {
		t.Fatalf("built-ins: %d, read-only %d, %v", builtIns, readOnly, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE agent_versions SET system_prompt = 'changed' WHERE agent_id = 'builder'`); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("a published version changed: %v", err)
	}

	var a, b string
	if err := pool.QueryRow(ctx, `INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x') RETURNING id`).Scan(&a); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO users (email, password_hash) VALUES ('b@example.com', 'x') RETURNING id`).Scan(&b); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO marketplace_installs (user_id, item_id, version) VALUES ($1, 'reviewer', 1), ($2, 'reviewer', 1)`,
		`INSERT INTO marketplace_ratings (user_id, item_id, stars) VALUES ($1, 'reviewer', 5), ($2, 'reviewer', 1)`,
		`UPDATE marketplace_ratings SET stars = 3 WHERE user_id = $2 AND user_id <> $1`,
		`DELETE FROM marketplace_installs WHERE user_id = $2 AND user_id <> $1`,
	} {
		if _, err := pool.Exec(ctx, stmt, a, b); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO marketplace_ratings (user_id, item_id, stars) VALUES ($1, 'reviewer', 4)`, a); err == nil {
		t.Fatal("a second rating by one user was stored")
	}
	if _, err := pool.Exec(ctx, `INSERT INTO marketplace_ratings (user_id, item_id, stars) VALUES ($1, 'builder', 6)`, a); err == nil {
		t.Fatal("6 stars were stored")
	}
	var installs, count, sum int
	if err := pool.QueryRow(ctx, `SELECT install_count, rating_count, rating_sum FROM marketplace_items WHERE id = 'reviewer'`).Scan(&installs, &count, &sum); err != nil || installs != 1 || count != 2 || sum != 8 {
		t.Fatalf("counters: %d installs, %d ratings summing to %d, %v", installs, count, sum, err)
	}
	rows, err := q.SearchItems(ctx, db.SearchItemsParams{Query: "review code", Sort: "relevance", MaxRows: 10})
	if err != nil || len(rows) != 1 || rows[0].ID != "reviewer" {
		t.Fatalf("search: %v %v", rows, err)
	}
}
