package projects

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/containers"
	"studio/db"
	"studio/portable"
	"studio/templates"
)

// Bounds on a build and on what a publish keeps.
const (
	BuildTimeout = 10 * time.Minute
	MaxSiteSize  = 50 << 20
	MaxSiteFiles = 5000
)

// Errors about builds and sites a person can act on.
var (
	ErrNoBuildScript = errors.New(`the project's package.json has no "build" script`)
	ErrBuilding      = errors.New("a build of this project is already running")
	ErrNotRunning    = errors.New("the project is not running; start it, then build")
	ErrNoBuildOutput = errors.New("there is no build output yet (dist/, build/ or out/ with an index.html); run a build first")
	ErrSiteTooLarge  = fmt.Errorf("the build output is over %d MiB or %d files, more than studio publishes", MaxSiteSize>>20, MaxSiteFiles)
	ErrNoSite        = errors.New("the project is not published")
)

// buildOutputDirs are where build scripts put their result, in the order
// they are looked for.
var buildOutputDirs = []string{"dist", "build", "out"}

// BuildResult is how a build ended.
type BuildResult struct {
	ExitCode int           `json:"exit_code"`
	TimedOut bool          `json:"timed_out"`
	Duration time.Duration `json:"-"`
	Output   string        `json:"output_dir,omitempty"` // the folder the build made, when it succeeded
}

// Build runs the project's build script in its container and hands each
// line it prints, with the project's variables masked, to line.
func (h *Handle) Build(ctx context.Context, line func(string)) (BuildResult, error) {
	if h.p.Status != db.ProjectStatusActive {
		return BuildResult{}, ErrNotRunning
	}
	argv, err := buildArgv(h.Dir())
	if err != nil {
		return BuildResult{}, err
	}
	st, ok := h.s.rt.(containers.Streamer)
	if !ok {
		return BuildResult{}, errors.New("this runtime cannot stream a command's output")
	}
	if _, busy := h.s.building.LoadOrStore(h.p.ID, true); busy {
		return BuildResult{}, ErrBuilding
	}
	defer h.s.building.Delete(h.p.ID)
	if err := h.s.Resume(ctx, h.p.ID); err != nil {
		return BuildResult{}, err
	}
	env, err := h.s.env(ctx, h.p.ID)
	if err != nil {
		return BuildResult{}, err
	}
	lw := &lineWriter{mask: newMasker(env), line: line}
	line("$ " + strings.Join(argv, " "))
	res, err := st.ExecStream(ctx, h.p.ID.String(), argv, BuildTimeout, lw)
	lw.flush()
	if errors.Is(err, containers.ErrNotRunning) || errors.Is(err, containers.ErrNotFound) {
		return BuildResult{}, ErrNotRunning
	} else if err != nil {
		return BuildResult{}, fmt.Errorf("build project %s: %w", h.p.ID, err)
	}
	out := BuildResult{ExitCode: res.ExitCode, TimedOut: res.TimedOut, Duration: res.Duration}
	if res.ExitCode == 0 {
		if dir, err := h.outputDir(); err == nil {
			out.Output = dir
		}
	}
	return out, nil
}

// buildArgv runs the build script through npm. Vite's default config
// loader writes into node_modules, which is read-only in a project
// container, so a plain "vite build" is given the loader that does not.
func buildArgv(dir string) ([]string, error) {
	b, err := readPackageJSONFile(dir)
	if err != nil {
		return nil, ErrNoBuildScript
	}
	var pkg struct {
		Scripts map[string]string `json:"scripts"`
	}
	if json.Unmarshal(b, &pkg) != nil || strings.TrimSpace(pkg.Scripts["build"]) == "" {
		return nil, ErrNoBuildScript
	}
	argv := []string{"npm", "run", "build"}
	script := strings.Fields(pkg.Scripts["build"])
	if len(script) >= 2 && script[0] == "vite" && script[1] == "build" && !strings.Contains(pkg.Scripts["build"], "--configLoader") && !strings.ContainsAny(pkg.Scripts["build"], "&|;") {
		argv = append(argv, "--", "--configLoader", "runner")
	}
	return argv, nil
}

