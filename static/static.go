// Package static serves studio's embedded browser assets under
// content-hashed names, so they can be cached for a year.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
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

// Set is a folder of assets with their hashed names.
type Set struct {
	fsys   fs.FS
	byName map[string]string // logical name → hashed URL path
	byPath map[string]string // hashed name (no /static/) → file in fsys
}

// NewSet hashes every top-level file of fsys.
func NewSet(fsys fs.FS) *Set {
	s := &Set{fsys: fsys, byName: map[string]string{}, byPath: map[string]string{}}
	entries, _ := fs.ReadDir(fsys, ".")
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		hashed := withHash(e.Name(), hex.EncodeToString(sum[:5]))
		s.byName[e.Name()] = "/static/" + hashed
		s.byPath[hashed] = e.Name()
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
	name, ok := s.byPath[strings.TrimPrefix(r.URL.Path, "/static/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeFileFS(w, r, s.fsys, name)
}
