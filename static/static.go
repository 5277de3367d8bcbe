// Package static serves studio's embedded browser assets under
// content-hashed names, so they can be cached for a year.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
)

//go:embed all:dist
var embedded embed.FS

var (
	once   sync.Once
	assets *Set
)

func defaultSet() *Set {
	once.Do(func() {
		dist, _ := fs.Sub(embedded, "dist")
		assets = NewSet(dist)
	})
	return assets
}

// Path is the URL of a built asset: "htmx.min.js" → "/static/htmx.min.<hash>.js".
func Path(name string) string { return defaultSet().Path(name) }

// Handler serves the embedded assets.
func Handler() http.Handler { return defaultSet() }

// Missing reports whether the assets were not built before compiling.
func Missing() bool { return defaultSet().Missing() }

// Set is a folder of assets with their hashed names. A top-level file
// "app.css" is served as "app.<hash>.css"; a top-level folder such as
// "monaco" is a bundle served as "monaco.<hash>/…", its hash covering the
// whole tree, because Monaco's loader finds its files by relative path.
type Set struct {
	fsys    fs.FS
	byName  map[string]string // logical name → hashed URL path
	files   map[string]string // hashed file name → file in fsys
	bundles map[string]string // hashed folder name → folder in fsys
}

// NewSet hashes every top-level file and folder of fsys.
func NewSet(fsys fs.FS) *Set {
	s := &Set{fsys: fsys, byName: map[string]string{}, files: map[string]string{}, bundles: map[string]string{}}
	entries, _ := fs.ReadDir(fsys, ".")
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		h := sha256.New()
		err := fs.WalkDir(fsys, name, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if e.IsDir() {
				// A bundle's file names already carry content hashes
				// (Monaco's do), so names and sizes identify it without
				// reading megabytes into memory at start.
				fi, err := d.Info()
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "%s\x00%d\x00", p, fi.Size())
				return nil
			}
			b, err := fs.ReadFile(fsys, p)
			h.Write(b)
			return err
		})
		if err != nil {
			continue
		}
		hash := hex.EncodeToString(h.Sum(nil)[:5])
		if e.IsDir() {
			s.byName[name] = "/static/" + name + "." + hash
			s.bundles[name+"."+hash] = name
			continue
		}
		hashed := withHash(name, hash)
		s.byName[name] = "/static/" + hashed
		s.files[hashed] = name
	}
	return s
}

func withHash(name, hash string) string {
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hash + ext
}

// Path returns the hashed URL of name, or a path that answers 404.
func (s *Set) Path(name string) string {
	if p, ok := s.byName[name]; ok {
		return p
	}
	return "/static/missing/" + name
}

// Missing reports whether the set is empty.
func (s *Set) Missing() bool { return len(s.byName) == 0 }

func (s *Set) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := s.lookup(strings.TrimPrefix(r.URL.Path, "/static/"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeFileFS(w, r, s.fsys, name)
}

// lookup maps a hashed URL path to a file, refusing anything that is not
// a regular file inside a known name.
func (s *Set) lookup(p string) (string, bool) {
	if name, ok := s.files[p]; ok {
		return name, true
	}
	bundle, rest, ok := strings.Cut(p, "/")
	dir, known := s.bundles[bundle]
	if !ok || !known || rest == "" || !fs.ValidPath(rest) {
		return "", false
	}
	name := path.Join(dir, rest)
	if fi, err := fs.Stat(s.fsys, name); err != nil || fi.IsDir() {
		return "", false
	}
	return name, true
}
