package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"studio/auth"
	"studio/config"
	"studio/containers"
	"studio/db"
	"studio/handlers"
	"studio/static"
)

// shutdownGrace is how long in-flight requests get to finish on SIGTERM.
const shutdownGrace = 15 * time.Second

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := config.Load("serve", args, config.Env, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)

	// Claim the address first: a port in use is the commonest start failure
	// and should not wait for the database.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("STUDIO_ADDR %s is already in use; stop the program using it or choose another address with STUDIO_ADDR", cfg.Addr)
		}
		return fmt.Errorf("STUDIO_ADDR %s: %w", cfg.Addr, err)
	}
	defer ln.Close()

	database, err := openDatabase(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer database.Close()
	if n, err := db.MigrateUp(ctx, database.pool); err != nil {
		return err
	} else if n > 0 {
		log.Info("database migrated", "applied", n)
	}

	ring, err := auth.LoadKeyring(cfg.SecretKey, cfg.PreviousKeys, cfg.DataDir())
	if err != nil {
		return err
	}
	deps := handlers.Deps{
		Config:   cfg,
		Logger:   log,
		Database: database,
		Auth:     auth.NewService(database.pool, ring, cfg.Signup, log),
	}
	if engine, err := containers.NewDocker(); err != nil {
		log.Warn("no container engine client", "err", err)
	} else {
		defer engine.Close()
		deps.Engine = engine
	}
	if static.Missing() {
		log.Warn("static assets are not built; run `go tool task assets`")
	}

	srv := &http.Server{
		Handler:           handlers.New(deps),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("studio is serving", "addr", ln.Addr().String(), "url", cfg.PublicURL(), "version", buildVersion(), "embedded_database", cfg.EmbeddedDatabase())

	var dbExited <-chan struct{}
	if database.embedded != nil {
		dbExited = database.embedded.Exited()
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing in-flight requests")
	case err := <-served:
		return fmt.Errorf("web server: %w", err)
	case <-dbExited:
		_ = srv.Close()
		return database.embedded.Err()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("requests still running at shutdown were cut off", "err", err)
	}
	log.Info("stopped")
	return nil
}
