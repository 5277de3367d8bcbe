// Package proxy serves live previews: requests for {slug}.{STUDIO_PREVIEW_DOMAIN}
// go to that project's dev server (websockets included, so hot reload
// works), only for the project's owner or a holder of its share link, and
// a sleeping project is woken instead of answering an error.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"studio/auth"
	"studio/db"
	"studio/projects"
)

// Projects is what the proxy needs of the project service.
type Projects interface {
	GetBySlug(ctx context.Context, slug string) (db.Project, error)
	Wake(ctx context.Context, id uuid.UUID) error
	Revive(ctx context.Context, id uuid.UUID)
	Touch(ctx context.Context, id uuid.UUID)
	Resume(ctx context.Context, id uuid.UUID) error
	UsePreviewLink(ctx context.Context, nonce string) (bool, error)
}

// SignIns says whether the sign-in behind a preview grant still stands
// (auth.Service).
type SignIns interface {
	SignInHolds(ctx context.Context, userID, sessionID uuid.UUID) (bool, error)
}

const authPath = "/__studio/auth"

// Preview is the preview proxy.
type Preview struct {
	Projects  Projects
	SignIns   SignIns
	Signer    *Signer
	Domain    string // STUDIO_PREVIEW_DOMAIN
	PublicURL string // the UI, for links back to the workspace
	MaxBody   int64
	Secure    bool // cookies only over https
	Log       *slog.Logger
	// Upstreams, when set, confirms before each request that the address
	// recorded for a project still is its dev server's. On Kubernetes a
	// pod's address outlives the pod (a drain, an eviction) and may be
	// given to another project's pod; nil on Docker, whose loopback port
	// is unpublished when the container stops.
	Upstreams Upstreams
	// Routed: Traefik routes the requests of active projects straight to
	// their dev servers (STUDIO_ROUTER=traefik); studio sees one only when
	// Traefik could not reach that dev server, and never forwards it.
	Routed bool
	// Trusted are the peers allowed to ask ForwardAuth (Traefik, from
	// STUDIO_TRUSTED_PROXIES); none = loopback only.
	Trusted []*net.IPNet
	// Sites serves published sites on {slug}--site hosts; nil = none.
	Sites Sites

	proxy     *httputil.ReverseProxy
	touchMu   sync.Mutex
	lastTouch map[uuid.UUID]time.Time
	revived   map[uuid.UUID]time.Time // Routed: the last restart unrouted asked for
	cacheMu   sync.Mutex
	cache     map[string]cachedProject
	checkMu   sync.Mutex
	checks    map[Holder]signInCheck
	cookies   auth.CookieNames
}

// cachedProject spares the database a query for every module a page loads.
// It only holds active projects that are not paused (a paused one must be
// thawed before its request goes on), for lookupTTL, and only serves their
// owner: a project stopped meanwhile refuses the connection and the next
// lookup sees its new state; share links and refusals are always checked
// against the database, so revoking a share link works at once.
type cachedProject struct {
	p  db.Project
	at time.Time
}

const lookupTTL = time.Second

// signInCheck spares the database a query per module a page loads: whether
// a sign-in holds is asked again after signInRecheck, so a sign-out, a
// password change or a disabled account closes its previews within that.
type signInCheck struct {
	holds bool
	at    time.Time
}

const signInRecheck = 3 * time.Second

type targetKey struct{}

// New makes the preview proxy.
func New(p *Preview) *Preview {
	if p.Log == nil {
		p.Log = slog.Default()
	}
	p.lastTouch = map[uuid.UUID]time.Time{}
	p.revived = map[uuid.UUID]time.Time{}
	p.cache = map[string]cachedProject{}
	p.checks = map[Holder]signInCheck{}
	p.cookies = auth.Cookies(p.Secure)
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(targetKey{}).(*url.URL)
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host // the dev server sees the preview host name
			stripStudioCookies(pr.Out)
			if asksForPage(pr.In) {
				pr.Out.Header.Set("Accept-Encoding", "identity")
			}
		},
		// Final and protocol-switching answers; cookieGuard sees the rest.
		ModifyResponse: func(res *http.Response) error {
			dropForeignCookies(res.Header, res.Request.Host)
			return addConsoleScript(res)
		},
		Transport:     transport,
		FlushInterval: -1, // stream as it comes (event streams, HMR)
		ErrorHandler:  p.upstreamFailed,
	}
	return p
}

