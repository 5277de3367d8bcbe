package templates

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"

	"studio/internal/text"
)

// Skipped is a file or folder of a project that a template leaves out,
// and why.
type Skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Collected is what a template takes from a project.
type Collected struct {
	Files   map[string][]byte
	Exec    map[string]bool
	Skipped []Skipped
}

// Generated says whether a top-level folder of a project holds generated
// files — build output or a cache — that a copy of the project leaves out.
func Generated(name string) bool { return buildOutput[name] }

// buildOutput are top-level folders of generated files.
var buildOutput = map[string]bool{
	"dist": true, "build": true, "out": true, ".next": true, ".nuxt": true, ".svelte-kit": true,
	"coverage": true, ".cache": true, ".vite": true, ".turbo": true, ".parcel-cache": true, ".studio": true,
}

// secretFile says whether a file name looks like environment values or a
// credential: .env files (but not their documented examples), keys,
// certificates and package-manager or netrc credentials.
func secretFile(name string) bool {
	lower := strings.ToLower(name)
	if lower == ".env" || strings.HasPrefix(lower, ".env.") {
		switch lower {
		case ".env.example", ".env.sample", ".env.template", ".env.dist":
			return false
		}
		return true
	}
	switch lower {
	case ".npmrc", ".yarnrc.yml", ".netrc", ".pypirc", "credentials.json", ".git-credentials":
		return true
	}
	for _, p := range []string{"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"} {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}
	switch path.Ext(lower) {
	case ".pem", ".key", ".p12", ".pfx", ".jks", ".keystore":
		return true
	}
	return false
}

// secretPath says whether a file's path names a tool's credentials:
// .aws/credentials, .docker/config.json, anything under .ssh.
func secretPath(p string) bool {
	lower := strings.ToLower(p)
	for _, suffix := range []string{".aws/credentials", ".docker/config.json"} {
		if lower == suffix || strings.HasSuffix(lower, "/"+suffix) {
			return true
		}
	}
	return strings.HasPrefix(lower, ".ssh/") || strings.Contains(lower, "/.ssh/")
}

// Collect reads the files of the project folder dir that a template
// keeps: everything but dependencies, version control, build output,
// environment and secret files, links and anything not a regular file.
// It stops with a clear error past the limits.
func Collect(dir string, lim Limits) (*Collected, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	c := &Collected{Files: map[string][]byte{}, Exec: map[string]bool{}}
	var total int64
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if p == "." {
			return nil
		}
		name := d.Name()
		skip := func(reason string) error {
			c.Skipped = append(c.Skipped, Skipped{Path: p, Reason: reason})
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case name == "node_modules":
			return skip("dependencies, installed again when a project is made from the template")
		case neverCarried[name]:
			return skip("version control")
		case d.Type()&fs.ModeSymlink != 0:
			return skip("a link")
		case d.IsDir() && !strings.Contains(p, "/") && buildOutput[name]:
			return skip("build output or cache")
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return skip("not a regular file")
		case secretFile(name) || secretPath(p):
			return skip("environment values or a secret")
		case strings.Contains(name, ".studio-tmp-"):
			return nil
		}
		if checkPath(p) != nil {
			return skip("a name a template cannot carry")
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed while walking
		}
		if len(c.Files) >= lim.MaxFiles {
			return refuse("the project has more than %d files, the most a template may hold; delete what it does not need", lim.MaxFiles)
		}
		if total+fi.Size() > lim.MaxBytes {
			return refuse("the project's files are more than the %s a template may hold (%s is %s); delete what it does not need", text.Bytes(lim.MaxBytes), text.Clip(p, 80), text.Bytes(fi.Size()))
		}
		f, err := OpenRegular(root, p)
		if err != nil {
			return nil // gone, or no longer a regular file
		}
		b, err := io.ReadAll(io.LimitReader(f, lim.MaxBytes-total+1))
		f.Close()
		if err != nil {
			return err
		}
		if total += int64(len(b)); total > lim.MaxBytes {
			return refuse("the project's files are more than the %s a template may hold; delete what it does not need", text.Bytes(lim.MaxBytes))
		}
		c.Files[p] = b
		if fi.Mode().Perm()&0o100 != 0 {
			c.Exec[p] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(c.Skipped, func(i, j int) bool { return c.Skipped[i].Path < c.Skipped[j].Path })
	return c, nil
}

// OpenRegular opens p under root for reading only if it is, when opened,
// a regular file: never through a link, and never blocking on a pipe the
// project's code put there after the folder was listed.
func OpenRegular(root *os.Root, p string) (*os.File, error) {
	f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return f, nil
}
