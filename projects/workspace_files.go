package projects

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"studio/containers/image"
	"studio/db"
)

// Errors about files; each message says what is wrong with the request.
var (
	ErrBadPath      = errors.New("bad path")
	ErrFileNotFound = errors.New("there is no such file")
	ErrTooLarge     = errors.New("the file is larger than the limit")
	ErrPrecondition = errors.New("the file changed since it was read")
	ErrExists       = errors.New("a file already exists there")
	ErrIsDir        = errors.New("that is a folder")
)

// PathError is a refused path with the reason.
type PathError struct{ Reason string }

func (e *PathError) Error() string        { return "bad path: " + e.Reason }
func (e *PathError) Is(target error) bool { return target == ErrBadPath }

// hidden names are studio's or the toolchain's, never the user's: the tree
// leaves them out and writes refuse them. node_modules is a link into the
// read-only runtime image.
var hidden = map[string]bool{"node_modules": true, ".git": true, ".studio": true, "dist": true, "build": true, ".vite": true}

const (
	maxPathLen = 1024
	maxNameLen = 255
)

// CleanPath checks a project-relative, /-separated path and returns it
// clean. It refuses anything that could leave the project or reach
// studio's internals; the os.Root every access goes through refuses
// symlinks that point out as a second line.
func CleanPath(p string) (string, error) {
	bad := func(reason string) (string, error) { return "", &PathError{reason} }
	switch {
	case p == "":
		return bad("the path is empty")
	case len(p) > maxPathLen:
		return bad(fmt.Sprintf("the path is longer than %d bytes", maxPathLen))
	case !utf8.ValidString(p):
		return bad("the path is not valid UTF-8")
	case strings.ContainsAny(p, "\x00\\"):
		return bad("the path contains a NUL byte or a backslash")
	case strings.HasPrefix(p, "/"):
		return bad("the path must be relative to the project")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return bad("the path contains a control character")
		}
	}
	parts := strings.Split(p, "/")
	for i, seg := range parts {
		switch {
		case seg == "" && i == len(parts)-1 && i > 0: // a trailing slash
		case seg == "", seg == ".":
			return bad("the path has an empty or '.' segment")
		case seg == "..":
			return bad("the path leaves the project")
		case len(seg) > maxNameLen:
			return bad(fmt.Sprintf("a name is longer than %d bytes", maxNameLen))
		case i == 0 && hidden[seg]:
			return bad(seg + " is managed by Studio")
		}
	}
	return strings.TrimSuffix(p, "/"), nil
}

// FileInfo is one entry of a project's tree.
type FileInfo struct {
	Path       string    `json:"path"`
	Type       string    `json:"type"` // "file" or "dir"
	Size       int64     `json:"size"`
	ModifiedAt time.Time `json:"modified_at"`
}

