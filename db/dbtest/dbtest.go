// Package dbtest gives each test a fresh, migrated PostgreSQL database,
// cloned from a template database on a real server: the embedded server of
// the test process, or the one STUDIO_TEST_DATABASE_URL names.
package dbtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"studio/db"
)

var (
	once        sync.Once
	server      *db.Embedded
	serverDir   string
	maintenance string // URL of the server's maintenance database
	startErr    error
)

// Main wraps a package's tests so the embedded server started for them is
// stopped and removed at the end: func TestMain(m *testing.M) { dbtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_ = server.Stop(ctx)
		cancel()
		os.RemoveAll(serverDir)
	}
	os.Exit(code)
}

// New returns a pool on a new database with every migration applied; the
// database is dropped when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, _ := NewWithURL(t)
	return pool
}

// NewWithURL is New that also returns the database's URL, for code under
// test that opens its own connections.
func NewWithURL(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	once.Do(func() { startErr = start(ctx) })
	if startErr != nil {
		t.Fatalf("test database server: %v", startErr)
	}
	name := "test_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	tmpl, err := template(ctx)
	if err != nil {
		t.Fatalf("template database: %v", err)
	}
	err = withMaintenance(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl))
		return err
	})
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	dbURL := withDatabase(maintenance, name)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect test database: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		_ = withMaintenance(context.Background(), func(conn *pgx.Conn) error {
			_, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			return err
		})
	})
	return pool, dbURL
}

// ServerURL returns the maintenance URL of the test server, for tests that
// create databases of their own.
func ServerURL(t testing.TB) string {
	t.Helper()
	once.Do(func() { startErr = start(context.Background()) })
	if startErr != nil {
		t.Fatalf("test database server: %v", startErr)
	}
	return maintenance
}

func start(ctx context.Context) error {
	if u := os.Getenv("STUDIO_TEST_DATABASE_URL"); u != "" {
		maintenance = u
		return nil
	}
	dir, err := os.MkdirTemp("", "studio-testdb-")
	if err != nil {
		return err
	}
	// The database user must be able to enter the folder when tests run as root.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	serverDir = dir
	server = &db.Embedded{Dir: dir + "/pg", Logger: slog.New(slog.DiscardHandler)}
	if err := server.Start(ctx); err != nil {
		return err
	}
	maintenance = server.MaintenanceURL()
	return nil
}

// template creates, once per schema version, a migrated database to clone.
func template(ctx context.Context) (string, error) {
	name := "studio_template_" + schemaHash()
	err := withMaintenance(ctx, func(conn *pgx.Conn) error {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil || exists {
			return err
		}
		building := name + "_build"
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+building); err != nil {
			return err
		}
		pool, err := pgxpool.New(ctx, withDatabase(maintenance, building))
		if err != nil {
			return err
		}
		_, err = db.MigrateUp(ctx, pool)
		pool.Close()
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name)
		return err
	})
	return name, err
}

// withMaintenance runs fn on a maintenance connection while holding an
// advisory lock, so concurrent test processes sharing one server do not
// clone a template while another builds or copies it.
func withMaintenance(ctx context.Context, fn func(*pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, maintenance)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
		return err
	}
	defer conn.Exec(ctx, "SELECT pg_advisory_unlock(727274)") //nolint:errcheck
	return fn(conn)
}

func schemaHash() string {
	h := sha256.New()
	_ = fs.WalkDir(db.Schema(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(db.Schema(), path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDatabase(serverURL, name string) string {
	u, err := url.Parse(serverURL)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}
