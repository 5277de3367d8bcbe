// Package catalogues reads the remote marketplace catalogues the
// administrator names in STUDIO_MARKETPLACE_URLS. Each is an index of
// bundles on any web server, so instances
// share agents and templates without a central server. Every request (an
// index, a redirect, a bundle) goes through the guarded dialer, and every
// download is checked against the digest its index gives.
//
// Indexes are cached in memory, per replica, for a few minutes: a
// catalogue is public data, so replicas need not agree on it.
package catalogues

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"studio/netguard"
)

// The index format.
const (
	Format        = "studio-catalogue"
	FormatVersion = 1
)

// Limits of what a catalogue may make studio read.
const (
	MaxIndexBytes = 1 << 20
	MaxItems      = 1000
	maxRedirects  = 5
)

// How long answers are kept, and waited for.
const (
	freshFor        = 5 * time.Minute
	failureFreshFor = 30 * time.Second
	indexTimeout    = 10 * time.Second
	bundleTimeout   = 30 * time.Second
)

// Errors of a download or a look-up.
var (
	ErrDigest       = errors.New("the download does not match the catalogue's digest")
	ErrNoCatalogue  = errors.New("there is no such catalogue")
	ErrNoItem       = errors.New("the catalogue has no such item")
	ErrUnavailable  = errors.New("the catalogue could not be read")
	errTooManyHops  = errors.New("the server redirected too many times")
	errBadRedirect  = errors.New("the server redirected to an address that is not http or https")
	errCredentialed = errors.New("the server redirected to an address with a user name or password")
)

// TooLargeError is a download refused for its size.
type TooLargeError struct {
	What  string // "the index", "the bundle"
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than the limit of %s", e.What, humanBytes(e.Limit))
}

// StatusError is a server's answer other than 200.
type StatusError struct{ Status string }

func (e *StatusError) Error() string { return "the server answered " + e.Status }

// Item is one bundle an index lists, checked; Bundle is absolute.
type Item struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"` // agent | template
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
	Version     int      `json:"version"`
	Bundle      string   `json:"bundle"`
	SHA256      string   `json:"sha256"`
	Size        int64    `json:"size"`
}

// Catalogue is one index as last read.
type Catalogue struct {
	Ref       int    // its place in STUDIO_MARKETPLACE_URLS, from 0
	URL       string // of its index
	Host      string
	Name      string // the index's own name, or the host
	Items     []Item
	Skipped   int   // entries left out for a missing or malformed field
	Err       error // why it could not be read; nil when it was
	FetchedAt time.Time
}

// Client reads the configured catalogues.
type Client struct {
	urls []*url.URL
	http *http.Client
	log  *slog.Logger
	now  func() time.Time

	mu    sync.Mutex
	cache map[int]*entry
}

// entry is a catalogue as last read, and the read under way if one is.
type entry struct {
	cat     Catalogue
	read    bool          // cat holds a finished read
	reading chan struct{} // closed when the read under way ends; nil when none is
}

// New returns a client for the catalogues at urls; every connection goes
// through d.
func New(urls []*url.URL, d *netguard.Dialer, log *slog.Logger) *Client {
	hc := netguard.NewClient(d)
	// A GET carries no secret, so a redirect may be followed: its target is
	// dialled through the same guard as the first address.
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		switch {
		case len(via) >= maxRedirects:
			return errTooManyHops
		case req.URL.Scheme != "http" && req.URL.Scheme != "https":
			return errBadRedirect
		case req.URL.User != nil:
			return errCredentialed
		}
		return nil
	}
	return &Client{urls: urls, http: hc, log: log, now: time.Now, cache: map[int]*entry{}}
}

// List reads every catalogue, from the cache where it is fresh, at the same
// time; a catalogue that fails carries its error.
func (c *Client) List(ctx context.Context) []Catalogue {
	out := make([]Catalogue, len(c.urls))
	var wg sync.WaitGroup
	for i := range c.urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.catalogue(ctx, i)
		}()
	}
	wg.Wait()
	return out
}

