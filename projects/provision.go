package projects

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/containers"
	"studio/containers/image"
	"studio/db"
	"studio/templates"
)

// provisionLater sets a project up in the background, once per replica.
func (s *Service) provisionLater(id uuid.UUID) {
	s.mu.Lock()
	if s.active[id] {
		s.mu.Unlock()
		return
	}
	s.active[id] = true
	s.mu.Unlock()
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.active, id)
			s.mu.Unlock()
		}()
		// A start asked for while this one ran (a restart, say) moved
		// updated_at on: go round again for it.
		var handled time.Time
		for s.bg.Err() == nil {
			p, err := s.q.GetProject(s.bg, id)
			if err != nil || p.Status != db.ProjectStatusInitializing || p.UpdatedAt.Equal(handled) {
				return
			}
			handled = p.UpdatedAt
			if err := s.provision(s.bg, p); err != nil && s.bg.Err() == nil {
				s.log.Warn("project did not start", "project", id, "err", err)
			}
		}
	})
}

// provision takes an initializing project to active: files (first time
// only), container, dev server answering. Progress is recorded as events;
// a failure moves the project to error with the reason.
func (s *Service) provision(ctx context.Context, p db.Project) error {
	id := p.ID
	fail := func(err error) error {
		reason := err.Error()
		var exit *containers.ExitError
		if errors.As(err, &exit) {
			reason = exit.Exit.String()
		}
		ctx := context.WithoutCancel(ctx)
		failed, ferr := s.q.FailProject(ctx, db.FailProjectParams{ID: id, Reason: reason, Started: p.UpdatedAt})
		if ferr != nil {
			return err // stopped, deleted or restarted meanwhile: not ours to mark
		}
		s.record(ctx, failed, "status", map[string]any{"status": db.ProjectStatusError, "reason": reason})
		// Keep a container that never got ready, stopped, so its logs
		// can be read; Start or Restart tries again.
		_ = s.rt.Stop(ctx, id.String())
		return err
	}
	dir := s.dir(id)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		s.progress(ctx, p, "files", "Copying the template's files")
		if err := s.copyFiles(ctx, p); err != nil {
			return fail(err)
		}
	}
	s.progress(ctx, p, "container", "Starting the container")
	env, err := s.env(ctx, id)
	if err != nil {
		return fail(err)
	}
	spec := containers.Spec{ProjectID: id.String(), Dir: dir, Slug: p.Slug, Env: env}
	st, err := s.startContainer(ctx, spec)
	if err != nil {
		return fail(err)
	}
	if needsInstall(dir) {
		if err := s.installDependencies(ctx, p); err != nil {
			return fail(err)
		}
		// The dev server chose how to serve before the dependencies were
		// there: start it again.
		if err := s.rt.Stop(ctx, id.String()); err != nil {
			return fail(err)
		}
		if st, err = s.startContainer(ctx, spec); err != nil {
			return fail(err)
		}
	}
	s.progress(ctx, p, "server", "Waiting for the dev server")
	readyCtx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout)
	defer cancel()
	endpoint, err := s.rt.WaitReady(readyCtx, id.String(), "/", nil)
	if err != nil {
		if readyCtx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("the dev server did not answer within %s: %w", s.opts.ReadyTimeout, err)
		}
		return fail(err)
	}
	_, port, _ := net.SplitHostPort(endpoint)
	hostPort, _ := strconv.Atoi(port)
	active, err := s.q.MarkProjectActive(ctx, db.MarkProjectActiveParams{
		ID: id, ContainerID: st.ContainerID, HostPort: int32(hostPort), Upstream: endpoint, URL: s.opts.URLFor(p.Slug), Started: p.UpdatedAt,
	})
	if err != nil {
		// Stopped or deleted while it started: leave it as the user wants.
		cur, gerr := s.q.GetProject(ctx, id)
		if gerr == nil && (cur.Status == db.ProjectStatusStopped || cur.Status == db.ProjectStatusHibernated || cur.Status == db.ProjectStatusError) {
			_ = s.rt.Stop(ctx, id.String())
		}
		return nil
	}
	s.record(ctx, active, "status", map[string]any{"status": db.ProjectStatusActive, "url": active.URL})
	return nil
}

// startContainer makes and starts the project's container, after any stop
// of it this replica has under way.
func (s *Service) startContainer(ctx context.Context, spec containers.Spec) (containers.Status, error) {
	defer s.lockContainer(uuid.MustParse(spec.ProjectID))()
	st, err := s.rt.Ensure(ctx, spec)
	if err != nil {
		return containers.Status{}, err
	}
	return st, s.rt.Start(ctx, spec.ProjectID)
}

func (s *Service) progress(ctx context.Context, p db.Project, step, message string) {
	if err := s.q.SetProjectProgress(ctx, db.SetProjectProgressParams{ID: p.ID, Progress: message}); err != nil {
		s.log.Warn("project progress", "project", p.ID, "err", err)
	}
	s.record(ctx, p, "progress", map[string]any{"step": step, "message": message})
}

