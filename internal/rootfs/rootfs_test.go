package rootfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/util"
)

func open(t *testing.T) (*FS, string) {
	t.Helper()
	dir := t.TempDir()
	f, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, dir
}

func TestFilesAreCreatedReadRenamedAndRemoved(t *testing.T) {
	t.Parallel()
	f, dir := open(t)
	if err := util.WriteFile(f, "a/b/c.txt", []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "a/b/c.txt")); err != nil || string(data) != "hello" {
		t.Fatalf("on disk: %q, %v", data, err)
	}
	file, err := f.OpenFile("a/b/c.txt", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if file.Name() != filepath.Join("a", "b", "c.txt") {
		t.Errorf("Name = %q", file.Name())
	}
	buf := make([]byte, 3)
	if _, err := file.ReadAt(buf, 2); err != nil || string(buf) != "llo" {
		t.Errorf("ReadAt = %q, %v", buf, err)
	}
	if err := file.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if _, err := file.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if _, err := file.Write([]byte("!")); err != nil {
		t.Fatal(err)
	}
	if err := file.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := file.Unlock(); err != nil {
		t.Fatal(err)
	}
	file.Close()
	if data, _ := util.ReadFile(f, "a/b/c.txt"); string(data) != "he!" {
		t.Errorf("after truncate and write: %q", data)
	}

	if err := f.Rename("a/b/c.txt", "d/e.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat("a/b/c.txt"); !os.IsNotExist(err) {
		t.Errorf("the old name is still there: %v", err)
	}
	if fi, err := f.Stat("d/e.txt"); err != nil || fi.Size() != 3 {
		t.Errorf("Stat(d/e.txt) = %v, %v", fi, err)
	}
	if err := f.Remove("d/e.txt"); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove("d"); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove("."); err == nil {
		t.Error("the folder itself was removed")
	}
}

func TestReadDirIsSortedAndDescribesLinks(t *testing.T) {
	t.Parallel()
	f, _ := open(t)
	for _, p := range []string{"b", "a", "sub/x"} {
		if err := util.WriteFile(f, p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Symlink("a", "link"); err != nil {
		t.Fatal(err)
	}
	infos, err := f.ReadDir("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fi := range infos {
		names = append(names, fi.Name())
		if fi.Name() == "link" && fi.Mode()&os.ModeSymlink == 0 {
			t.Error("the link is listed as what it points to")
		}
	}
	if got := strings.Join(names, ","); got != "a,b,link,sub" {
		t.Errorf("ReadDir = %s", got)
	}
}

func TestLinksAreEntriesNeverFollowedOut(t *testing.T) {
	t.Parallel()
	f, dir := open(t)
	secret := t.TempDir()
	if err := os.WriteFile(filepath.Join(secret, "secret"), []byte("s3cret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	if err := f.Symlink("../../"+filepath.Base(secret), "deep/rel"); err != nil {
		t.Fatal(err)
	}
	if target, err := f.Readlink("out"); err != nil || target != secret {
		t.Errorf("Readlink = %q, %v", target, err)
	}
	if fi, err := f.Lstat("out"); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("Lstat = %v, %v", fi, err)
	}
	for _, p := range []string{"out/secret", "deep/rel/secret"} {
		if _, err := f.Open(p); !os.IsNotExist(err) {
			t.Errorf("Open(%s) = %v, want not found", p, err)
		}
		if _, err := f.Stat(p); !os.IsNotExist(err) {
			t.Errorf("Stat(%s) = %v, want not found", p, err)
		}
		if _, err := f.Create(p + "2"); err == nil {
			t.Errorf("Create(%s2) wrote through the link", p)
		}
		if _, err := f.ReadDir(filepath.Dir(p)); err == nil {
			t.Errorf("ReadDir(%s) listed the outside folder", filepath.Dir(p))
		}
	}
	if _, err := f.Chroot("out"); err == nil {
		t.Error("Chroot through a link")
	}
	if entries, _ := os.ReadDir(secret); len(entries) != 1 {
		t.Errorf("the outside folder changed: %v", entries)
	}
}

func TestPathsOutsideAreRefused(t *testing.T) {
	t.Parallel()
	f, dir := open(t)
	outsideFile := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-x")
	t.Cleanup(func() { os.Remove(outsideFile) })
	for _, p := range []string{"../" + filepath.Base(outsideFile), outsideFile, "a/../../x", "/etc/passwd"} {
		if _, err := f.Create(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Create(%s) = %v", p, err)
		}
		if _, err := f.Open(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%s) = %v", p, err)
		}
		if err := f.MkdirAll(p, 0o755); err == nil {
			t.Errorf("MkdirAll(%s) made it", p)
		}
		if err := f.Symlink("x", p); err == nil {
			t.Errorf("Symlink(%s) made it", p)
		}
		if _, err := f.Chroot(p); err == nil {
			t.Errorf("Chroot(%s) opened it", p)
		}
	}
	if _, err := os.Lstat(outsideFile); !os.IsNotExist(err) {
		t.Errorf("a file was made outside: %v", err)
	}
}

func TestTempFileAndChroot(t *testing.T) {
	t.Parallel()
	f, dir := open(t)
	tmp, err := f.TempFile("objects/pack", "tmp_")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tmp.Name(), filepath.Join("objects", "pack", "tmp_")) {
		t.Errorf("TempFile Name = %q", tmp.Name())
	}
	tmp.Write([]byte("pack"))
	tmp.Close()
	if err := f.Rename(tmp.Name(), "objects/pack/p.pack"); err != nil {
		t.Fatal(err)
	}

	sub, err := f.Chroot("objects")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.(*FS).Close()
	if sub.Root() != filepath.Join(dir, "objects") {
		t.Errorf("Root = %q", sub.Root())
	}
	if data, err := util.ReadFile(sub, "pack/p.pack"); err != nil || string(data) != "pack" {
		t.Errorf("through the chroot: %q, %v", data, err)
	}
	if _, err := sub.Open("../objects/pack/p.pack"); err == nil {
		t.Error("the chroot was left with ..")
	}
	made, err := f.Chroot("new/folder")
	if err != nil {
		t.Fatal(err)
	}
	made.(*FS).Close()
	if fi, err := os.Stat(filepath.Join(dir, "new/folder")); err != nil || !fi.IsDir() {
		t.Errorf("Chroot did not make the missing folder: %v", err)
	}
	if !billy.CapabilityCheck(f, billy.LockCapability|billy.ReadAndWriteCapability) {
		t.Error("capabilities")
	}
}

func TestSubRefusesALinkOrAFile(t *testing.T) {
	t.Parallel()
	f, dir := open(t)
	os.Mkdir(filepath.Join(dir, "real"), 0o755)
	os.Symlink("real", filepath.Join(dir, "link"))
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	for _, p := range []string{"link", "file", "missing"} {
		if sub, err := f.Sub(p); err == nil {
			sub.Close()
			t.Errorf("Sub(%s) opened it", p)
		}
	}
	sub, err := f.Sub("real")
	if err != nil {
		t.Fatal(err)
	}
	sub.Close()
}