// Find looks an item up in a catalogue named by its place ("0") or by
// the address of its index.
func (c *Client) Find(ctx context.Context, ref, id string) (Catalogue, Item, error) {
	i, ok := c.resolve(ref)
	if !ok {
		return Catalogue{}, Item{}, ErrNoCatalogue
	}
	cat := c.catalogue(ctx, i)
	if cat.Err != nil {
		return cat, Item{}, fmt.Errorf("%w: %w", ErrUnavailable, cat.Err)
	}
	for _, it := range cat.Items {
		if it.ID == id {
			return cat, it, nil
		}
	}
	return cat, Item{}, ErrNoItem
}

func (c *Client) resolve(ref string) (int, bool) {
	if n, err := strconv.Atoi(ref); err == nil {
		return n, n >= 0 && n < len(c.urls)
	}
	for i, u := range c.urls {
		if u.String() == ref {
			return i, true
		}
	}
	return 0, false
}

// Download fetches an item's bundle, at most limit bytes, and returns it
// only if its size and SHA-256 are the ones the index gives.
func (c *Client) Download(ctx context.Context, it Item, limit int64) ([]byte, error) {
	if it.Size > limit {
		return nil, &TooLargeError{What: "the bundle", Limit: limit}
	}
	ctx, cancel := context.WithTimeout(ctx, bundleTimeout)
	defer cancel()
	data, err := c.get(ctx, it.Bundle, limit, "the bundle")
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != it.Size {
		return nil, fmt.Errorf("%w (it is %d bytes, the catalogue says %d)", ErrDigest, len(data), it.Size)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != it.SHA256 {
		return nil, ErrDigest
	}
	return data, nil
}

// catalogue is catalogue i, read again when the cached copy is stale. One
// read at a time per catalogue: the requests that want it meanwhile wait
// for that read (or their own end), so a busy page never sends a burst to
// another server, and a person who leaves does not fail the read for others.
func (c *Client) catalogue(ctx context.Context, i int) Catalogue {
	c.mu.Lock()
	e, ok := c.cache[i]
	if !ok {
		e = &entry{}
		c.cache[i] = e
	}
	if e.read && c.now().Sub(e.cat.FetchedAt) < e.cat.freshFor() {
		c.mu.Unlock()
		return e.cat
	}
	if e.reading == nil {
		e.reading = make(chan struct{})
		// The read is bounded by indexTimeout, not by the asker.
		go c.refresh(context.WithoutCancel(ctx), i, e)
	}
	reading := e.reading
	c.mu.Unlock()
	select {
	case <-reading:
		c.mu.Lock()
		defer c.mu.Unlock()
		return e.cat
	case <-ctx.Done():
		u := c.urls[i]
		return Catalogue{Ref: i, URL: u.String(), Host: u.Host, Name: u.Host, Err: ctx.Err(), FetchedAt: c.now()}
	}
}

// refresh reads catalogue i into e and wakes those waiting for it.
func (c *Client) refresh(ctx context.Context, i int, e *entry) {
	cat := c.fetch(ctx, i)
	if cat.Err != nil {
		c.log.Warn("a marketplace catalogue could not be read", "url", cat.URL, "error", cat.Err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e.cat, e.read = cat, true
	close(e.reading)
	e.reading = nil
}

func (cat Catalogue) freshFor() time.Duration {
	if cat.Err != nil {
		return failureFreshFor
	}
	return freshFor
}

func (c *Client) fetch(ctx context.Context, i int) Catalogue {
	u := c.urls[i]
	cat := Catalogue{Ref: i, URL: u.String(), Host: u.Host, Name: u.Host, FetchedAt: c.now()}
	ctx, cancel := context.WithTimeout(ctx, indexTimeout)
	defer cancel()
	data, err := c.get(ctx, u.String(), MaxIndexBytes, "the index")
	if err == nil {
		err = cat.parse(u, data)
	}
	cat.Err = err
	return cat
}

// get reads a URL's body, refusing anything but 200 and more than limit
// bytes.
func (c *Client) get(ctx context.Context, address string, limit int64, what string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, address, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, */*")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, &StatusError{Status: res.Status}
	}
	if res.ContentLength > limit {
		return nil, &TooLargeError{What: what, Limit: limit}
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &TooLargeError{What: what, Limit: limit}
	}
	return data, nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
