package image

import (
	"errors"
	"fmt"
	"io/fs"
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
