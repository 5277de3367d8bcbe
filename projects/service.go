// Package projects owns what a user builds: project rows and their status
// machine, each project's files and checkpoints, and the container that
// serves its dev server, kept in step with the database by reconcile,
// hibernation and an exit watcher.
package projects

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"studio/containers"
	"studio/containers/image"
	"studio/db"
	"studio/events"
	"studio/templates"
)

// Errors a person can act on.
var (
	ErrNotFound        = errors.New("there is no such project")
	ErrUnknownTemplate = errors.New("there is no such template")
	ErrNameInvalid     = errors.New("the name must be 1 to 60 characters")
	ErrProjectLimit    = errors.New("you have reached the most projects you may keep; delete one first")
	ErrRunningLimit    = errors.New("you run the most projects allowed at once; stop one first")
	ErrBusy            = errors.New("the project is changing state; try again in a moment")
)

// Options configures the service.
type Options struct {
	Root         string // project folders live in Root/<id>
	Checkpoints  string // checkpoint blobs live in Checkpoints/<id>
	URLFor       func(slug string) string
	MaxProjects  int           // per user
	MaxRunning   int           // per user, initializing or active
	MaxFileSize  int64         // largest file written; default 5 MiB
	ProjectDisk  int64         // most bytes a project's folder may take; 0 = no limit
	IdleTimeout  time.Duration // hibernate after this long idle; 0 = never
	PauseAfter   time.Duration // freeze the container after this long idle (runtimes that can); 0 = never
	ReadyTimeout time.Duration // how long a dev server may take to answer
	StaleAfter   time.Duration // an initializing project untouched this long was abandoned
	// SoleInstance says no other studio shares the database (the embedded
	// one), so at start every project left initializing was abandoned by
	// a studio that was killed and is resumed at once.
	SoleInstance bool
	// Pool keeps started containers ready for creates; see PoolOptions.
	Pool PoolOptions
	// Sealer keeps projects' environment variables encrypted; nil refuses
	// to store any.
	Sealer Sealer
	Logger *slog.Logger
	// Now is the clock idle time is measured by; nil is time.Now.
	Now func() time.Time
}

// Service is the project service.
type Service struct {
	pool *pgxpool.Pool
	q    *db.Queries
	rt   containers.Runtime
	bus  *events.Bus
	opts Options
	log  *slog.Logger

	bg     context.Context // owns provisioning goroutines
	stop   context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	active map[uuid.UUID]bool // projects this replica is provisioning
	disk   diskUsage

	containerLocks sync.Map // project id → *sync.Mutex, see lockContainer

	poolWake chan struct{} // wakes the pool's refill loop
	warming  sync.Map      // pool slot id → true while this replica makes it
	building sync.Map      // project id → true while this replica builds it
}

