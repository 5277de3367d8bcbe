package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"studio/auth"
	"studio/config"
	"studio/containers"
	"studio/db"
	"studio/events"
	"studio/handlers"
	"studio/projects"
	"studio/proxy"
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
	if cfg.Runtime != "docker" {
		return fmt.Errorf("STUDIO_RUNTIME=%s: only the docker runtime is available in this version", cfg.Runtime)
	}

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
	instance, err := instanceName(ctx, cfg, database.pool)
	if err != nil {
		return err
	}
	engine, err := containers.NewDockerWith(containers.Options{
		Instance:  instance,
		Memory:    cfg.Memory,
		NanoCPUs:  int64(cfg.CPUs * 1e9),
		PidsLimit: cfg.Pids,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	defer engine.Close()
	bus := events.New(database.pool, log)
	projectService := projects.New(database.pool, engine, bus, projects.Options{
		Root:         filepath.Join(cfg.DataDir(), "projects"),
		Checkpoints:  filepath.Join(cfg.DataDir(), "checkpoints"),
		URLFor:       cfg.PreviewURL,
		MaxProjects:  cfg.MaxProjects,
		MaxRunning:   cfg.MaxRunning,
		MaxFileSize:  cfg.MaxFileSize,
		ProjectDisk:  cfg.ProjectDisk,
		IdleTimeout:  cfg.IdleTimeout,
		SoleInstance: cfg.EmbeddedDatabase(),
		Logger:       log,
	})
	defer projectService.Close()
	// Background work stops before the database closes (defers run last first).
	background, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	go bus.Run(background)
	go projectService.Run(background)
	authService := auth.NewService(database.pool, ring, cfg.Signup, log)
	agentService, err := newAgents(cfg, database.pool, authService, projectService, engine, bus, log)
	if err != nil {
		return err
	}
	defer agentService.Close()
	go agentService.Run(background)

	deps := handlers.Deps{
		Config:   cfg,
		Logger:   log,
		Database: database,
		Engine:   engine,
		Auth:     authService,
		Projects: projectService,
		Agents:   agentService,
		Bus:      bus,
		Previews: &proxy.Signer{Ring: ring},
		Usage:    engine,
	}
	if static.Missing() {
		log.Warn("static assets are not built; run `go tool task assets`")
	}

	preview := proxy.New(&proxy.Preview{
		Projects:  projectService,
		SignIns:   authService,
		Signer:    &proxy.Signer{Ring: ring},
		Domain:    cfg.PreviewDomain,
		PublicURL: cfg.PublicURL(),
		MaxBody:   cfg.MaxBody,
		Secure:    strings.HasPrefix(cfg.PublicURL(), "https://"),
		Log:       log,
	})
	srv := newHTTPServer(proxy.Router(proxy.Hosts{UI: cfg.UIHost(), PreviewDomain: cfg.PreviewDomain, Log: log}, handlers.New(deps), preview), defaultServerTimeouts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("studio is serving", "addr", ln.Addr().String(), "url", cfg.PublicURL(), "previews", cfg.PreviewURL("{project}"), "version", buildVersion(), "embedded_database", cfg.EmbeddedDatabase())
	if strings.HasPrefix(cfg.PublicURL(), "https://") && cfg.PreviewsShareSiteWithUI() {
		log.Warn("previews share a site with the UI, so project code can set cookies the UI receives; serve them from a registrable domain of their own with STUDIO_PREVIEW_DOMAIN",
			"ui", cfg.UIHost(), "previews", "*."+cfg.PreviewDomain)
	}

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
	agentService.Close() // runs end (failed: shutting down), so their streams close
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("requests still running at shutdown were cut off", "err", err)
	}
	log.Info("stopped")
	return nil
}

// instanceName is STUDIO_INSTANCE, or the name this installation generated
// at its first start and keeps in its database.
func instanceName(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool) (string, error) {
	if cfg.Instance != "" {
		return cfg.Instance, nil
	}
	name, err := db.New(pool).EnsureInstanceName(ctx, "studio-"+strings.ToLower(rand.Text()[:10]))
	if err != nil {
		return "", fmt.Errorf("name this installation: %w", err)
	}
	return name, nil
}
