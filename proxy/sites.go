package proxy

import (
	"context"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"studio/projects"
)

// SiteSuffix marks a project's published site: {slug}--site.{domain}. A
// slug never holds two hyphens in a row, so no project's preview host
// can be another's site, and the site is an origin of its own, apart from
// the dev server's preview and from studio.
const SiteSuffix = "--site"

// Sites is what the site server needs of the project service.
type Sites interface {
	SiteOf(ctx context.Context, id uuid.UUID) (projects.Site, error)
	SiteFile(ctx context.Context, id uuid.UUID, path string) ([]byte, error)
}

// siteSlug is the project slug of a site host, or "".
func siteSlug(previewLabel string) string {
	slug, ok := strings.CutSuffix(previewLabel, SiteSuffix)
	if !ok || slug == "" {
		return ""
	}
	return slug
}

// serveSite answers a request for a project's published site from the
// database, never from its dev server: a public site to anyone, a private
// one to its owner only (the preview cookie, set by a signed link as for
// the preview).
func (p *Preview) serveSite(w http.ResponseWriter, r *http.Request, slug string) {
	ctx := r.Context()
	proj, err := p.Projects.GetBySlug(ctx, slug)
	if errors.Is(err, projects.ErrNotFound) {
		notFound(w)
		return
	} else if err != nil {
		p.Log.Error("site lookup", "slug", slug, "err", err)
		http.Error(w, "Studio could not look this site up; try again.", http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path == authPath {
		p.signIn(w, r, proj)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "A published site only answers GET and HEAD.", http.StatusMethodNotAllowed)
		return
	}
	site, err := p.Sites.SiteOf(ctx, proj.ID)
	if errors.Is(err, projects.ErrNoSite) {
		notFound(w)
		return
	} else if err != nil {
		p.Log.Error("site lookup", "project", proj.ID, "err", err)
		http.Error(w, "Studio could not look this site up; try again.", http.StatusServiceUnavailable)
		return
	}
	if !site.Public {
		g, granted := p.grant(r, proj)
		if !granted {
			notFound(w)
			return
		}
		if holds, err := p.signInHolds(ctx, g.holder()); err != nil {
			http.Error(w, "Studio could not check your access to this site; try again.", http.StatusServiceUnavailable)
			return
		} else if !holds {
			p.signedOut(w, r, proj)
			return
		}
	}
	name, body, err := p.siteFile(ctx, proj.ID, r.URL.Path)
	if errors.Is(err, fs.ErrNotExist) {
		notFound(w)
		return
	} else if err != nil {
		p.Log.Error("site file", "project", proj.ID, "err", err)
		http.Error(w, "Studio could not read this site; try again.", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("ETag", `"`+strconv.FormatInt(site.PublishedAt.UnixMicro(), 36)+`"`)
	if site.Public {
		// Revalidated each time: a site made private stops being served
		// from caches at once.
		h.Set("Cache-Control", "public, no-cache")
	} else {
		h.Set("Cache-Control", "private, no-cache")
	}
	if r.Header.Get("If-None-Match") == h.Get("ETag") {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// siteFile finds the file a path names: the file itself, a folder's
// index.html, or — for a path without an extension, as single-page apps
// route — the site's index.html.
func (p *Preview) siteFile(ctx context.Context, id uuid.UUID, urlPath string) (string, []byte, error) {
	clean := strings.TrimPrefix(path.Clean("/"+urlPath), "/")
	candidates := []string{clean, path.Join(clean, "index.html")}
	if clean == "" {
		candidates = []string{"index.html"}
	} else if path.Ext(clean) == "" {
		candidates = append(candidates, "index.html")
	}
	for _, c := range candidates {
		b, err := p.Sites.SiteFile(ctx, id, c)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return c, b, err
	}
	return "", nil, fs.ErrNotExist
}
