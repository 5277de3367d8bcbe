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

// Going down from 0014 with a user's agent that has run keeps the runs and
// leaves the built-ins; going up again restores the marketplace.
func TestMarketplaceMigrationDownWithCustomAgents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	_, err := pool.Exec(ctx, `
		WITH u AS (INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x') RETURNING id),
		     i AS (INSERT INTO marketplace_items (id, kind, owner_id, name) SELECT 'mine-1', 'agent', id, 'Mine' FROM u RETURNING owner_id),
		     a AS (INSERT INTO agents (id, owner_id, name, mode, system_prompt) SELECT 'mine-1', owner_id, 'Mine', 'tools', 'p' FROM i RETURNING owner_id),
		     p AS (INSERT INTO projects (owner_id, name, slug, template) SELECT owner_id, 'P', 'p-mine', 'static' FROM a RETURNING id, owner_id)
		INSERT INTO agent_runs (project_id, user_id, agent_id, agent_version, model) SELECT id, owner_id, 'mine-1', 1, 'openai/m' FROM p`)
	if err != nil {
		t.Fatal(err)
	}
	m, err := db.NewMigrator(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	downThrough(t, m, 14)
	var agentRows, runs int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM agents), (SELECT count(*) FROM agent_runs)`).Scan(&agentRows, &runs); err != nil || agentRows != 3 || runs != 1 {
		t.Fatalf("after down: %d agents, %d runs, %v", agentRows, runs, err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

// downThrough rolls migrations back, newest first, until version is undone,
// whatever migrations came after it.
func downThrough(t *testing.T, m *db.Migrator, version int64) {
	t.Helper()
	for {
		undone, err := m.Down(context.Background())
		if err != nil {
			t.Fatalf("down: %v", err)
		}
		if undone <= version {
			return
		}
	}
}
