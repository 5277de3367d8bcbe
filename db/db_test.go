package db_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"studio/db"
	"studio/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestMigrationsUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t) // already migrated up
	m, err := db.NewMigrator(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if n, err := m.Up(ctx); err != nil || n != 0 {
		t.Fatalf("second Up ran %d migrations, err %v; want 0, nil", n, err)
	}
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for len(st) > 0 {
		if _, err := m.Down(ctx); err != nil {
			t.Fatalf("down: %v", err)
		}
		st = st[:len(st)-1]
	}
	var tables int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("after every Down, %d tables remain", tables)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if _, err := db.New(pool).CountUsers(ctx); err != nil {
		t.Fatalf("schema unusable after down+up: %v", err)
	}
}

func TestConcurrentMigrationsTakeTurns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	m, _ := db.NewMigrator(pool)
	st, _ := m.Status(ctx)
	for range st {
		if _, err := m.Down(ctx); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	errs := make(chan error, 4)
	for range 4 {
		go func() { _, err := db.MigrateUp(ctx, pool); errs <- err }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent up: %v", err)
		}
	}
	if _, err := db.New(pool).CountUsers(ctx); err != nil {
		t.Fatal(err)
	}
}

func newEmbedded(t *testing.T) *db.Embedded {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir makes 0700 folders; the database user must enter them.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &db.Embedded{Dir: filepath.Join(dir, "pg")}
}

func TestEmbeddedStartRestartAndCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEmbedded(t)
	if err := e.Start(ctx); err != nil {
		t.Fatalf("first start: %v", err)
	}
	pool, err := db.Open(ctx, e.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.MigrateUp(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := db.New(pool).CreateUser(ctx, db.CreateUserParams{Email: "a@example.com", PasswordHash: "x", Role: "user"}); err != nil {
		t.Fatal(err)
	}
	pool.Close()

	// A second server on the same folder must refuse.
	twin := &db.Embedded{Dir: e.Dir}
	if err := twin.Start(ctx); !errors.Is(err, db.ErrDataDirBusy) {
		t.Fatalf("second start on a busy folder: got %v, want ErrDataDirBusy", err)
	}

	if err := e.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	// A crash leaves postmaster.pid behind; the next start must cope.
	db.Kill(e)
	if _, err := os.Stat(filepath.Join(e.Dir, "data", "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid after a crash: %v", err)
	}
	e2 := &db.Embedded{Dir: e.Dir}
	if err := e2.Start(ctx); err != nil {
		// e still holds the folder lock: release it as a dead process would.
		if !errors.Is(err, db.ErrDataDirBusy) {
			t.Fatalf("start after crash: %v", err)
		}
		_ = e.Stop(ctx)
		if err := e2.Start(ctx); err != nil {
			t.Fatalf("start after crash: %v", err)
		}
	}
	t.Cleanup(func() { _ = e2.Stop(context.Background()) })
	pool, err = db.Open(ctx, e2.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := db.New(pool).GetUserByEmail(ctx, "a@example.com"); err != nil {
		t.Fatalf("data lost across the crash: %v", err)
	}
}

func TestEmbeddedErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := newEmbedded(t)
	e.BinDir = t.TempDir()
	if err := e.Start(ctx); err == nil {
		t.Fatal("start with a bin folder lacking postgres succeeded")
	}
	if _, err := db.Open(ctx, "postgres://u:secret@127.0.0.1:1/x?connect_timeout=1"); err == nil {
		t.Fatal("open of an unreachable server succeeded")
	} else if got := err.Error(); !strings.Contains(got, "cannot reach the database") || strings.Contains(got, "secret") {
		t.Fatalf("unclear or leaky error: %q", got)
	}
}

// An installation that applied the first release of 0005 (no
// agent_runs.cancel_requested) and already runs projects upgrades to the
// current schema and keeps the instance name its containers carry.
func TestUpgradeFromTheFirstAgentsMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	m, err := db.NewMigrator(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for { // back to 0005
		var current int64
		if err := pool.QueryRow(ctx, "SELECT max(version_id) FROM goose_db_version").Scan(&current); err != nil {
			t.Fatal(err)
		}
		if current <= 5 {
			break
		}
		if _, err := m.Down(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, stmt := range []string{
		"ALTER TABLE agent_runs DROP COLUMN cancel_requested",
		"INSERT INTO users (id, email, name, password_hash, role) VALUES ('00000000-0000-0000-0000-000000000001', 'old@example.com', 'Old', 'x', 'admin')",
		"INSERT INTO projects (owner_id, name, slug, template) VALUES ('00000000-0000-0000-0000-000000000001', 'Old', 'old', 'static')",
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	var has bool
	if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'agent_runs' AND column_name = 'cancel_requested')").Scan(&has); err != nil || !has {
		t.Fatalf("agent_runs.cancel_requested after the upgrade: %v, %v", has, err)
	}
	if name, err := db.New(pool).EnsureInstanceName(ctx, "studio-new"); err != nil || name != "default" {
		t.Fatalf("instance name = %q, %v; want the name its containers already carry, default", name, err)
	}
}

// A new installation keeps the first name it generated.
func TestInstanceNameIsGeneratedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := db.New(dbtest.New(t))
	first, err := q.EnsureInstanceName(ctx, "studio-first")
	if err != nil || first != "studio-first" {
		t.Fatalf("first start: %q, %v", first, err)
	}
	if again, err := q.EnsureInstanceName(ctx, "studio-second"); err != nil || again != first {
		t.Fatalf("second start: %q, %v; want %q", again, err, first)
	}
}
