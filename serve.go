package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"studio/app"
	"studio/config"
	"studio/handlers"
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

	studio, err := app.New(ctx, cfg, app.Options{Parts: app.Everything, Logger: log})
	if err != nil {
		return err
	}
	defer studio.Close()
	studio.Start()

	deps := handlers.Deps{
		Config:     cfg,
		Logger:     log,
		Database:   studio,
		Engine:     studio.Engine,
		Auth:       studio.Auth,
		Projects:   studio.Projects,
		Agents:     studio.Agents,
		Bus:        studio.Bus,
		Previews:   &proxy.Signer{Ring: studio.Ring},
		Catalogues: studio.Catalogues,
		Git:        studio.Git,
		GitHub:     studio.GitHub,
		Usage:      studio.Engine,
	}
	if static.Missing() {
		log.Warn("static assets are not built; run `go tool task assets`")
	}

	preview := proxy.New(&proxy.Preview{
		Projects:  studio.Projects,
		SignIns:   studio.Auth,
		Signer:    &proxy.Signer{Ring: studio.Ring},
		Domain:    cfg.PreviewDomain,
		PublicURL: cfg.PublicURL(),
		MaxBody:   cfg.MaxBody,
		Secure:    strings.HasPrefix(cfg.PublicURL(), "https://"),
		Log:       log,
		Upstreams: upstreamsOf(studio.Engine),
		Routed:    cfg.Router == "traefik",
		Trusted:   cfg.TrustedProxies,
		Sites:     studio.Projects,
	})
	hosts := proxy.Hosts{UI: cfg.UIHost(), PreviewDomain: cfg.PreviewDomain, Log: log}
	if cfg.Router == "traefik" {
		hosts.ForwardAuth = http.HandlerFunc(preview.ForwardAuth)
		if len(cfg.TrustedProxies) == 0 {
			log.Warn("STUDIO_ROUTER=traefik without STUDIO_TRUSTED_PROXIES: only a Traefik on this machine's loopback may ask " + config.ForwardAuthPath)
		}
	}
	web := handlers.New(deps)
	srv := newHTTPServer(proxy.Router(hosts, web, preview), defaultServerTimeouts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("studio is serving", "addr", ln.Addr().String(), "url", cfg.PublicURL(), "previews", cfg.PreviewURL("{project}"), "version", buildVersion(), "embedded_database", cfg.EmbeddedDatabase())
	if strings.HasPrefix(cfg.PublicURL(), "https://") && cfg.PreviewsShareSiteWithUI() {
		log.Warn("previews share a site with the UI, so project code can set cookies the UI receives; serve them from a registrable domain of their own with STUDIO_PREVIEW_DOMAIN",
			"ui", cfg.UIHost(), "previews", "*."+cfg.PreviewDomain)
	}

	var dbExited <-chan struct{}
	if studio.Embedded != nil {
		dbExited = studio.Embedded.Exited()
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing in-flight requests")
	case err := <-served:
		return fmt.Errorf("web server: %w", err)
	case <-dbExited:
		_ = srv.Close()
		return studio.Embedded.Err()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	studio.Agents.Close() // runs end (failed: shutting down), so their streams close
	web.Close()           // terminals hang up their shells
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("requests still running at shutdown were cut off", "err", err)
	}
	log.Info("stopped")
	return nil
}

// upstreamsOf is the engine's check that a recorded dev-server address is
// still the project's, when it has one (Kubernetes).
func upstreamsOf(engine any) proxy.Upstreams {
	if u, ok := engine.(proxy.Upstreams); ok {
		return u
	}
	return nil
}