func (s *Service) openRoot(id uuid.UUID) (*os.Root, error) {
	root, err := os.OpenRoot(s.dir(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("the project's files are not there yet: %w", ErrFileNotFound)
	}
	return root, err
}

// openLocked opens the project's folder for a change of the file at p (a
// clean path) and holds p's lock; release undoes both.
func (s *Service) openLocked(id uuid.UUID, p string) (root *os.Root, release func(), err error) {
	root, err = s.openRoot(id)
	if err != nil {
		return nil, nil, err
	}
	unlock := lockFile(id, p)
	return root, func() { unlock(); root.Close() }, nil
}

// tree lists every file and folder of a project, recursively, sorted,
// without node_modules, .git, studio's cache and build output.
func (s *Service) tree(id uuid.UUID) ([]FileInfo, error) {
	root, err := s.openRoot(id)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var out []FileInfo
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if !strings.Contains(p, "/") && hidden[d.Name()] {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // links are not followed or shown
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed while walking
		}
		e := FileInfo{Path: p, Type: "file", Size: fi.Size(), ModifiedAt: fi.ModTime().UTC()}
		if d.IsDir() {
			e.Type, e.Size = "dir", 0
		}
		out = append(out, e)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// listDir lists one folder of a project ("" is the top), folders first,
// then files, each by name; the same names are left out as in Tree.
func (s *Service) listDir(id uuid.UUID, dir string) ([]FileInfo, error) {
	name := "."
	if dir != "" {
		clean, err := CleanPath(dir)
		if err != nil {
			return nil, err
		}
		dir, name = clean, clean
	}
	root, err := s.openRoot(id)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	entries, err := fs.ReadDir(root.FS(), name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, ErrFileNotFound
	case errors.Is(err, syscall.ENOTDIR):
		return nil, &PathError{"that is a file, not a folder"}
	case err != nil:
		return nil, err
	}
	out := make([]FileInfo, 0, len(entries))
	for _, d := range entries {
		if (dir == "" && hidden[d.Name()]) || d.Type()&fs.ModeSymlink != 0 {
			continue
		}
		fi, err := d.Info()
		if err != nil {
			continue // removed while listing
		}
		e := FileInfo{Path: path.Join(dir, d.Name()), Type: "file", Size: fi.Size(), ModifiedAt: fi.ModTime().UTC()}
		if d.IsDir() {
			e.Type, e.Size = "dir", 0
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type == "dir"
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// ETag is the strong validator of a file's content.
func ETag(content []byte) string {
	sum := sha256.Sum256(content)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// readFile returns a file's content and ETag.
func (s *Service) readFile(id uuid.UUID, p string) ([]byte, string, error) {
	p, err := CleanPath(p)
	if err != nil {
		return nil, "", err
	}
	root, err := s.openRoot(id)
	if err != nil {
		return nil, "", err
	}
	defer root.Close()
	b, err := readLimited(root, p, s.maxFileSize())
	if err != nil {
		return nil, "", err
	}
	return b, ETag(b), nil
}

func readLimited(root *os.Root, p string, limit int64) ([]byte, error) {
	f, err := root.Open(p)
	if err != nil {
		return nil, fileErr(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, ErrIsDir
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, ErrTooLarge
	}
	return b, nil
}

// fileLocks serialise writes to one file, so If-Match and the rename that
// follows are one step. A file maps to one of a fixed set of locks (two
// files may share one; that only costs a short wait), so the set never
// grows. Two replicas writing one file at the same instant are not
// serialised; the last rename wins whole, never torn.
var fileLocks [256]sync.Mutex

func lockFile(id uuid.UUID, p string) func() {
	h := fnv.New32a()
	h.Write(id[:])
	h.Write([]byte(p))
	mu := &fileLocks[h.Sum32()%uint32(len(fileLocks))]
	mu.Lock()
	return mu.Unlock
}

// writeFile replaces a file atomically (a temporary file renamed over it,
// so a crash leaves the old or the new content, never half). With ifMatch,
// it refuses when the file changed since that ETag was read.
func (s *Service) writeFile(ctx context.Context, proj db.Project, p string, content []byte, ifMatch string) (string, error) {
	id := proj.ID
	p, err := CleanPath(p)
	if err != nil {
		return "", err
	}
	if int64(len(content)) > s.maxFileSize() {
		return "", ErrTooLarge
	}
	root, release, err := s.openLocked(id, p)
	if err != nil {
		return "", err
	}
	defer release()
	if ifMatch != "" && ifMatch != "*" {
		cur, err := readLimited(root, p, s.maxFileSize())
		switch {
		case errors.Is(err, ErrFileNotFound):
			return "", ErrPrecondition
		case err != nil && !errors.Is(err, ErrTooLarge):
			return "", err
		case ETag(cur) != ifMatch:
			return "", ErrPrecondition
		}
	}
	var oldSize int64
	if fi, err := root.Lstat(p); err == nil {
		oldSize = footprint(fi)
	}
	undo, err := s.reserveDisk(id, oldSize, int64(len(content)))
	if err != nil {
		return "", err
	}
	if err := mkdirAll(root, path.Dir(p)); err != nil {
		undo()
		return "", err
	}
	if err := writeAtomic(root, p, content); err != nil {
		undo()
		return "", err
	}
	s.fileChanged(ctx, proj, p)
	return ETag(content), nil
}

// createFile makes a new, empty file and the folders on its way; it never
// replaces a file or folder that is already there.
func (s *Service) createFile(ctx context.Context, proj db.Project, p string) error {
	id := proj.ID
	p, err := CleanPath(p)
	if err != nil {
		return err
	}
	root, release, err := s.openLocked(id, p)
	if err != nil {
		return err
	}
	defer release()
	if _, err := root.Lstat(p); err == nil {
		return ErrExists
	}
	// An empty file takes no room to count against the quota.
	if err := mkdirAll(root, path.Dir(p)); err != nil {
		return err
	}
	if err := writeAtomic(root, p, nil); err != nil {
		return err
	}
	s.fileChanged(ctx, proj, p)
	return nil
}

func writeAtomic(root *os.Root, p string, content []byte) error {
	tmp := path.Join(path.Dir(p), ".studio-tmp-"+uuid.NewString()[:8]+"-"+path.Base(p))
	if len(path.Base(tmp)) > maxNameLen {
		tmp = path.Join(path.Dir(p), ".studio-tmp-"+uuid.NewString())
	}
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fileErr(err)
	}
	_, err = f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = chownProject(root, tmp)
	}
	if err == nil {
		if fi, serr := root.Lstat(p); serr == nil && fi.IsDir() {
			err = ErrIsDir
		}
	}
	if err == nil {
		err = root.Rename(tmp, p)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return fileErr(err)
	}
	return nil
}

func mkdirAll(root *os.Root, dir string) error {
	if dir == "." {
		return nil
	}
	if err := mkdirAll(root, path.Dir(dir)); err != nil {
		return err
	}
	err := root.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		fi, serr := root.Stat(dir)
		if serr != nil {
			return fileErr(serr)
		}
		if !fi.IsDir() {
			return &PathError{dir + " is a file, not a folder"}
		}
		return nil
	}
	if err != nil {
		return fileErr(err)
	}
	return chownProject(root, dir)
}

// chownProject hands a new file to the container's user when studio runs
// as root, so the dev server and the user's commands can change it.
func chownProject(root *os.Root, p string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return root.Lchown(p, image.ProjectUID, image.ProjectGID)
}

// deleteFile removes a file or a folder with everything in it.
func (s *Service) deleteFile(ctx context.Context, proj db.Project, p string) error {
	id := proj.ID
	p, err := CleanPath(p)
	if err != nil {
		return err
	}
	root, release, err := s.openLocked(id, p)
	if err != nil {
		return err
	}
	defer release()
	if _, err := root.Lstat(p); err != nil {
		return fileErr(err)
	}
	err = root.RemoveAll(p)
	s.forgetUsage(id)
	if err != nil {
		return fileErr(err)
	}
	s.fileChanged(ctx, proj, p)
	return nil
}

// moveFile renames a file or folder; it never overwrites.
func (s *Service) moveFile(ctx context.Context, proj db.Project, from, to string) error {
	id := proj.ID
	from, err := CleanPath(from)
	if err != nil {
		return err
	}
	if to, err = CleanPath(to); err != nil {
		return err
	}
	if from == to || strings.HasPrefix(to, from+"/") {
		return &PathError{"a file cannot move into itself"}
	}
	root, release, err := s.openLocked(id, to)
	if err != nil {
		return err
	}
	defer release()
	if _, err := root.Lstat(from); err != nil {
		return fileErr(err)
	}
	if _, err := root.Lstat(to); err == nil {
		return ErrExists
	}
	if err := mkdirAll(root, path.Dir(to)); err != nil {
		return err
	}
	if err := root.Rename(from, to); err != nil {
		return fileErr(err)
	}
	s.fileChanged(ctx, proj, from)
	s.fileChanged(ctx, proj, to)
	return nil
}

// fileChanged tells editors and file trees that a path changed.
func (s *Service) fileChanged(ctx context.Context, p db.Project, path string) {
	s.record(ctx, p, "file_changed", map[string]any{"path": path})
}

func (s *Service) maxFileSize() int64 {
	if s.opts.MaxFileSize > 0 {
		return s.opts.MaxFileSize
	}
	return 5 << 20
}

// fileErr turns file-system errors into the package's errors; os.Root's
// refusal to follow a link out of the project is a bad path.
func fileErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return ErrFileNotFound
	case strings.Contains(err.Error(), "path escapes from parent"):
		return &PathError{"the path leads out of the project"}
	}
	return err
}
