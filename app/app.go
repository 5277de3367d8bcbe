// Package app builds studio from its configuration: the one place where
// the database, the keys, the container engine, the event bus and the
// services are made and wired, for every command and for tests.
package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"studio/agents"
	"studio/auth"
	"studio/catalogues"
	"studio/config"
	"studio/containers"
	"studio/containers/image"
	"studio/containers/kube"
	"studio/db"
	"studio/events"
	"studio/github"
	"studio/gitrepo"
	"studio/projects"
)

// Parts says how much of studio a command needs; each includes the ones
// before it.
type Parts int

const (
	// Database is the database alone, as found: studio migrate.
	Database Parts = iota
	// Accounts adds the migrations, the keys and the account service:
	// studio admin.
	Accounts
	// Everything adds the container engine, the event bus, projects and
	// agents: studio serve.
	Everything
)

// Options vary how the application is built.
type Options struct {
	Parts  Parts
	Logger *slog.Logger // default: slog.Default()
	// Attach lets a command run beside a serving studio use that studio's
	// embedded database instead of refusing.
	Attach bool
	// Projects and Agents, when set, adjust the services' options after
	// they are read from the configuration: tests shorten limits and point
	// agents at fake providers.
	Projects func(*projects.Options)
	Agents   func(*agents.Options)
	// Auth tunes the account service: tests lower bcrypt's cost.
	Auth []auth.Option
}

// App is studio, built. Fields beyond what Options.Parts asked for are nil.
type App struct {
	Config *config.Config
	Log    *slog.Logger
	Pool   *pgxpool.Pool
	// Embedded is the private PostgreSQL studio runs; nil for an external
	// server or one attached to.
	Embedded *db.Embedded

	Ring     *auth.Keyring
	Auth     *auth.Service
	Engine   containers.Engine // Docker or Kubernetes, as STUDIO_RUNTIME says
	Bus      *events.Bus
	Projects *projects.Service
	Agents   *agents.Service
	// Catalogues reads STUDIO_MARKETPLACE_URLS; nil when it names none.
	Catalogues *catalogues.Client
	// Git clones repositories a person names, through the guarded dialer.
	Git *gitrepo.Cloner
	// GitHub holds people's GitHub connections; nil with STUDIO_GITHUB=off.
	GitHub *github.Service

	database *database
	stop     context.CancelFunc // ends the background work Start began
}

// New builds the parts of studio opts asks for from cfg. On error,
// whatever was built is closed again.
func New(ctx context.Context, cfg *config.Config, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &App{Config: cfg, Log: opts.Logger, stop: func() {}}
	if err := a.build(ctx, opts); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) build(ctx context.Context, opts Options) error {
	var err error
	if a.database, err = openDatabase(ctx, a.Config, a.Log, opts.Attach); err != nil {
		return err
	}
	a.Pool, a.Embedded = a.database.pool, a.database.embedded
	if opts.Parts >= Accounts {
		if err := a.buildAccounts(ctx, opts); err != nil {
			return err
		}
	}
	if opts.Parts >= Everything {
		return a.buildEverything(ctx, opts)
	}
	return nil
}

// buildAccounts brings the schema up to date and makes the account service.
func (a *App) buildAccounts(ctx context.Context, opts Options) error {
	if n, err := db.MigrateUp(ctx, a.Pool); err != nil {
		return err
	} else if n > 0 {
		a.Log.Info("database migrated", "applied", n)
	}
	ring, err := auth.LoadKeyring(a.Config.SecretKey, a.Config.PreviousKeys, a.Config.DataDir())
	if err != nil {
		return err
	}
	a.Ring = ring
	a.Auth = auth.NewService(a.Pool, ring, a.Config.Signup, a.Log, opts.Auth...)
	return nil
}