// lockContainer makes this replica's stops and starts of one project's
// container take turns: a Start pressed while a Stop is still stopping the
// container starts it after the stop, instead of having its fresh dev
// server killed by the stop that came first.
func (s *Service) lockContainer(id uuid.UUID) (unlock func()) {
	m, _ := s.containerLocks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// New makes the service; Close stops its background work.
func New(pool *pgxpool.Pool, rt containers.Runtime, bus *events.Bus, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	if opts.StaleAfter == 0 {
		opts.StaleAfter = opts.ReadyTimeout + time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.URLFor == nil {
		opts.URLFor = func(slug string) string { return "http://" + slug + ".studio.localhost/" }
	}
	bg, stop := context.WithCancel(context.Background())
	return &Service{
		pool: pool, q: db.New(pool), rt: rt, bus: bus, opts: opts, log: opts.Logger,
		bg: bg, stop: stop, active: map[uuid.UUID]bool{}, poolWake: make(chan struct{}, 1),
		disk: diskUsage{sizes: map[uuid.UUID]measuredSize{}},
	}
}

// Close cancels provisioning in flight and waits for it to end.
func (s *Service) Close() {
	s.stop()
	s.wg.Wait()
}

// dir is the folder holding a project's files.
func (s *Service) dir(id uuid.UUID) string { return filepath.Join(s.opts.Root, id.String()) }

// Create validates and records a new project from a built-in template. A
// template with a warm pool gives it a ready slot's running container and
// it is active at once; otherwise it answers at once and sets the project
// up in the background: files, container, dev server.
func (s *Service) Create(ctx context.Context, owner uuid.UUID, name, template string) (db.Project, error) {
	if _, ok := image.Lookup(template); !ok {
		return db.Project{}, ErrUnknownTemplate
	}
	return s.create(ctx, owner, name, db.CreateProjectWithinLimitsParams{Template: template}, nil)
}

// TemplateRef is a version of a user's template (a marketplace item) and
// the built-in runtime it runs on.
type TemplateRef struct {
	Item    string
	Version int32
	Base    string
}

// CreateFromTemplate records a new project made from a user's template.
// It is set up in the background like a cold create: the template's files
// from its bundle, then its dependencies — the runtime image's when it
// asks for the same as its base, otherwise installed in the container
// with progress — then the dev server. The warm pool serves built-ins only.
func (s *Service) CreateFromTemplate(ctx context.Context, owner uuid.UUID, name string, ref TemplateRef) (db.Project, error) {
	if _, ok := image.Lookup(ref.Base); !ok || ref.Item == "" || ref.Version < 1 {
		return db.Project{}, ErrUnknownTemplate
	}
	return s.create(ctx, owner, name, db.CreateProjectWithinLimitsParams{Template: ref.Base,
		TemplateItem: pgtype.Text{String: ref.Item, Valid: true}, TemplateVersion: pgtype.Int4{Int32: ref.Version, Valid: true}}, nil)
}

// CreateFromFiles records a new project whose first files are given (an
// imported zip, say): they are written before the call returns, and the
// project is set up like a cold create. It runs the way its package.json
// calls for (DetectDevServer): Vite with React, Vite, its own dev script,
// or the static server.
func (s *Service) CreateFromFiles(ctx context.Context, owner uuid.UUID, name string, files map[string][]byte, exec map[string]bool) (db.Project, error) {
	return s.createImported(ctx, owner, name, files["package.json"], func(tmp string) error {
		return templates.WriteFiles(tmp, files, exec)
	})
}

// CreateFromDir records a new project whose first files are the folder
// src (a clone, say), which must be on the file system of the project
// folders (StagingDir) and is moved in; like CreateFromFiles otherwise. On
// a refusal src is removed.
func (s *Service) CreateFromDir(ctx context.Context, owner uuid.UUID, name, src string) (db.Project, error) {
	var pkg []byte
	if root, err := os.OpenRoot(src); err == nil {
		pkg = readPackageJSON(root)
		root.Close()
	}
	p, err := s.createImported(ctx, owner, name, pkg, func(tmp string) error { return os.Rename(src, tmp) })
	if err != nil {
		os.RemoveAll(src)
	}
	return p, err
}

// createImported records a project whose files write puts in place, run
// as its package.json calls for.
func (s *Service) createImported(ctx context.Context, owner uuid.UUID, name string, packageJSON []byte, write func(tmp string) error) (db.Project, error) {
	run := DetectDevServer(packageJSON)
	fill := func(tmp string) error {
		if err := write(tmp); err != nil {
			return err
		}
		if err := writeDevServer(tmp, run); err != nil {
			return fmt.Errorf("record how the project runs: %w", err)
		}
		return linkIfSame(run.Base, tmp, packageJSON)
	}
	return s.create(ctx, owner, name, db.CreateProjectWithinLimitsParams{Template: run.Base}, fill)
}

// StagingDir is a new path, not yet made, where a project's first files
// can be prepared before CreateFromDir moves them in.
func (s *Service) StagingDir() (string, error) {
	dir := filepath.Join(s.opts.Root, ".staging")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return filepath.Join(dir, uuid.NewString()), nil
}

// create records a project and sets it up. fill, when given, writes the
// project's first files into a new folder before create returns; such a
// project never takes a pool slot, nor does one from a user's template.
func (s *Service) create(ctx context.Context, owner uuid.UUID, name string, arg db.CreateProjectWithinLimitsParams, fill func(dir string) error) (_ db.Project, err error) {
	name, err = cleanName(name)
	if err != nil {
		return db.Project{}, err
	}
	arg.OwnerID, arg.Name = owner, name
	usePool := fill == nil && !arg.TemplateItem.Valid
	if fill != nil {
		// The files go in first, under the id the row will have: a crash
		// between the two leaves a folder without a project, never a
		// project that would be given a built-in template's files.
		id := uuid.New()
		if err := s.fillDir(id, fill); err != nil {
			return db.Project{}, fmt.Errorf("write the project's files: %w", err)
		}
		arg.ID = &id
		defer func() {
			if err != nil {
				os.RemoveAll(s.dir(id))
			}
		}()
	}
	var p db.Project
	var claimed bool
	for attempt := 0; ; attempt++ {
		arg.Slug = slugFor(name, attempt)
		p, claimed, err = s.createWithinLimits(ctx, arg, usePool)
		if err == nil {
			break
		}
		if !isUniqueViolation(err) || attempt > 20 {
			if Refused(err) || errors.Is(err, ErrProjectLimit) {
				return db.Project{}, err
			}
			return db.Project{}, fmt.Errorf("create project: %w", err)
		}
	}
	if usePool {
		s.countCreate(ctx, arg.Template, claimed)
	}
	if claimed {
		s.record(ctx, p, "status", map[string]any{"status": p.Status, "url": p.URL})
		if err := s.finishClaim(context.WithoutCancel(ctx), p.ID); err != nil {
			s.log.Warn("finish a pool claim", "project", p.ID, "err", err)
		}
		return p, nil
	}
	s.record(ctx, p, "status", map[string]any{"status": p.Status})
	s.provisionLater(p.ID)
	return p, nil
}

// Get returns the owner's project; anyone else's is ErrNotFound.
func (s *Service) Get(ctx context.Context, owner, id uuid.UUID) (db.Project, error) {
	p, err := s.q.GetProjectForOwner(ctx, db.GetProjectForOwnerParams{ID: id, OwnerID: owner})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Project{}, ErrNotFound
	}
	return p, err
}

// GetBySlug finds a project by its preview host name, for the preview proxy.
func (s *Service) GetBySlug(ctx context.Context, slug string) (db.Project, error) {
	p, err := s.q.GetProjectBySlug(ctx, slug)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Project{}, ErrNotFound
	}
	return p, err
}

