package projects

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The project's folder is hostile: a link it plants where studio writes
// the install's mark, or reads package.json, never reaches past it.
func TestInstallMarkAndPackageJSONStayInTheProject(t *testing.T) {
	dir, outside := t.TempDir(), filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "node_modules"), 0o755)
	if err := os.Symlink(outside, filepath.Join(dir, installedMark)); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := markInstalled(root); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "precious" {
		t.Fatalf("the mark was written through the link: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, installedMark)); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("the mark: %v %v", fi, err)
	}

	// package.json as a link to an endless device, or too large, is not read.
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "package.json")); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	go func() { done <- needsInstall(dir) }()
	select {
	case got := <-done:
		if got {
			t.Fatal("a linked package.json asked for an install")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("needsInstall read a linked /dev/zero")
	}
	os.Remove(filepath.Join(dir, "package.json"))
	big := make([]byte, maxPackageJSON+1)
	os.WriteFile(filepath.Join(dir, "package.json"), big, 0o644)
	if readPackageJSON(root) != nil {
		t.Fatal("an oversized package.json was read")
	}
}