// buildEverything makes the container engine, the event bus, and the
// project and agent services.
func (a *App) buildEverything(ctx context.Context, opts Options) error {
	cfg := a.Config
	instance, err := instanceName(ctx, cfg, a.Pool)
	if err != nil {
		return err
	}
	if a.Engine, err = newEngine(cfg, instance, a.Log); err != nil {
		return err
	}
	a.Bus = events.New(a.Pool, a.Log)
	poolSizes, err := cfg.PoolSizes()
	if err != nil {
		return err
	}
	pauseAfter, err := cfg.PauseDelay()
	if err != nil {
		return err
	}
	projectOpts := projects.Options{
		Root:         projectsRoot(cfg),
		Checkpoints:  filepath.Join(cfg.DataDir(), "checkpoints"),
		URLFor:       cfg.PreviewURL,
		MaxProjects:  cfg.MaxProjects,
		MaxRunning:   cfg.MaxRunning,
		MaxFileSize:  cfg.MaxFileSize,
		ProjectDisk:  cfg.ProjectDisk,
		IdleTimeout:  cfg.IdleTimeout,
		PauseAfter:   pauseAfter,
		SoleInstance: cfg.EmbeddedDatabase(),
		Pool:         projects.PoolOptions{Sizes: poolSizes, Version: poolVersion(cfg)},
		Logger:       a.Log,
		Sealer:       a.Ring,
	}
	if opts.Projects != nil {
		opts.Projects(&projectOpts)
	}
	a.Projects = projects.New(a.Pool, a.Engine, a.Bus, projectOpts)
	agentOpts, err := agentOptions(cfg, a.Log)
	if err != nil {
		return err
	}
	if opts.Agents != nil {
		opts.Agents(&agentOpts)
	}
	a.Agents = agents.New(a.Pool, a.Auth, a.Projects, a.Engine, a.Bus, a.Log, agentOpts)
	if a.Catalogues, err = newCatalogues(cfg, a.Log); err != nil {
		return err
	}
	if a.Git, err = newCloner(cfg); err != nil {
		return err
	}
	if cfg.GitHub {
		a.GitHub, err = newGitHub(cfg, a.Pool, a.Ring)
	}
	return err
}

// poolVersion names what a warm pool slot is made of: the runtime image,
// the templates, and the limits its container is made with. A slot of
// another version is replaced, never claimed.
func poolVersion(cfg *config.Config) string {
	return fmt.Sprintf("%s %s mem=%d cpus=%g pids=%d", cmp.Or(cfg.RuntimeImage, image.Reference()), image.Tag(), cfg.Memory, cfg.CPUs, cfg.Pids)
}

// projectsRoot is the folder holding every project's files.
func projectsRoot(cfg *config.Config) string { return filepath.Join(cfg.DataDir(), "projects") }

// newEngine connects to the container engine STUDIO_RUNTIME names.
func newEngine(cfg *config.Config, instance string, log *slog.Logger) (containers.Engine, error) {
	if cfg.Runtime == "kubernetes" {
		return kube.New(kube.Options{
			Namespace:     cfg.KubeNamespace,
			ProjectsClaim: cfg.KubeProjectsClaim,
			VolumeRoot:    cfg.DataDir(),
			Image:         cfg.RuntimeImage,
			Instance:      instance,
			Memory:        cfg.Memory,
			MilliCPUs:     int64(cfg.CPUs * 1000),
			Logger:        log,
		})
	}
	opts := containers.Options{
		Image:     cfg.RuntimeImage,
		Instance:  instance,
		Memory:    cfg.Memory,
		NanoCPUs:  int64(cfg.CPUs * 1e9),
		PidsLimit: cfg.Pids,
		Logger:    log,
	}
	if cfg.Router == "traefik" {
		opts.Traefik = &containers.Traefik{
			Domain:      cfg.PreviewDomain,
			AuthURL:     cfg.TraefikAuthURL,
			EntryPoints: cfg.TraefikEntryPointList(),
			Service:     cfg.TraefikService,
			Container:   cfg.TraefikContainer,
		}
	}
	return containers.NewDockerWith(opts)
}

// Start begins the background work of a serving studio: the event bus's
// listener, project reconcile and hibernation, agent heartbeats. Close
// ends it, before the database closes.
func (a *App) Start() {
	background, stop := context.WithCancel(context.Background())
	a.stop = stop
	go a.Bus.Run(background)
	go a.Projects.Run(background)
	go a.Agents.Run(background)
}

// Ping is the database's readiness check.
func (a *App) Ping(ctx context.Context) error { return a.database.Ping(ctx) }

// Close ends the background work and runs, then closes the engine and the
// database, in that order.
func (a *App) Close() {
	if a.Agents != nil {
		a.Agents.Close()
	}
	a.stop()
	if a.Projects != nil {
		a.Projects.Close()
	}
	if a.Engine != nil {
		a.Engine.Close()
	}
	if a.database != nil {
		a.database.Close()
	}
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