// Cursor marks where the next page of a list starts.
type Cursor struct {
	CreatedAt time.Time `json:"t"`
	ID        uuid.UUID `json:"id"`
}

// List returns the owner's projects, newest first, limit at a time.
func (s *Service) List(ctx context.Context, owner uuid.UUID, limit int, after *Cursor) ([]db.Project, error) {
	arg := db.ListProjectsByOwnerParams{OwnerID: owner, MaxRows: int32(limit)}
	if after != nil {
		arg.BeforeCreated, arg.BeforeID = &after.CreatedAt, &after.ID
	}
	return s.q.ListProjectsByOwner(ctx, arg)
}

// Rename changes a project's name; its slug, and so its preview address, stay.
func (s *Service) Rename(ctx context.Context, owner, id uuid.UUID, name string) (db.Project, error) {
	name, err := cleanName(name)
	if err != nil {
		return db.Project{}, err
	}
	p, err := s.q.RenameProject(ctx, db.RenameProjectParams{ID: id, OwnerID: owner, Name: name})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Project{}, ErrNotFound
	}
	if err == nil {
		s.record(ctx, p, "renamed", map[string]any{"name": p.Name})
	}
	return p, err
}

// Start brings a stopped, hibernated or failed project back. It is the
// owner's explicit start, so it lifts an administrator's stop.
func (s *Service) Start(ctx context.Context, owner, id uuid.UUID) (db.Project, error) {
	cur, err := s.Get(ctx, owner, id)
	if err != nil {
		return db.Project{}, err
	}
	if cur.Status.Live() {
		return cur, nil // already running or starting: nothing to do
	}
	p, err := s.startWithinLimits(ctx, id, true, db.ProjectStatusStopped, db.ProjectStatusHibernated, db.ProjectStatusError)
	if errors.Is(err, ErrBusy) {
		if cur, gerr := s.Get(ctx, owner, id); gerr == nil && cur.Status.Live() {
			return cur, nil // started meanwhile by another request
		}
	}
	if err != nil {
		return db.Project{}, err
	}
	s.provisionLater(p.ID)
	return p, nil
}

// Restart stops and starts a project, whatever it was doing.
func (s *Service) Restart(ctx context.Context, owner, id uuid.UUID) (db.Project, error) {
	if _, err := s.Get(ctx, owner, id); err != nil {
		return db.Project{}, err
	}
	unlock := s.lockContainer(id)
	p, err := s.startWithinLimits(ctx, id, true, db.ProjectStatusActive, db.ProjectStatusInitializing, db.ProjectStatusStopped, db.ProjectStatusHibernated, db.ProjectStatusError)
	if err != nil {
		unlock()
		return db.Project{}, err
	}
	if err := s.rt.Stop(ctx, id.String()); err != nil {
		s.log.Warn("stop container for restart", "project", id, "err", err)
	}
	unlock()
	s.provisionLater(p.ID)
	return p, nil
}