// SlugOf returns the project label of a preview host, or "".
func SlugOf(host, suffix string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	label, ok := strings.CutSuffix(host, suffix)
	if !ok || label == "" || strings.Contains(label, ".") {
		return ""
	}
	return label
}

func (p *Preview) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if slug := siteSlug(SlugOf(r.Host, "."+strings.ToLower(p.Domain))); slug != "" && p.Sites != nil {
		p.serveSite(w, r, slug)
		return
	}
	if proj, ok := p.admit(w, r, false); ok {
		p.forward(w, r, proj)
	}
}

// admit decides a request for a preview host: it either answers it itself
// (a sign-in link, a refusal, the "Starting…" page of a sleeping or
// starting project) and returns false, or returns the active project whose
// dev server may have the request. viaAuth: r is the request Traefik asked
// about (ForwardAuth), which cannot be cut off unanswered.
func (p *Preview) admit(w http.ResponseWriter, r *http.Request, viaAuth bool) (db.Project, bool) {
	slug := SlugOf(r.Host, "."+strings.ToLower(p.Domain))
	ctx := r.Context()
	proj, cached, err := p.lookup(ctx, slug)
	g, granted := p.grant(r, proj)
	// Sign-ins, share links and refusals are decided on fresh rows: a
	// cached one may belong to a deleted project whose name was reused.
	if cached && (r.URL.Path == authPath || r.URL.Query().Has("share") || !granted) {
		proj, err = p.Projects.GetBySlug(ctx, slug)
		g, granted = p.grant(r, proj)
	}
	if errors.Is(err, projects.ErrNotFound) {
		notFound(w)
		return proj, false
	} else if err != nil {
		p.Log.Error("preview lookup", "slug", slug, "err", err)
		http.Error(w, "Studio could not look this preview up; try again.", http.StatusServiceUnavailable)
		return proj, false
	}
	if r.URL.Path == authPath {
		p.signIn(w, r, proj)
		return proj, false
	}
	if share := r.URL.Query().Get("share"); share != "" {
		p.shareSignIn(w, r, proj, share)
		return proj, false
	}
	kind, err := p.access(ctx, r, proj, g, granted)
	switch {
	case err != nil:
		p.Log.Error("preview access", "project", proj.ID, "err", err)
		http.Error(w, "Studio could not check your access to this preview; try again.", http.StatusServiceUnavailable)
		return proj, false
	case kind == signedOut:
		p.signedOut(w, r, proj)
		return proj, false
	case kind == denied:
		notFound(w)
		return proj, false
	}
	switch proj.Status {
	case db.ProjectStatusActive:
		if proj.PausedAt == nil {
			p.touch(ctx, proj.ID)
			return proj, true
		}
		// Paused: thawed before the request goes on, whatever asks.
		if err := p.Projects.Resume(ctx, proj.ID); err != nil {
			p.Log.Warn("resume paused project for preview", "project", proj.ID, "err", err)
			p.starting(w, r, "Resuming the project…")
			return proj, false
		}
		p.touchDue(proj.ID)
		return proj, true
	case db.ProjectStatusHibernated, db.ProjectStatusStopped:
		// A wake counts against the owner's running limit, never starts a
		// disabled owner's project and never lifts an administrator's stop.
		if !opensAPage(r) {
			// What a page that is already open asks for in the background
			// (a dev-server client's ping or websocket, a fetch) does not
			// wake a project: an open preview would otherwise start again
			// a project its owner just stopped. A fetch finds no server at
			// all, as when the dev server is down, so a dev-server client
			// keeps waiting instead of reloading its page.
			// Behind Traefik the cut connection would be its bare 502.
			if r.Header.Get("Upgrade") == "" && !viaAuth && !p.Routed {
				panic(http.ErrAbortHandler)
			}
			http.Error(w, "This project is not running.", http.StatusServiceUnavailable)
			return proj, false
		}
		if err := p.Projects.Wake(ctx, proj.ID); projects.Refused(err) {
			proj.StatusReason = projects.Sentence(err.Error())
			p.failed(w, proj, kind, http.StatusServiceUnavailable)
			return proj, false
		} else if err != nil {
			p.Log.Warn("wake project for preview", "project", proj.ID, "err", err)
		}
		p.starting(w, r, "Waking the project up…")
	case db.ProjectStatusInitializing:
		msg := proj.Progress
		if msg == "" {
			msg = "Starting the project…"
		}
		p.starting(w, r, msg)
	case db.ProjectStatusError:
		p.failed(w, proj, kind, http.StatusBadGateway)
	default:
		notFound(w)
	}
	return proj, false
}