func readPackageJSONFile(dir string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := templates.OpenRegular(root, "package.json")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// lineWriter cuts output into lines for line, masking each.
type lineWriter struct {
	mask *masker
	line func(string)
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a line without end: send what there is
		w.flush()
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *lineWriter) emit(b []byte) {
	b = bytes.TrimSuffix(b, []byte("\r"))
	if w.mask != nil {
		b = w.mask.mask(b)
	}
	w.line(string(b))
}

// outputDir is the folder the last build made: the first of
// buildOutputDirs that is a real folder holding index.html.
func (h *Handle) outputDir() (string, error) {
	root, err := os.OpenRoot(h.Dir())
	if err != nil {
		return "", ErrNoBuildOutput
	}
	defer root.Close()
	for _, d := range buildOutputDirs {
		if fi, err := root.Lstat(d); err != nil || !fi.IsDir() {
			continue
		}
		if fi, err := root.Lstat(d + "/index.html"); err == nil && fi.Mode().IsRegular() {
			return d, nil
		}
	}
	return "", ErrNoBuildOutput
}

// openOutput opens the build output folder; nothing in it leads out.
func (h *Handle) openOutput() (*os.Root, string, error) {
	dir, err := h.outputDir()
	if err != nil {
		return nil, "", err
	}
	root, err := os.OpenRoot(h.Dir())
	if err != nil {
		return nil, "", ErrNoBuildOutput
	}
	defer root.Close()
	out, err := root.OpenRoot(dir)
	if err != nil {
		return nil, "", ErrNoBuildOutput
	}
	return out, dir, nil
}

// WriteBuildZip writes the build output as a zip; it returns
// ErrNoBuildOutput before writing anything when there is none.
func (h *Handle) WriteBuildZip(w func() io.Writer) error {
	root, _, err := h.openOutput()
	if err != nil {
		return err
	}
	defer root.Close()
	return portable.WriteRoot(w(), root)
}

// Site is a published build.
type Site struct {
	Public      bool      `json:"public"`
	Files       int       `json:"files"`
	Size        int64     `json:"size"`
	PublishedAt time.Time `json:"published_at"`
}

func toSite(r db.ProjectSite) Site {
	return Site{Public: r.Public, Files: int(r.Files), Size: r.Size, PublishedAt: r.PublishedAt}
}

// Publish copies the build output into the database, replacing what was
// published before; the site is then served whatever the dev server does.
func (h *Handle) Publish(ctx context.Context, public bool) (Site, error) {
	root, _, err := h.openOutput()
	if err != nil {
		return Site{}, err
	}
	defer root.Close()
	files, size, err := readSiteFiles(root)
	if err != nil {
		return Site{}, err
	}
	var site db.ProjectSite
	err = db.InTx(ctx, h.s.pool, func(q *db.Queries) error {
		var err error
		site, err = q.ReplaceProjectSite(ctx, db.ReplaceProjectSiteParams{ProjectID: h.p.ID, Public: public, Files: int32(len(files)), Size: size})
		if err != nil {
			return err
		}
		if err := q.DeleteProjectSiteFiles(ctx, h.p.ID); err != nil {
			return err
		}
		for p, content := range files {
			if err := q.AddProjectSiteFile(ctx, db.AddProjectSiteFileParams{ProjectID: h.p.ID, Path: p, Content: content}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Site{}, fmt.Errorf("publish project %s: %w", h.p.ID, err)
	}
	return toSite(site), nil
}

// readSiteFiles reads every regular file under root, within the bounds.
func readSiteFiles(root *os.Root) (map[string][]byte, int64, error) {
	files := map[string][]byte{}
	var size int64
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		if len(files) >= MaxSiteFiles {
			return ErrSiteTooLarge
		}
		f, err := templates.OpenRegular(root, p)
		if err != nil {
			return nil // gone, or no longer a regular file
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, MaxSiteSize-size+1))
		if err != nil {
			return err
		}
		size += int64(len(b))
		if size > MaxSiteSize {
			return ErrSiteTooLarge
		}
		files[p] = b
		return nil
	})
	return files, size, err
}

// Site is the project's published site, or ErrNoSite.
func (h *Handle) Site(ctx context.Context) (Site, error) { return h.s.SiteOf(ctx, h.p.ID) }

// SetSitePublic makes the published site public or owner-only.
func (h *Handle) SetSitePublic(ctx context.Context, public bool) (Site, error) {
	r, err := h.s.q.SetProjectSitePublic(ctx, db.SetProjectSitePublicParams{ProjectID: h.p.ID, Public: public})
	if errors.Is(err, pgx.ErrNoRows) {
		return Site{}, ErrNoSite
	} else if err != nil {
		return Site{}, fmt.Errorf("site of project %s: %w", h.p.ID, err)
	}
	return toSite(r), nil
}

// Unpublish removes the published site.
func (h *Handle) Unpublish(ctx context.Context) error {
	n, err := h.s.q.DeleteProjectSite(ctx, h.p.ID)
	if err != nil {
		return fmt.Errorf("unpublish project %s: %w", h.p.ID, err)
	}
	if n == 0 {
		return ErrNoSite
	}
	return nil
}

// SiteOf is a project's published site, for the site server, which
// decides itself who may read it.
func (s *Service) SiteOf(ctx context.Context, id uuid.UUID) (Site, error) {
	r, err := s.q.GetProjectSite(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Site{}, ErrNoSite
	} else if err != nil {
		return Site{}, fmt.Errorf("site of project %s: %w", id, err)
	}
	return toSite(r), nil
}

// SiteFile is one file of a project's published site, or fs.ErrNotExist.
func (s *Service) SiteFile(ctx context.Context, id uuid.UUID, path string) ([]byte, error) {
	b, err := s.q.GetProjectSiteFile(ctx, db.GetProjectSiteFileParams{ProjectID: id, Path: path})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	return b, err
}