// Wake starts a hibernated or stopped project for a preview or editor
// request. It returns at once; the project turns active when it serves.
// It counts against the owner's running limit and never lifts an
// administrator's stop; such refusals are errors Refused recognises.
func (s *Service) Wake(ctx context.Context, id uuid.UUID) error {
	_, err := s.restartFrom(ctx, id, db.ProjectStatusHibernated, db.ProjectStatusStopped)
	if errors.Is(err, ErrBusy) {
		return nil // already waking, or active
	}
	return err
}

// restartFrom starts a project again without lifting an administrator's
// stop: wakes, revivals and reconcile.
func (s *Service) restartFrom(ctx context.Context, id uuid.UUID, from ...db.ProjectStatus) (db.Project, error) {
	p, err := s.startWithinLimits(ctx, id, false, from...)
	if err != nil {
		return db.Project{}, err
	}
	s.provisionLater(p.ID)
	return p, nil
}

// Stop stops the project's container; its files stay.
func (s *Service) Stop(ctx context.Context, owner, id uuid.UUID) (db.Project, error) {
	if _, err := s.Get(ctx, owner, id); err != nil {
		return db.Project{}, err
	}
	return s.stopTo(ctx, id, db.ProjectStatusStopped, "", db.ProjectStatusInitializing, db.ProjectStatusActive, db.ProjectStatusError, db.ProjectStatusHibernated)
}

// Hibernate stops an idle active project; the next request wakes it.
func (s *Service) Hibernate(ctx context.Context, id uuid.UUID) error {
	_, err := s.stopTo(ctx, id, db.ProjectStatusHibernated, "", db.ProjectStatusActive)
	return err
}

// stopTo moves a project from one of from to a state without a running
// container (stopped, hibernated, error) and stops the container, under
// the container lock: a start that follows waits for this stop instead of
// having its fresh dev server killed by it. A failed container stop is
// logged; the project's state has moved either way.
func (s *Service) stopTo(ctx context.Context, id uuid.UUID, to db.ProjectStatus, reason string, from ...db.ProjectStatus) (db.Project, error) {
	defer s.lockContainer(id)()
	p, err := s.transition(ctx, id, to, reason, from...)
	if err != nil {
		return db.Project{}, err
	}
	if err := s.rt.Stop(ctx, id.String()); err != nil {
		s.log.Warn("stop container", "project", id, "err", err)
	}
	return p, nil
}

// Delete removes the container, its network, the files and the rows. It is
// safe to repeat: a delete that failed half-way finishes on the next call
// (or at the next reconcile).
func (s *Service) Delete(ctx context.Context, owner, id uuid.UUID) error {
	p, err := s.Get(ctx, owner, id)
	if err != nil {
		return err
	}
	if p.Status != db.ProjectStatusDeleting {
		if _, err := s.transition(ctx, id, db.ProjectStatusDeleting, "",
			db.ProjectStatusInitializing, db.ProjectStatusActive, db.ProjectStatusHibernated, db.ProjectStatusStopped, db.ProjectStatusError); err != nil && !errors.Is(err, ErrBusy) {
			return err
		}
	}
	return s.finishDelete(ctx, p)
}

func (s *Service) finishDelete(ctx context.Context, p db.Project) error {
	if err := s.rt.Remove(ctx, p.ID.String()); err != nil {
		return fmt.Errorf("remove the container of %s: %w", p.Slug, err)
	}
	if err := os.RemoveAll(s.dir(p.ID)); err != nil {
		return fmt.Errorf("remove the files of %s: %w", p.Slug, err)
	}
	if err := os.RemoveAll(s.checkpointDir(p.ID)); err != nil {
		return fmt.Errorf("remove the checkpoints of %s: %w", p.Slug, err)
	}
	if err := s.q.DeleteProjectRow(ctx, p.ID); err != nil {
		return err
	}
	s.forgetUsage(p.ID)
	s.containerLocks.Delete(p.ID)
	s.bus.Publish(ctx, userTopic(p.OwnerID))
	return nil
}