// lookup finds the project of a preview host, from the cache when an
// active project was looked up within lookupTTL.
func (p *Preview) lookup(ctx context.Context, slug string) (proj db.Project, cached bool, err error) {
	p.cacheMu.Lock()
	c, ok := p.cache[slug]
	p.cacheMu.Unlock()
	if ok && time.Since(c.at) < lookupTTL {
		return c.p, true, nil
	}
	proj, err = p.Projects.GetBySlug(ctx, slug)
	p.cacheMu.Lock()
	defer p.cacheMu.Unlock()
	if err == nil && proj.Status == db.ProjectStatusActive && proj.PausedAt == nil {
		if len(p.cache) > 10000 {
			clear(p.cache)
		}
		p.cache[slug] = cachedProject{proj, time.Now()}
	} else {
		delete(p.cache, slug)
	}
	return proj, false, err
}

// forget drops a cached lookup once the project is known to have changed.
func (p *Preview) forget(slug string) {
	p.cacheMu.Lock()
	delete(p.cache, slug)
	p.cacheMu.Unlock()
}

type accessKind int

const (
	denied    accessKind = iota
	byOwner              // the owner's grant, and the session behind it is live
	byShare              // the share link, while it stands and its owner is enabled
	signedOut            // the owner's grant, but the session behind it has ended
)

// access: the owner's preview cookie for this project (g, when granted), or
// its share link.
func (p *Preview) access(ctx context.Context, r *http.Request, proj db.Project, g claims, granted bool) (accessKind, error) {
	if granted {
		holds, err := p.signInHolds(ctx, g.holder())
		if err != nil || holds {
			return byOwner, err
		}
	}
	if p.hasShareCookie(r, proj) {
		holds, err := p.signInHolds(ctx, Holder{User: proj.OwnerID})
		if err != nil || holds {
			return byShare, err
		}
	}
	if granted {
		return signedOut, nil
	}
	return denied, nil
}

// grant is the owner's signed preview cookie for this project, if the
// request carries one; whether its session still holds is not checked.
func (p *Preview) grant(r *http.Request, proj db.Project) (claims, bool) {
	// Every cookie of that name counts: another preview host may have set
	// one for a parent domain, which the browser sends first (studio's own
	// proxy drops such cookies; behind Traefik they reach the browser).
	for _, c := range r.CookiesNamed(p.cookies.Preview) {
		if g, err := p.Signer.verifyGrant(c.Value); err == nil && g.Project == proj.ID && g.User == proj.OwnerID {
			return g, true
		}
	}
	return claims{}, false
}

// hasShareCookie: one of the request's share cookies is the project's
// standing share link.
func (p *Preview) hasShareCookie(r *http.Request, proj db.Project) bool {
	for _, c := range r.CookiesNamed(p.cookies.Share) {
		if proj.ShareToken != "" && constantEqual(c.Value, proj.ShareToken) {
			return true
		}
	}
	return false
}

