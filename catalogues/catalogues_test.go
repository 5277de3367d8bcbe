package catalogues

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"studio/netguard"
)

// names answers from a table, so no test asks a real DNS server.
type names map[string]string

func (n names) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ip, ok := n[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []netip.Addr{netip.MustParseAddr(ip)}, nil
}

// client reads urls with 127.0.0.1 allowed, as an administrator would for
// a catalogue on the same machine.
func client(t *testing.T, urls ...string) *Client {
	t.Helper()
	allow, err := netguard.ParseAllowList("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	d := netguard.NewDialer(allow)
	d.Resolver = names{"catalogue.test": "10.0.0.7", "metadata.test": "169.254.169.254"}
	var parsed []*url.URL
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, p)
	}
	return New(parsed, d, slog.New(slog.DiscardHandler))
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// server serves an index at /index.json and files at their paths, and
// counts index requests.
type server struct {
	*httptest.Server
	files   map[string][]byte
	indexes atomic.Int32
}

func newServer(t *testing.T, files map[string][]byte) *server {
	s := &server{files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/index.json" {
			s.indexes.Add(1)
		}
		b, ok := s.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func indexOf(items ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"format": "studio-catalogue", "format_version": 1, "name": "Team  agents\n", "items": items})
	return b
}

func TestListAndDownload(t *testing.T) {
	t.Parallel()
	bundle := []byte(`{"an":"agent"}`)
	srv := newServer(t, map[string][]byte{"/bundles/otter.json": bundle})
	srv.files["/index.json"] = indexOf(
		map[string]any{"id": "otter", "kind": "agent", "name": "Otter", "description": "Reads.", "tags": []string{"review"}, "version": 2,
			"bundle": "bundles/otter.json", "sha256": strings.ToUpper(digest(bundle)), "size": len(bundle)},
		map[string]any{"id": "site", "kind": "template", "name": "Site", "bundle": srv.URL + "/t.tar.gz", "sha256": digest(nil), "size": 10},
		map[string]any{"id": "otter", "kind": "agent", "name": "Twin", "bundle": "x", "sha256": digest(nil), "size": 1},    // a second id
		map[string]any{"id": "bad sha", "kind": "agent", "name": "X", "bundle": "x", "sha256": "abc", "size": 1},           // bad id and digest
		map[string]any{"id": "plugin", "kind": "plugin", "name": "X", "bundle": "x", "sha256": digest(nil), "size": 1},     // unknown kind
		map[string]any{"id": "ftp", "kind": "agent", "name": "X", "bundle": "ftp://h/x", "sha256": digest(nil), "size": 1}, // not http
		map[string]any{"id": "nosize", "kind": "agent", "name": "X", "bundle": "x", "sha256": digest(nil)},                 // no size
		map[string]any{"id": "creds", "kind": "agent", "name": "X", "bundle": "http://u:p@h/x", "sha256": digest(nil), "size": 1},
	)
	c := client(t, srv.URL+"/index.json")
	cats := c.List(context.Background())
	if len(cats) != 1 || cats[0].Err != nil {
		t.Fatalf("List = %+v", cats)
	}
	cat := cats[0]
	if cat.Name != "Team agents" || cat.Host != srv.Listener.Addr().String() || len(cat.Items) != 2 || cat.Skipped != 6 {
		t.Fatalf("catalogue: %+v", cat)
	}
	otter := cat.Items[0]
	if otter.Bundle != srv.URL+"/bundles/otter.json" || otter.SHA256 != digest(bundle) || otter.Version != 2 || otter.Tags[0] != "review" {
		t.Fatalf("otter: %+v", otter)
	}

	// The index is read once in five minutes, by place or by address.
	for _, ref := range []string{"0", srv.URL + "/index.json"} {
		if _, it, err := c.Find(context.Background(), ref, "otter"); err != nil || it.ID != "otter" {
			t.Fatalf("Find(%s) = %+v, %v", ref, it, err)
		}
	}
	if n := srv.indexes.Load(); n != 1 {
		t.Fatalf("the index was read %d times", n)
	}
	c.now = func() time.Time { return time.Now().Add(6 * time.Minute) }
	c.List(context.Background())
	if n := srv.indexes.Load(); n != 2 {
		t.Fatalf("a stale index was not read again: %d reads", n)
	}
	for ref, want := range map[string]error{"1": ErrNoCatalogue, "-1": ErrNoCatalogue, "http://other/index.json": ErrNoCatalogue} {
		if _, _, err := c.Find(context.Background(), ref, "otter"); !errors.Is(err, want) {
			t.Errorf("Find(%s) = %v", ref, err)
		}
	}
	if _, _, err := c.Find(context.Background(), "0", "nothing"); !errors.Is(err, ErrNoItem) {
		t.Errorf("Find of a missing item = %v", err)
	}

	got, err := c.Download(context.Background(), otter, 1024)
	if err != nil || string(got) != string(bundle) {
		t.Fatalf("Download = %q, %v", got, err)
	}
}

