// Package rootfs is a billy.Filesystem held inside one folder by an
// os.Root: every path is resolved by the kernel beneath the folder's open
// descriptor, so a link swapped in by someone else, at any moment, never
// leads a read or a write outside it. A symbolic link is an entry that
// can be read (Readlink) and made (Symlink); following one out of the
// folder fails as if nothing were there.
package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/go-git/go-billy/v5"
)

// FS is a folder opened as a billy.Filesystem. Close releases it.
type FS struct {
	root *os.Root
	name string // the folder's path, for Root and messages only
}

var _ billy.Filesystem = (*FS)(nil)

// Open opens the folder dir.
func Open(dir string) (*FS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &FS{root: root, name: dir}, nil
}

// Close releases the folder.
func (f *FS) Close() error { return f.root.Close() }

// Sub opens the folder name inside f as its own FS. A name that is a
// link or not a folder is refused; the FS holds the folder itself, so a
// later swap of the name does not change what it reads or writes.
func (f *FS) Sub(name string) (*FS, error) {
	fi, err := f.Lstat(name)
	if err != nil {
		return nil, err
	}
	p := filepath.Clean(name)
	if !fi.IsDir() {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOTDIR}
	}
	sub, err := f.root.OpenRoot(p)
	if err != nil {
		return nil, outside(err)
	}
	// What was opened must be what Lstat saw, not a link swapped in
	// between the two.
	if opened, err := sub.Stat("."); err != nil || !os.SameFile(fi, opened) {
		sub.Close()
		return nil, &os.PathError{Op: "open", Path: name, Err: errors.New("the folder changed while it was opened")}
	}
	return &FS{root: sub, name: filepath.Join(f.name, p)}, nil
}

// clean makes name a path inside the folder ("." for the folder itself),
// refusing an absolute one or one that climbs out of it.
func clean(op, name string) (string, error) {
	p := filepath.Clean(name)
	if filepath.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
		return "", &os.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return p, nil
}

// outside words an escape os.Root refused as a missing file: seen from
// inside the folder, nothing is there. go-git then treats it as any
// file that went away.
func outside(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent" {
		return &os.PathError{Op: pe.Op, Path: pe.Path, Err: fs.ErrNotExist}
	}
	return err
}

// mkParent makes the folders holding p, as osfs does for a file it
// creates.
func (f *FS) mkParent(p string) error {
	if dir := filepath.Dir(p); dir != "." {
		return outside(f.root.MkdirAll(dir, 0o755))
	}
	return nil
}

// Create creates or truncates the file name.
func (f *FS) Create(name string) (billy.File, error) {
	return f.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Open opens the file name for reading.
func (f *FS) Open(name string) (billy.File, error) {
	return f.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile opens name with flag and perm's permission bits, making its
// folders first when it is to be created.
func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	p, err := clean("open", name)
	if err != nil {
		return nil, err
	}
	if flag&os.O_CREATE != 0 {
		if err := f.mkParent(p); err != nil {
			return nil, err
		}
	}
	file, err := f.root.OpenFile(p, flag, perm.Perm())
	if err != nil {
		return nil, outside(err)
	}
	return &File{File: file, name: p}, nil
}

// Stat describes name, following a link inside the folder.
func (f *FS) Stat(name string) (os.FileInfo, error) {
	p, err := clean("stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := f.root.Stat(p)
	return fi, outside(err)
}

// Lstat describes name itself, a link included.
func (f *FS) Lstat(name string) (os.FileInfo, error) {
	p, err := clean("lstat", name)
	if err != nil {
		return nil, err
	}
	fi, err := f.root.Lstat(p)
	return fi, outside(err)
}

// Rename moves from to to, making to's folders first.
func (f *FS) Rename(from, to string) error {
	src, err := clean("rename", from)
	if err != nil {
		return err
	}
	dst, err := clean("rename", to)
	if err != nil {
		return err
	}
	if src == "." || dst == "." {
		return &os.PathError{Op: "rename", Path: from, Err: fs.ErrPermission}
	}
	if err := f.mkParent(dst); err != nil {
		return err
	}
	return outside(f.root.Rename(src, dst))
}

// Remove removes the file or empty folder name.
func (f *FS) Remove(name string) error {
	p, err := clean("remove", name)
	if err != nil {
		return err
	}
	if p == "." {
		return &os.PathError{Op: "remove", Path: name, Err: fs.ErrPermission}
	}
	return outside(f.root.Remove(p))
}

// Join joins path elements.
func (f *FS) Join(elem ...string) string { return filepath.Join(elem...) }

// TempFile creates a new file in dir (the folder itself when "") whose
// name begins with prefix. Its Name is its path in the folder.
func (f *FS) TempFile(dir, prefix string) (billy.File, error) {
	d, err := clean("open", dir)
	if err != nil {
		return nil, err
	}
	if err := outside(f.root.MkdirAll(d, 0o755)); err != nil {
		return nil, err
	}
	for range 100 {
		p := filepath.Join(d, prefix+strconv.FormatUint(rand.Uint64(), 36))
		file, err := f.root.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, outside(err)
		}
		return &File{File: file, name: p}, nil
	}
	return nil, &os.PathError{Op: "open", Path: filepath.Join(d, prefix+"*"), Err: fs.ErrExist}
}

// ReadDir lists the folder name sorted by name; a link in it is
// described as a link.
func (f *FS) ReadDir(name string) ([]os.FileInfo, error) {
	p, err := clean("readdir", name)
	if err != nil {
		return nil, err
	}
	dir, err := f.root.Open(p)
	if err != nil {
		return nil, outside(err)
	}
	defer dir.Close()
	infos, err := dir.Readdir(-1)
	if err != nil {
		return nil, err
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name() < infos[j].Name() })
	return infos, nil
}