// signInHolds asks SignIns, or its answer of the last signInRecheck.
func (p *Preview) signInHolds(ctx context.Context, h Holder) (bool, error) {
	p.checkMu.Lock()
	c, ok := p.checks[h]
	p.checkMu.Unlock()
	if ok && time.Since(c.at) < signInRecheck {
		return c.holds, nil
	}
	holds, err := p.SignIns.SignInHolds(ctx, h.User, h.Session)
	if err != nil {
		return false, err
	}
	p.checkMu.Lock()
	defer p.checkMu.Unlock()
	if len(p.checks) > 10000 {
		clear(p.checks)
	}
	p.checks[h] = signInCheck{holds, time.Now()}
	return holds, nil
}

func (p *Preview) forward(w http.ResponseWriter, r *http.Request, proj db.Project) {
	if p.Routed {
		p.unrouted(w, r, proj)
		return
	}
	upstream := proj.Upstream
	if upstream == "" && proj.HostPort > 0 { // set by a studio before upstreams were recorded
		upstream = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(proj.HostPort)))
	}
	if upstream == "" {
		p.Projects.Revive(r.Context(), proj.ID)
		p.starting(w, r, "Starting the project…")
		return
	}
	if p.Upstreams != nil && !p.Upstreams.Serves(proj.ID.String(), upstream) {
		p.forget(SlugOf(r.Host, "."+strings.ToLower(p.Domain)))
		p.Log.Info("the project's dev server moved or stopped; restarting the project", "project", proj.ID, "upstream", upstream)
		p.Projects.Revive(context.WithoutCancel(r.Context()), proj.ID)
		p.starting(w, r, "Starting the dev server again…")
		return
	}
	if r.URL.Path == consolePath {
		p.serveConsole(w)
		return
	}
	// Only ever the address the runtime gave for this project's dev
	// server: its port on loopback (Docker) or its pod (Kubernetes).
	target := &url.URL{Scheme: "http", Host: upstream}
	if p.MaxBody > 0 {
		r.Body = http.MaxBytesReader(w, r.Body, p.MaxBody)
	}
	ctx := context.WithValue(r.Context(), targetKey{}, target)
	ctx = context.WithValue(ctx, projectKey{}, proj.ID)
	p.proxy.ServeHTTP(cookieGuard{w, r.Host}, r.WithContext(ctx))
}

type projectKey struct{}

// unrouted answers a request Traefik sent to studio for an active project:
// its router did not exist (the container is gone) or the dev server did
// not answer (the errors middleware). Someone opening the page gets the
// project started again; what a page loads in the background gets a 503,
// as a dev server answers 504 for its own reasons (a dependency it is
// optimizing again) and must not restart the project by that.
func (p *Preview) unrouted(w http.ResponseWriter, r *http.Request, proj db.Project) {
	p.forget(SlugOf(r.Host, "."+strings.ToLower(p.Domain)))
	if opensAPage(r) {
		if p.mayRevive(proj.ID) {
			p.Log.Info("Traefik could not reach the project's dev server; restarting the project", "project", proj.ID, "path", r.URL.Path)
			p.Projects.Revive(context.WithoutCancel(r.Context()), proj.ID)
		} else {
			// Restarted a moment ago and Traefik still sends it here: the
			// dev server runs, but Traefik has no working route to it.
			p.Log.Warn("Traefik still sends this project's requests to studio after a restart: check that its entry point (STUDIO_TRAEFIK_ENTRYPOINTS) serves TLS itself when it is https (entryPoints.<name>.http.tls), that STUDIO_TRAEFIK_CONTAINER names the Traefik container, and Traefik's Docker provider",
				"project", proj.ID, "host", r.Host)
		}
	}
	p.starting(w, r, "Starting the dev server again…")
}

// reviveEvery is how often a routed project is restarted at most because
// Traefik sent studio a page request for it.
const reviveEvery = 30 * time.Second

// mayRevive: no restart for this project within reviveEvery; it records one.
func (p *Preview) mayRevive(id uuid.UUID) bool {
	p.touchMu.Lock()
	defer p.touchMu.Unlock()
	now := time.Now()
	if now.Sub(p.revived[id]) < reviveEvery {
		return false
	}
	if len(p.revived) > maxTouched {
		for k, at := range p.revived {
			if now.Sub(at) >= reviveEvery {
				delete(p.revived, k)
			}
		}
	}
	p.revived[id] = now
	return true
}