// copyFiles writes the project's first files — a built-in template's, or
// a version of a user's template from its bundle — next to their final
// place and renames the folder in, so a crash never leaves a half-copied
// project.
func (s *Service) copyFiles(ctx context.Context, p db.Project) error {
	fill := func(tmp string) error { return image.CopyTemplate(p.Template, tmp) }
	if p.TemplateItem.Valid {
		// Whether the owner may use the template was checked when the
		// project was made; like an install, the project keeps the version
		// it was made from even if the template is hidden or made private
		// before its first start finishes.
		row, err := s.q.GetTemplateBundle(ctx, db.GetTemplateBundleParams{TemplateID: p.TemplateItem.String, Version: p.TemplateVersion.Int32})
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("the template %s (version %d) was deleted before the project was made from it", p.TemplateItem.String, p.TemplateVersion.Int32)
		} else if err != nil {
			return err
		}
		b, err := templates.Read(row.Bundle, templates.StoredLimits)
		if err != nil {
			return fmt.Errorf("the template's bundle: %w", err)
		}
		fill = func(tmp string) error {
			if err := b.Extract(tmp); err != nil {
				return err
			}
			return linkIfSame(p.Template, tmp, b.Files["package.json"])
		}
	}
	if err := s.fillDir(p.ID, fill); err != nil {
		return fmt.Errorf("copy the template: %w", err)
	}
	return nil
}

// fillDir makes a project's folder: fill writes it next to its final
// place, it is handed to the container user and renamed in, so a crash
// never leaves a half-written project.
func (s *Service) fillDir(id uuid.UUID, fill func(tmp string) error) error {
	dir := s.dir(id)
	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	err := fill(tmp)
	if err == nil {
		err = image.MakeWritable(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
	}
	return err
}

// linkIfSame links the runtime image's dependencies of base into dir when
// packageJSON asks for exactly those.
func linkIfSame(base, dir string, packageJSON []byte) error {
	if packageJSON == nil || !image.SameDependencies(base, packageJSON) {
		return nil
	}
	return image.LinkDependencies(base, dir)
}

// installedMark, inside node_modules, says studio installed the project's
// dependencies to the end.
const installedMark = "node_modules/.studio-installed"

// needsInstall says whether a project's package.json asks for
// dependencies that are not installed: no node_modules linked to the
// runtime image's, and no complete install of its own. The folder is the
// project's, hostile: it is read through an os.Root, without following a
// link out of it, and package.json only if it is a small regular file.
func needsInstall(dir string) bool {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return false
	}
	defer root.Close()
	deps, err := image.Dependencies(readPackageJSON(root))
	if err != nil || len(deps) == 0 {
		return false
	}
	if fi, err := root.Lstat("node_modules"); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return false
	}
	fi, err := root.Lstat(installedMark)
	return err != nil || !fi.Mode().IsRegular()
}

// maxPackageJSON bounds the package.json studio reads.
const maxPackageJSON = 1 << 20

// readPackageJSON is the project's package.json when it is a regular file
// of at most maxPackageJSON bytes, else nil.
func readPackageJSON(root *os.Root) []byte {
	fi, err := root.Lstat("package.json")
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxPackageJSON {
		return nil
	}
	b, err := readLimited(root, "package.json", maxPackageJSON)
	if err != nil {
		return nil
	}
	return b
}

// installTimeout bounds one npm install.
const installTimeout = 10 * time.Minute

// installDependencies runs npm install in the project's container, as the
// project user, reporting the time it has taken on the project's card.
func (s *Service) installDependencies(ctx context.Context, p db.Project) error {
	start := time.Now()
	s.progress(ctx, p, "install", "Installing dependencies (npm install)")
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.progress(ctx, p, "install", fmt.Sprintf("Installing dependencies (npm install, %s)", time.Since(start).Round(time.Second)))
			}
		}
	}()
	res, err := s.rt.Exec(ctx, p.ID.String(), []string{"env", "npm_config_cache=/tmp/.npm", "npm", "install",
		"--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error"}, installTimeout, 64<<10)
	if err != nil {
		return fmt.Errorf("install the dependencies: %w", err)
	}
	if res.TimedOut {
		return fmt.Errorf("npm install did not finish within %s", installTimeout)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("npm install failed (exit code %d):\n%s", res.ExitCode, lastLines(res.Output, 20))
	}
	root, err := s.openRoot(p.ID)
	if err != nil {
		return fmt.Errorf("install the dependencies: %w", err)
	}
	defer root.Close()
	if err := markInstalled(root); err != nil {
		return fmt.Errorf("install the dependencies: %w", err)
	}
	s.progress(ctx, p, "install", fmt.Sprintf("Dependencies installed in %s", time.Since(start).Round(time.Second)))
	return nil
}

// markInstalled records a finished install in the project's folder. The
// folder is the project's: the mark is written through an os.Root and
// never through a link the install may have left in its place.
func markInstalled(root *os.Root) error {
	if fi, err := root.Lstat(installedMark); err == nil && !fi.Mode().IsRegular() {
		if err := root.Remove(installedMark); err != nil {
			return err
		}
	}
	f, err := root.OpenFile(installedMark, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(time.Now().UTC().Format(time.RFC3339) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && os.Geteuid() == 0 {
		err = root.Lchown(installedMark, image.ProjectUID, image.ProjectGID)
	}
	return err
}

// lastLines is the end of a command's output, at most n lines.
func lastLines(out string, n int) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