// MkdirAll makes the folder name and those holding it. Of perm only the
// permission bits count (go-git passes os.ModeDir too, which os.Root
// refuses).
func (f *FS) MkdirAll(name string, perm os.FileMode) error {
	p, err := clean("mkdir", name)
	if err != nil {
		return err
	}
	return outside(f.root.MkdirAll(p, perm.Perm()))
}

// Symlink makes link a link to target, making link's folders first. The
// target is written as given; os.Root never follows it out of the folder.
func (f *FS) Symlink(target, link string) error {
	p, err := clean("symlink", link)
	if err != nil {
		return err
	}
	if err := f.mkParent(p); err != nil {
		return err
	}
	return outside(f.root.Symlink(target, p))
}

// Readlink is where the link name points.
func (f *FS) Readlink(name string) (string, error) {
	p, err := clean("readlink", name)
	if err != nil {
		return "", err
	}
	target, err := f.root.Readlink(p)
	return target, outside(err)
}

// Chmod changes name's mode. On a link swapped in meanwhile, os.Root
// changes the link itself, never what it points to.
func (f *FS) Chmod(name string, mode os.FileMode) error {
	p, err := clean("chmod", name)
	if err != nil {
		return err
	}
	return outside(f.root.Chmod(p, mode))
}

// Chroot is the folder name inside f as its own file system, made when
// missing; a link there is refused.
func (f *FS) Chroot(name string) (billy.Filesystem, error) {
	p, err := clean("chroot", name)
	if err != nil {
		return nil, err
	}
	if _, err := f.root.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		if err := f.MkdirAll(p, 0o755); err != nil {
			return nil, err
		}
	}
	return f.Sub(p)
}

// Root is the folder's path. It names the folder; nothing opens it by
// that path again.
func (f *FS) Root() string { return f.name }

// Capabilities are all of billy's: files are read, written, sought,
// truncated and locked as *os.File does.
func (f *FS) Capabilities() billy.Capability { return billy.AllCapabilities }

// File is a file opened in an FS.
type File struct {
	*os.File
	name string
	mu   sync.Mutex
}

// Name is the file's path in its FS.
func (f *File) Name() string { return f.name }

// Lock takes an exclusive flock on the file.
func (f *File) Lock() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return flock(f.File, syscall.LOCK_EX)
}

// Unlock releases the flock.
func (f *File) Unlock() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return flock(f.File, syscall.LOCK_UN)
}

func flock(file *os.File, how int) error {
	conn, err := file.SyscallConn()
	if err != nil {
		return err
	}
	var lockErr error
	if err := conn.Control(func(fd uintptr) { lockErr = syscall.Flock(int(fd), how) }); err != nil {
		return err
	}
	if lockErr != nil {
		return fmt.Errorf("lock %s: %w", file.Name(), lockErr)
	}
	return nil
}