// ForwardAuth answers Traefik's ForwardAuth middleware for a request to a
// preview host, with exactly what the built-in proxy would do: a 200 lets
// Traefik pass the request on (with the Cookie header studio returns, which
// holds none of studio's cookies); anything else is the answer the browser
// gets (a sign-in link's redirect and cookie, a refusal, the "Starting…"
// page of a sleeping project, which it wakes). Only a trusted peer may ask.
func (p *Preview) ForwardAuth(w http.ResponseWriter, r *http.Request) {
	if !p.trustedPeer(r.RemoteAddr) {
		p.Log.Warn("refused a ForwardAuth request from a peer outside STUDIO_TRUSTED_PROXIES", "remote", r.RemoteAddr)
		http.Error(w, "Only studio's router may ask this.", http.StatusForbidden)
		return
	}
	orig, err := forwardedRequest(r)
	if err != nil || SlugOf(orig.Host, "."+strings.ToLower(p.Domain)) == "" {
		http.Error(w, "This is not a request for a preview.", http.StatusBadRequest)
		return
	}
	base := "http://" + orig.Host
	if p.Secure || r.Header.Get("X-Forwarded-Proto") == "https" {
		base = "https://" + orig.Host
	}
	if _, ok := p.admit(absoluteRedirects{w, base}, orig, true); !ok {
		return
	}
	stripStudioCookies(orig)
	h := w.Header()
	if c := orig.Header.Values("Cookie"); len(c) > 0 {
		h["Cookie"] = c
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// forwardedRequest is the request Traefik asks about, rebuilt from the
// X-Forwarded-* headers it sends (it sets them itself: its ForwardAuth does
// not trust a client's own unless told to).
func forwardedRequest(r *http.Request) (*http.Request, error) {
	uri := r.Header.Get("X-Forwarded-Uri")
	if uri == "" {
		uri = "/"
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, err
	}
	orig := r.Clone(r.Context())
	orig.Method = r.Header.Get("X-Forwarded-Method")
	if orig.Method == "" {
		orig.Method = http.MethodGet
	}
	orig.Host = r.Header.Get("X-Forwarded-Host")
	orig.URL = u
	orig.RequestURI = uri
	orig.Body = http.NoBody
	// Traefik drops hop-by-hop headers, Upgrade among them.
	if orig.Header.Get("Sec-WebSocket-Key") != "" {
		orig.Header.Set("Upgrade", "websocket")
	}
	return orig, nil
}

// trustedPeer: a peer inside Trusted, or on loopback when none is set.
func (p *Preview) trustedPeer(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if len(p.Trusted) == 0 {
		return ip.IsLoopback()
	}
	for _, n := range p.Trusted {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// absoluteRedirects spells a redirect to a path on the preview host as a
// whole address: Traefik hands the auth answer's Location to the browser,
// which must not resolve it against studio's own address.
type absoluteRedirects struct {
	http.ResponseWriter
	base string
}

func (a absoluteRedirects) WriteHeader(code int) {
	h := a.Header()
	if loc := h.Get("Location"); strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
		h.Set("Location", a.base+loc)
	}
	a.ResponseWriter.WriteHeader(code)
}

// Upstreams knows which address serves each project's dev server.
type Upstreams interface {
	Serves(projectID, addr string) bool
}

// upstreamFailed: the row says active but the dev server does not answer
// (it died, or the container went away): start it again and show the
// starting page instead of a 502.
func (p *Preview) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, "The request body is too large.", http.StatusRequestEntityTooLarge)
		return
	}
	if r.Context().Err() != nil {
		return // the browser went away
	}
	if id, ok := r.Context().Value(projectKey{}).(uuid.UUID); ok {
		p.forget(SlugOf(r.Host, "."+strings.ToLower(p.Domain)))
		p.Log.Info("preview upstream failed; restarting the project", "project", id, "err", err)
		p.Projects.Revive(context.WithoutCancel(r.Context()), id)
	}
	p.starting(w, r, "Starting the dev server again…")
}

