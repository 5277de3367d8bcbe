package proxy

import (
	"context"
	"io/fs"
	"testing"

	"github.com/google/uuid"

	"studio/projects"
)

type siteFiles map[string]string

func (f siteFiles) SiteOf(context.Context, uuid.UUID) (projects.Site, error) {
	return projects.Site{}, nil
}

func (f siteFiles) SiteFile(_ context.Context, _ uuid.UUID, path string) ([]byte, error) {
	b, ok := f[path]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return []byte(b), nil
}

// A path names a file, a folder's index.html or, without an extension,
// the single-page app's index.html; nothing climbs out of the site.
func TestSiteFileResolution(t *testing.T) {
	t.Parallel()
	p := &Preview{Sites: siteFiles{"index.html": "root", "docs/index.html": "docs", "assets/app.js": "js"}}
	for path, want := range map[string]string{
		"/":                   "index.html",
		"/assets/app.js":      "assets/app.js",
		"/docs":               "docs/index.html",
		"/docs/":              "docs/index.html",
		"/settings/profile":   "index.html",
		"/../../etc/passwd":   "index.html", // the app's own page, as any route
		"/../assets/app.js":   "assets/app.js",
		"/assets/missing.css": "",
		"/%2e%2e/x.js":        "",
	} {
		name, _, err := p.siteFile(context.Background(), uuid.Nil, path)
		if want == "" && err == nil || want != "" && name != want {
			t.Errorf("%s → %q %v, want %q", path, name, err, want)
		}
	}
	if siteSlug("shop--site") != "shop" || siteSlug("shop") != "" || siteSlug("--site") != "" {
		t.Error("siteSlug")
	}
}