func TestDownloadRefusals(t *testing.T) {
	t.Parallel()
	bundle := []byte(`{"an":"agent"}`)
	srv := newServer(t, map[string][]byte{"/b.json": bundle, "/big.json": []byte(strings.Repeat("x", 2048))})
	c := client(t)
	good := Item{ID: "a", Kind: "agent", Name: "A", Bundle: srv.URL + "/b.json", SHA256: digest(bundle), Size: int64(len(bundle))}

	tampered := good
	tampered.SHA256 = digest([]byte(`{"an":"other"}`))
	if _, err := c.Download(context.Background(), tampered, 1024); !errors.Is(err, ErrDigest) || Note(err) != "the download does not match the catalogue's digest" {
		t.Errorf("tampered: %v (%s)", err, Note(err))
	}
	resized := good
	resized.Size++
	if _, err := c.Download(context.Background(), resized, 1024); !errors.Is(err, ErrDigest) || !strings.Contains(err.Error(), "the catalogue says 15") {
		t.Errorf("another size: %v", err)
	}
	declared := good
	declared.Size = 4096
	var tooLarge *TooLargeError
	if _, err := c.Download(context.Background(), declared, 1024); !errors.As(err, &tooLarge) || Note(err) != "the bundle is larger than the limit of 1 KiB" {
		t.Errorf("declared too large: %v", err)
	}
	understated := Item{Bundle: srv.URL + "/big.json", SHA256: digest(nil), Size: 10}
	if _, err := c.Download(context.Background(), understated, 1024); !errors.As(err, &tooLarge) {
		t.Errorf("served too large: %v", err)
	}
	missing := good
	missing.Bundle = srv.URL + "/gone.json"
	if _, err := c.Download(context.Background(), missing, 1024); Note(err) != "the server answered 404 Not Found" {
		t.Errorf("missing: %v", err)
	}
}