// touch records activity at most every 10 s per project. A project this
// throttle skips cannot have been paused meanwhile: a pause needs far
// longer without use (config.MinPauseAfter), and paused rows are never
// cached, so admit sees them and resumes them itself.
func (p *Preview) touch(ctx context.Context, id uuid.UUID) {
	if !p.touchDue(id) {
		return
	}
	p.Projects.Touch(ctx, id)
}

// touchDue records a touch of the project now and reports whether the
// last one was 10 s ago or more.
func (p *Preview) touchDue(id uuid.UUID) bool {
	p.touchMu.Lock()
	defer p.touchMu.Unlock()
	now := time.Now()
	if now.Sub(p.lastTouch[id]) < 10*time.Second {
		return false
	}
	p.lastTouch[id] = now
	if len(p.lastTouch) > maxTouched {
		// Forget what is past its 10 s: deleted projects leave no trace.
		for k, at := range p.lastTouch {
			if now.Sub(at) >= 10*time.Second {
				delete(p.lastTouch, k)
			}
		}
	}
	return true
}

// maxTouched is how many projects touch remembers before it sweeps.
const maxTouched = 1024

// signIn spends a signed link: sets the owner's preview cookie on this
// host and goes on to next. A used, expired or foreign link is a 404.
func (p *Preview) signIn(w http.ResponseWriter, r *http.Request, proj db.Project) {
	l, err := p.Signer.verifyLink(r.URL.Query().Get("token"))
	if err != nil || l.Project != proj.ID || l.User != proj.OwnerID {
		notFound(w)
		return
	}
	first, err := p.Projects.UsePreviewLink(r.Context(), l.Nonce)
	if err != nil {
		http.Error(w, "Studio could not check this link; try again.", http.StatusServiceUnavailable)
		return
	}
	if !first {
		notFound(w)
		return
	}
	holder := l.holder()
	if holds, err := p.signInHolds(r.Context(), holder); err != nil {
		p.Log.Error("preview sign-in check", "project", proj.ID, "err", err)
		http.Error(w, "Studio could not check this link; try again.", http.StatusServiceUnavailable)
		return
	} else if !holds {
		p.signedOut(w, r, proj)
		return
	}
	ttl := holder.grantTTL()
	value, err := p.Signer.grant(holder, proj.ID, time.Now().Add(ttl))
	if err != nil {
		http.Error(w, "Studio could not sign you in to this preview.", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: p.cookies.Preview, Value: value, Path: "/", MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: p.Secure, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, sameHostPath(r.URL.Query().Get("next")), http.StatusSeeOther)
}

func (p *Preview) shareSignIn(w http.ResponseWriter, r *http.Request, proj db.Project, token string) {
	if proj.ShareToken == "" || !constantEqual(token, proj.ShareToken) {
		notFound(w)
		return
	}
	if holds, err := p.signInHolds(r.Context(), Holder{User: proj.OwnerID}); err != nil {
		p.Log.Error("share link owner check", "project", proj.ID, "err", err)
		http.Error(w, "Studio could not check this link; try again.", http.StatusServiceUnavailable)
		return
	} else if !holds {
		notFound(w) // the owner is disabled: the link is as good as revoked
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: p.cookies.Share, Value: token, Path: "/", MaxAge: int(GrantTTL.Seconds()),
		HttpOnly: true, Secure: p.Secure, SameSite: http.SameSiteLaxMode,
	})
	q := r.URL.Query()
	q.Del("share")
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	http.Redirect(w, r, sameHostPath(u.String()), http.StatusSeeOther)
}

// sameHostPath keeps only paths on the preview host itself.
func sameHostPath(next string) string { return auth.LocalPath(next) }

func stripStudioCookies(r *http.Request) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		// None of studio's cookies is ever forwarded to a project.
		if !auth.IsStudioCookie(c.Name) {
			r.AddCookie(c)
		}
	}
}

