package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
)

// Template is a project starting point. Its files are copied into the new
// project; its dependencies are pre-installed in the runtime image.
type Template struct {
	ID          string
	Name        string
	Description string
}

// The uid and gid the dev server and every command run as in a project
// container; project files must be theirs.
const (
	ProjectUID = 1000
	ProjectGID = 1000
)

var templates = []Template{
	{
		ID:          "react-vite",
		Name:        "React",
		Description: "React 19, TypeScript and Tailwind CSS on Vite, with hot reload.",
	},
	{
		ID:          "vanilla-vite",
		Name:        "Vanilla JavaScript",
		Description: "Plain JavaScript and CSS on Vite, with hot reload.",
	},
	{
		ID:          "static",
		Name:        "Static site",
		Description: "Hand-written HTML, CSS and JavaScript, reloaded on every save.",
	},
}

// Templates lists every template, in the order a user should see them.
func Templates() []Template {
	return append([]Template(nil), templates...)
}

// Lookup finds a template by id.
func Lookup(id string) (Template, bool) {
	for _, t := range templates {
		if t.ID == id {
			return t, true
		}
	}
	return Template{}, false
}

// modulesDir is where the runtime image keeps a template's installed,
// read-only dependencies; a project's node_modules is a symlink to it.
func modulesDir(id string) string {
	return path.Join("/opt/studio/templates", id, "node_modules")
}

// CopyTemplate fills dst, which must be missing or empty, with the template's
// source files and a node_modules symlink to the template's dependencies in
// the runtime image. When studio runs as root everything is handed to the
// container user, so the dev server and the user's commands can write it.
func CopyTemplate(id, dst string) error {
	if _, ok := Lookup(id); !ok {
		return fmt.Errorf("unknown template %q", id)
	}
	if err := prepareDir(dst); err != nil {
		return err
	}
	src, err := fs.Sub(sources, path.Join("templates", id))
	if err != nil {
		return fmt.Errorf("template %s: %w", id, err)
	}
	if err := os.CopyFS(dst, src); err != nil {
		return fmt.Errorf("copy template %s to %s: %w", id, dst, err)
	}
	if err := os.Symlink(modulesDir(id), filepath.Join(dst, "node_modules")); err != nil {
		return fmt.Errorf("link dependencies of template %s: %w", id, err)
	}
	if err := makeWritable(dst); err != nil {
		return fmt.Errorf("hand %s to the container user: %w", dst, err)
	}
	return nil
}

// prepareDir creates dst or checks that it is an empty directory.
func prepareDir(dst string) error {
	entries, err := os.ReadDir(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("create project dir: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read project dir: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("project dir %s is not empty", dst)
	}
	return nil
}

// makeWritable gives owner write access to everything under dir (os.CopyFS
// creates read-only files from an embed.FS) and, as root, makes the container
// user the owner.
func makeWritable(dir string) error {
	chown := os.Geteuid() == 0
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if chown {
			if err := os.Lchown(p, ProjectUID, ProjectGID); err != nil {
				return err
			}
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		mode := fs.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}

// SameDependencies says whether a package.json asks for exactly the
// dependencies (and dev dependencies) of the built-in template base, so a
// project with it can use the dependencies in the runtime image instead of
// installing its own.
func SameDependencies(base string, packageJSON []byte) bool {
	if _, ok := Lookup(base); !ok {
		return false
	}
	want, err := fs.ReadFile(sources, path.Join("templates", base, "package.json"))
	if err != nil {
		return false
	}
	a, errA := dependenciesOf(want)
	b, errB := dependenciesOf(packageJSON)
	return errA == nil && errB == nil && maps.Equal(a, b)
}

// Dependencies lists what a package.json asks npm to install: its
// dependencies and dev dependencies, name → version range.
func Dependencies(packageJSON []byte) (map[string]string, error) { return dependenciesOf(packageJSON) }

func dependenciesOf(packageJSON []byte) (map[string]string, error) {
	var pkg struct {
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(packageJSON, &pkg); err != nil {
		return nil, err
	}
	all := map[string]string{}
	maps.Copy(all, pkg.Dependencies)
	for name, v := range pkg.DevDependencies {
		all["dev:"+name] = v
	}
	return all, nil
}

// LinkDependencies links dst/node_modules to the dependencies the runtime
// image holds for the built-in template base, as CopyTemplate does.
func LinkDependencies(base, dst string) error {
	if _, ok := Lookup(base); !ok {
		return fmt.Errorf("unknown template %q", base)
	}
	if err := os.Symlink(modulesDir(base), filepath.Join(dst, "node_modules")); err != nil {
		return fmt.Errorf("link dependencies of template %s: %w", base, err)
	}
	return nil
}

// MakeWritable hands a project folder made outside CopyTemplate to the
// container user, as CopyTemplate does.
func MakeWritable(dir string) error { return makeWritable(dir) }

// Files returns the source files of the built-in template id, path → content.
func Files(id string) (map[string][]byte, error) {
	if _, ok := Lookup(id); !ok {
		return nil, fmt.Errorf("unknown template %q", id)
	}
	src, err := fs.Sub(sources, path.Join("templates", id))
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	err = fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		out[p] = b
		return err
	})
	return out, err
}