// transition moves a project from one of from to `to` in one guarded
// statement and records the change; ErrBusy when it was in another state.
func (s *Service) transition(ctx context.Context, id uuid.UUID, to db.ProjectStatus, reason string, from ...db.ProjectStatus) (db.Project, error) {
	p, err := s.q.TransitionProject(ctx, db.TransitionProjectParams{ID: id, ToStatus: to, Reason: reason, FromStatuses: statusNames(from...)})
	return s.settle(ctx, id, p, err)
}

// settle takes the answer of a status change guarded by the state it
// leaves: no row is ErrNotFound (no such project) or ErrBusy (it was in
// another state); a change is recorded as a status event.
func (s *Service) settle(ctx context.Context, id uuid.UUID, p db.Project, err error) (db.Project, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.q.GetProject(ctx, id); errors.Is(err, pgx.ErrNoRows) {
			return db.Project{}, ErrNotFound
		}
		return db.Project{}, ErrBusy
	}
	if err != nil {
		return db.Project{}, err
	}
	data := map[string]any{"status": p.Status}
	if p.StatusReason != "" {
		data["reason"] = p.StatusReason
	}
	s.record(ctx, p, "status", data)
	return p, nil
}

// record appends an event to the project's log and wakes its streams.
func (s *Service) record(ctx context.Context, p db.Project, kind string, data map[string]any) {
	b, _ := json.Marshal(data)
	if _, err := s.q.AddProjectEvent(ctx, db.AddProjectEventParams{ProjectID: p.ID, Kind: kind, Data: b}); err != nil {
		s.log.Warn("record project event", "project", p.ID, "err", err)
	}
	s.bus.Publish(ctx, ProjectTopic(p.ID), userTopic(p.OwnerID))
}

// ProjectTopic is the events topic of one project.
func ProjectTopic(id uuid.UUID) string { return "project:" + id.String() }

func userTopic(id uuid.UUID) string { return "user:" + id.String() }

// UserTopic is the events topic of all of a user's projects.
func UserTopic(id uuid.UUID) string { return userTopic(id) }

// eventsAfter returns the project's events with ids above after, oldest first.
func (s *Service) eventsAfter(ctx context.Context, id uuid.UUID, after int64) ([]db.ProjectEvent, error) {
	return s.q.ListProjectEventsAfter(ctx, db.ListProjectEventsAfterParams{ProjectID: id, ID: after})
}

// logs follows the dev server's output.
func (s *Service) logs(ctx context.Context, id uuid.UUID, tail int) (io.ReadCloser, error) {
	rc, err := s.rt.Logs(ctx, id.String(), tail, true)
	if err != nil {
		return nil, err
	}
	return s.masked(ctx, id, rc), nil
}

// UsePreviewLink records the first use of a signed preview link; false
// means it was used before.
func (s *Service) UsePreviewLink(ctx context.Context, nonce string) (bool, error) {
	n, err := s.q.UsePreviewLink(ctx, nonce)
	if err != nil {
		return false, err
	}
	if err := s.q.PrunePreviewLinkUses(ctx); err != nil {
		s.log.Warn("prune preview links", "err", err)
	}
	return n == 1, nil
}

// setShareToken switches a project's public link on (a new random token)
// or off (empty).
func (s *Service) setShareToken(ctx context.Context, owner, id uuid.UUID, on bool) (db.Project, error) {
	token := ""
	if on {
		token = strings.ToLower(rand.Text())
	}
	p, err := s.q.SetProjectShareToken(ctx, db.SetProjectShareTokenParams{ID: id, OwnerID: owner, ShareToken: token})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Project{}, ErrNotFound
	}
	return p, err
}

// Revive starts again a project whose dev server stopped answering: an
// active one whose container died, or one that went to sleep meanwhile.
// One stopped meanwhile stays stopped: that is its owner's wish.
func (s *Service) Revive(ctx context.Context, id uuid.UUID) {
	_, err := s.restartFrom(ctx, id, db.ProjectStatusActive, db.ProjectStatusHibernated)
	s.settleRefused(ctx, id, err)
	if err != nil && !errors.Is(err, ErrBusy) {
		s.log.Warn("revive project", "project", id, "err", err)
	}
}

// ListAll lists every user's projects with their owners, for administrators.
func (s *Service) ListAll(ctx context.Context, limit int) ([]db.ListAllProjectsRow, error) {
	return s.q.ListAllProjects(ctx, int32(limit))
}

// statusNames spells statuses as the text[] the queries compare with.
func statusNames(statuses ...db.ProjectStatus) []string {
	names := make([]string, len(statuses))
	for i, st := range statuses {
		names[i] = string(st)
	}
	return names
}