// notFound says nothing about whether the project exists.
func notFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "404 page not found", http.StatusNotFound)
}

var signedOutPage = template.Must(template.New("signed-out").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Signed out</title>
<style>body{font:16px system-ui,sans-serif;max-width:42rem;margin:4rem auto;padding:0 1rem;color:#0f172a}
@media(prefers-color-scheme:dark){body{color:#e2e8f0;background:#020617}a{color:#93c5fd}}</style></head>
<body data-testid="preview-signed-out"><h1>Your sign-in has ended</h1>
<p>This preview was opened from a studio session that has since ended.
<a href="{{.}}" target="_top">Sign in again</a> to see it.</p></body></html>`))

// signedOut answers a grant whose session has ended: the cookie goes, and
// a browser is asked to sign in to the UI again, which opens the project.
func (p *Preview) signedOut(w http.ResponseWriter, r *http.Request, proj db.Project) {
	http.SetCookie(w, &http.Cookie{
		Name: p.cookies.Preview, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: p.Secure, SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Error(w, "Your sign-in has ended; sign in to studio again to see this preview.", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	login := strings.TrimRight(p.PublicURL, "/") + "/login?next=" + url.QueryEscape("/projects/"+proj.ID.String())
	_ = signedOutPage.Execute(w, login)
}

var startingPage = template.Must(template.New("starting").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="1">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Starting…</title>
<style>body{font:16px system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;color:#334155;background:#f8fafc}
@media(prefers-color-scheme:dark){body{color:#cbd5e1;background:#020617}}
.s{width:18px;height:18px;border:3px solid currentColor;border-right-color:transparent;border-radius:50%;display:inline-block;animation:r 1s linear infinite;vertical-align:-3px;margin-right:8px}
@keyframes r{to{transform:rotate(360deg)}}</style></head>
<body><p role="status" data-testid="preview-starting"><span class="s" aria-hidden="true"></span>{{.}}</p></body></html>`))

// starting answers while the dev server comes up: a page that reloads
// itself for a browser, a plain 503 for scripts and sockets.
func (p *Preview) starting(w http.ResponseWriter, r *http.Request, message string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", "1")
	if r.Method != http.MethodGet || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Error(w, message, http.StatusServiceUnavailable)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = startingPage.Execute(w, message)
}

var failedPage = template.Must(template.New("failed").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>The project stopped</title>
<style>body{font:16px system-ui,sans-serif;max-width:42rem;margin:4rem auto;padding:0 1rem;color:#0f172a}pre{white-space:pre-wrap;background:#f1f5f9;padding:1rem;border-radius:.5rem}
@media(prefers-color-scheme:dark){body{color:#e2e8f0;background:#020617}pre{background:#0f172a}}</style></head>
<body data-testid="preview-error"><h1>The project’s dev server stopped</h1><pre>{{.Reason}}</pre>
{{if .Workspace}}<p><a href="{{.Workspace}}" target="_top">Open the workspace</a> to look at the logs and start it again.</p>{{end}}</body></html>`))

// failed says why the project does not run. Only its owner reads the
// reason (it can hold engine errors and figures); a share-link visitor
// learns that it is not running.
func (p *Preview) failed(w http.ResponseWriter, proj db.Project, kind accessKind, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	page := map[string]string{"Reason": "The project is not running right now; its owner can start it again."}
	if kind == byOwner {
		page["Reason"] = proj.StatusReason
		page["Workspace"] = fmt.Sprintf("%s/projects/%s", strings.TrimRight(p.PublicURL, "/"), proj.ID)
	}
	_ = failedPage.Execute(w, page)
}

// opensAPage reports whether a request is someone opening the preview: a
// browser navigation, or a client that does not say (curl, scripts).
func opensAPage(r *http.Request) bool {
	mode := r.Header.Get("Sec-Fetch-Mode")
	return (mode == "" || mode == "navigate") && r.Header.Get("Upgrade") == ""
}
