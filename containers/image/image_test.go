package image

import (
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

func TestTag(t *testing.T) {
	t.Parallel()
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(Tag()) {
		t.Errorf("Tag() = %q, want 12 hex digits", Tag())
	}
	if Reference() != "studio-runtime:"+Tag() {
		t.Errorf("Reference() = %q", Reference())
	}
	if again, _ := hashFS(sources); again != Tag() {
		t.Errorf("hashing the same files twice: %s and %s", again, Tag())
	}
}

func TestHashCoversPathsAndContent(t *testing.T) {
	t.Parallel()
	base := fstest.MapFS{
		"Dockerfile":             {Data: []byte("FROM x\n")},
		"templates/a/index.html": {Data: []byte("<h1>a</h1>")},
	}
	hash := func(fsys fstest.MapFS) string {
		t.Helper()
		sum, err := hashFS(fsys)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	changed := map[string]fstest.MapFS{
		"content": {
			"Dockerfile":             {Data: []byte("FROM y\n")},
			"templates/a/index.html": {Data: []byte("<h1>a</h1>")},
		},
		"file moved": {
			"Dockerfile":             {Data: []byte("FROM x\n")},
			"templates/b/index.html": {Data: []byte("<h1>a</h1>")},
		},
		"file added": {
			"Dockerfile":             {Data: []byte("FROM x\n")},
			"templates/a/index.html": {Data: []byte("<h1>a</h1>")},
			"templates/a/app.js":     {Data: nil},
		},
		// Content that moves across a file boundary must still change the hash.
		"bytes shifted between files": {
			"Dockerfile":             {Data: []byte("FROM x\n<h1>")},
			"templates/a/index.html": {Data: []byte("a</h1>")},
		},
	}
	want := hash(base)
	for name, fsys := range changed {
		if hash(fsys) == want {
			t.Errorf("%s: hash unchanged", name)
		}
	}
	modified := fstest.MapFS{}
	for p, f := range base {
		modified[p] = &fstest.MapFile{Data: f.Data, Mode: 0o600}
	}
	if hash(modified) != want {
		t.Error("file modes changed the hash; only paths and content should")
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	var ids []string
	for _, tmpl := range Templates() {
		ids = append(ids, tmpl.ID)
		if tmpl.Name == "" || tmpl.Description == "" {
			t.Errorf("template %s needs a name and a description", tmpl.ID)
		}
		if got, ok := Lookup(tmpl.ID); !ok || got != tmpl {
			t.Errorf("Lookup(%q) = %+v, %v", tmpl.ID, got, ok)
		}
	}
	if want := []string{"react-vite", "vanilla-vite", "static"}; !slices.Equal(ids, want) {
		t.Errorf("template ids %v, want %v", ids, want)
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup of an unknown id succeeded")
	}
}

// Every template directory is a complete project: a package.json, the
// lockfile the image installs from, and nothing installed.
func TestTemplateFiles(t *testing.T) {
	t.Parallel()
	entry := map[string]string{"react-vite": "src/main.tsx", "vanilla-vite": "src/main.js", "static": "index.html"}
	for _, tmpl := range Templates() {
		dir := path.Join("templates", tmpl.ID)
		for _, f := range []string{"package.json", "package-lock.json", "index.html", entry[tmpl.ID]} {
			if _, err := fs.Stat(sources, path.Join(dir, f)); err != nil {
				t.Errorf("template %s: %v", tmpl.ID, err)
			}
		}
		var pkg, lock struct {
			Name     string
			Packages map[string]struct {
				Dependencies, DevDependencies map[string]string
			}
			Dependencies, DevDependencies map[string]string
		}
		readJSON(t, path.Join(dir, "package.json"), &pkg)
		readJSON(t, path.Join(dir, "package-lock.json"), &lock)
		root := lock.Packages[""]
		if lock.Name != pkg.Name || !maps.Equal(root.Dependencies, pkg.Dependencies) || !maps.Equal(root.DevDependencies, pkg.DevDependencies) {
			t.Errorf("template %s: package-lock.json is out of date with package.json; run npm install --package-lock-only", tmpl.ID)
		}
		fs.WalkDir(sources, dir, func(p string, d fs.DirEntry, err error) error {
			if d != nil && d.Name() == "node_modules" {
				t.Errorf("template %s embeds %s", tmpl.ID, p)
			}
			return nil
		})
	}
}

func TestViteTemplatesFollowTheContract(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"templates/react-vite/vite.config.ts", "templates/vanilla-vite/vite.config.js"} {
		b, err := fs.ReadFile(sources, f)
		if err != nil {
			t.Fatal(err)
		}
		config := string(b)
		for _, want := range []string{"port: 5173", "strictPort: true", "allowedHosts: true", "host: '0.0.0.0'", "cacheDir: '.studio/node_modules/.vite'"} {
			if !strings.Contains(config, want) {
				t.Errorf("%s lacks %s", f, want)
			}
		}
		if strings.Contains(config, "clientPort:") {
			t.Errorf("%s pins hmr.clientPort; HMR must follow the proxy's port", f)
		}
	}
}

func TestCopyTemplate(t *testing.T) {
	t.Parallel()
	for _, tmpl := range Templates() {
		dst := filepath.Join(t.TempDir(), "project")
		if err := CopyTemplate(tmpl.ID, dst); err != nil {
			t.Fatal(err)
		}
		link, err := os.Readlink(filepath.Join(dst, "node_modules"))
		if err != nil || link != "/opt/studio/templates/"+tmpl.ID+"/node_modules" {
			t.Errorf("%s: node_modules links to %q (%v)", tmpl.ID, link, err)
		}
		err = fs.WalkDir(sources, path.Join("templates", tmpl.ID), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			want, _ := fs.ReadFile(sources, p)
			got, err := os.ReadFile(filepath.Join(dst, strings.TrimPrefix(p, "templates/"+tmpl.ID+"/")))
			if err != nil || string(got) != string(want) {
				t.Errorf("%s: %s not copied (%v)", tmpl.ID, p, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkOwnedByProjectUser(t, dst)
	}
}

func TestCopyTemplateRefuses(t *testing.T) {
	t.Parallel()
	if err := CopyTemplate("nope", t.TempDir()); err == nil {
		t.Error("copying an unknown template succeeded")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("mine"), 0o644)
	if err := CopyTemplate("static", dir); err == nil {
		t.Error("copying into a non-empty directory succeeded")
	}
}

// checkOwnedByProjectUser: as root, everything goes to uid 1000; otherwise
// everything is at least writable by its owner.
func checkOwnedByProjectUser(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if uid, gid := fileOwner(info); os.Geteuid() == 0 && (uid != ProjectUID || gid != ProjectGID) {
			t.Errorf("%s is owned by %d:%d, want %d:%d", p, uid, gid, ProjectUID, ProjectGID)
		}
		if info.Mode()&fs.ModeSymlink == 0 && info.Mode().Perm()&0o200 == 0 {
			t.Errorf("%s is not writable (%v)", p, info.Mode())
		}
		return nil
	})
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := fs.ReadFile(sources, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func fileOwner(info fs.FileInfo) (uid, gid int) {
	st := info.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}