// TestGuard: an address the allow list does not name is refused before any
// connection, whether it is the index's, a bundle's or a redirect's.
func TestGuard(t *testing.T) {
	t.Parallel()
	var redirected atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-private":
			http.Redirect(w, r, "http://catalogue.test:8080/index.json", http.StatusMovedPermanently)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/moved":
			redirected.Add(1)
			http.Redirect(w, r, "/index.json", http.StatusFound)
		case "/index.json":
			w.Write(indexOf())
		}
	}))
	t.Cleanup(srv.Close)
	cases := []struct{ url, note string }{
		{"http://169.254.169.254/index.json", "169.254.169.254:80 is a cloud metadata address: this address is not allowed"},
		{"http://10.1.2.3:8080/index.json", "10.1.2.3:8080 is a private address"},
		{"http://catalogue.test/index.json", "catalogue.test:80 (10.0.0.7) is a private address"},
		{"https://metadata.test/index.json", "metadata.test:443 (169.254.169.254) is a cloud metadata address"},
		{"http://127.0.0.1.nip.example/index.json", "the host name 127.0.0.1.nip.example could not be resolved"},
		{srv.URL + "/to-metadata", "169.254.169.254:80 is a cloud metadata address"},
		{srv.URL + "/to-private", "catalogue.test:8080 (10.0.0.7) is a private address"},
		{srv.URL + "/to-file", "the server redirected to an address that is not http or https"},
		{srv.URL + "/loop", "the server redirected too many times"},
	}
	var urls []string
	for _, tc := range cases {
		urls = append(urls, tc.url)
	}
	c := client(t, append(urls, srv.URL+"/moved")...)
	cats := c.List(context.Background())
	for i, tc := range cases {
		if cats[i].Err == nil || !strings.Contains(Note(cats[i].Err), tc.note) {
			t.Errorf("%s: %v, note %q, want %q", tc.url, cats[i].Err, Note(cats[i].Err), tc.note)
		}
		if strings.Contains(tc.note, "not allowed") && !errors.Is(cats[i].Err, netguard.ErrBlocked) {
			t.Errorf("%s: %v is not a refusal of the guard", tc.url, cats[i].Err)
		}
	}
	if last := cats[len(cases)]; last.Err != nil || redirected.Load() != 1 {
		t.Fatalf("a redirect to an allowed address was not followed: %v", last.Err)
	}
	_, _, err := c.Find(context.Background(), "0", "x")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, netguard.ErrBlocked) {
		t.Fatalf("Find in a refused catalogue: %v", err)
	}
	// A bundle at a refused address is refused the same way.
	if _, err := c.Download(context.Background(), Item{Bundle: "http://10.0.0.9/b.json", SHA256: digest(nil), Size: 1}, 1024); !errors.Is(err, netguard.ErrBlocked) {
		t.Fatalf("a private bundle address: %v", err)
	}
}

func TestMalformedIndexes(t *testing.T) {
	t.Parallel()
	many := make([]map[string]any, MaxItems+1)
	for i := range many {
		many[i] = map[string]any{"id": fmt.Sprint(i)}
	}
	srv := newServer(t, map[string][]byte{
		"/json":    []byte(`{"format": "studio-catalogue",`),
		"/format":  []byte(`{"format": "studio-agent", "format_version": 1, "items": []}`),
		"/version": []byte(`{"format": "studio-catalogue", "format_version": 2, "items": []}`),
		"/many":    indexOf(many...),
		"/huge":    []byte(`{"format": "studio-catalogue", "format_version": 1, "name": "` + strings.Repeat("x", MaxIndexBytes) + `"}`),
	})
	want := map[string]string{
		"/json": "the index is not valid JSON", "/format": `the index's "format" is not "studio-catalogue"`,
		"/version": `the index's "format_version" is not one this studio reads (1)`, "/many": "the index lists more than 1000 items",
		"/huge": "the index is larger than the limit of 1 MiB", "/none": "the server answered 404 Not Found",
	}
	paths := []string{"/json", "/format", "/version", "/many", "/huge", "/none"}
	var urls []string
	for _, p := range paths {
		urls = append(urls, srv.URL+p)
	}
	cats := client(t, urls...).List(context.Background())
	for i, p := range paths {
		if got := Note(cats[i].Err); got != want[p] {
			t.Errorf("%s: note %q, want %q", p, got, want[p])
		}
		if cats[i].Name != srv.Listener.Addr().String() {
			t.Errorf("%s: a failing catalogue is named %q, not by its host", p, cats[i].Name)
		}
	}
}

// Requests that want a catalogue while it is read wait for that one read;
// one that leaves meanwhile does not fail it for the others.
func TestOneReadAtATime(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var reads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		<-release
		w.Write(indexOf())
	}))
	t.Cleanup(srv.Close)
	c := client(t, srv.URL+"/index.json")

	leaving, leave := context.WithCancel(context.Background())
	left := make(chan Catalogue)
	go func() { left <- c.List(leaving)[0] }()
	results := make(chan Catalogue, 5)
	for range 5 {
		go func() { results <- c.List(context.Background())[0] }()
	}
	leave()
	if cat := <-left; !errors.Is(cat.Err, context.Canceled) {
		t.Fatalf("the request that left got %v", cat.Err)
	}
	close(release)
	for range 5 {
		if cat := <-results; cat.Err != nil || cat.Name != "Team agents" {
			t.Fatalf("a waiting request got %+v", cat)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("the index was read %d times", n)
	}
}
