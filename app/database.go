package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"studio/config"
	"studio/db"
)

// database is studio's open database and, when embedded, its server.
type database struct {
	pool     *pgxpool.Pool
	embedded *db.Embedded // nil for an external server or an attached one
}

// openDatabase connects to STUDIO_DATABASE_URL or starts the embedded
// server. With attach, a command run beside a serving studio uses that
// studio's embedded server instead of refusing.
func openDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger, attach bool) (*database, error) {
	if !cfg.EmbeddedDatabase() {
		pool, err := db.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		return &database{pool: pool}, nil
	}
	if err := ensureDataDir(cfg.DataDir()); err != nil {
		return nil, err
	}
	e := &db.Embedded{
		Dir:    filepath.Join(cfg.DataDir(), "pg"),
		BinDir: cfg.PGBin,
		User:   cfg.PGUser,
		Logger: log,
	}
	err := e.Start(ctx)
	if attach && errors.Is(err, db.ErrDataDirBusy) {
		pool, err := db.Open(ctx, e.URL())
		if err != nil {
			return nil, err
		}
		return &database{pool: pool}, nil
	}
	if err != nil {
		return nil, err
	}
	pool, err := db.Open(ctx, e.URL())
	if err != nil {
		_ = e.Stop(context.Background())
		return nil, err
	}
	return &database{pool: pool, embedded: e}, nil
}

// Close closes the pool, then stops the embedded server.
func (d *database) Close() {
	d.pool.Close()
	if d.embedded != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.embedded.Stop(ctx)
	}
}

// Ping is the database's readiness check.
func (d *database) Ping(ctx context.Context) error {
	if err := d.pool.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create the data folder %s: %w; set STUDIO_DATA to a folder studio can write", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("the data folder %s is not writable: %w; set STUDIO_DATA to a folder studio can write", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}
