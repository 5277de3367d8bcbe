package templates

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var info = Info{Name: "Otters", Description: "A site about otters.", Base: "static", Tags: []string{"otters"}, Screenshots: []string{"shot.png"}}

func sample() map[string][]byte {
	return map[string][]byte{
		"index.html":   []byte("<h1>Otters</h1>"),
		"src/app.js":   []byte("console.log('otters')"),
		"shot.png":     []byte("\x89PNG\r\n\x1a\n...."),
		"bin/build.sh": []byte("#!/bin/sh\necho build\n"),
	}
}

func TestPackAndReadRoundTrip(t *testing.T) {
	files := sample()
	data, err := Pack(info, files, map[string]bool{"bin/build.sh": true}, &Source{ItemID: "otters-1", Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Read(data, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Template.Name != "Otters" || b.Manifest.Source.ItemID != "otters-1" || len(b.Files) != len(files) {
		t.Fatalf("read back: %+v", b.Manifest)
	}
	for p, want := range files {
		if !bytes.Equal(b.Files[p], want) {
			t.Errorf("%s: %q, want %q", p, b.Files[p], want)
		}
	}
	dir := filepath.Join(t.TempDir(), "p")
	if err := b.Extract(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "bin/build.sh"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("executable: %v %v", fi, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "src/app.js")); string(got) != "console.log('otters')" {
		t.Fatalf("extracted: %q", got)
	}
}

// entry is one tar entry of a hand-made bundle.
type entry struct {
	hdr  tar.Header
	body []byte
}

// craft writes a bundle entry by entry, so a test can make any bundle a
// hostile person could.
func craft(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func manifestFor(t *testing.T, files map[string][]byte) entry {
	t.Helper()
	m := Manifest{Format: Format, FormatVersion: FormatVersion, Template: Info{Name: "x", Base: "static"}}
	for p, b := range files {
		sum := sha256.Sum256(b)
		m.Files = append(m.Files, File{Path: p, Size: int64(len(b)), Mode: 0o644, SHA256: hex.EncodeToString(sum[:])})
	}
	raw, _ := json.Marshal(m)
	return entry{hdr: tar.Header{Name: ManifestName}, body: raw}
}

func file(name string, body string) entry {
	return entry{hdr: tar.Header{Name: name}, body: []byte(body)}
}

func TestReadRefusesHostileBundles(t *testing.T) {
	ok := map[string][]byte{"index.html": []byte("hi")}
	small := Limits{MaxBytes: 1 << 10, MaxFiles: 3, MaxBundle: 64 << 10}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not gzip", []byte("PK\x03\x04 a zip"), "not gzip-compressed"},
		{"no manifest first", craft(t, file("files/index.html", "hi"), manifestFor(t, ok)), "does not start with its manifest"},
		{"tampered file", craft(t, manifestFor(t, ok), file("files/index.html", "ho")), "does not match its SHA-256"},
		{"changed size", craft(t, manifestFor(t, ok), file("files/index.html", "hii")), "the manifest says 2"},
		{"parent path", craft(t, manifestFor(t, map[string][]byte{"../evil": []byte("x")}), file("files/../evil", "x")), "leads out of the project"},
		{"parent path in the tar only", craft(t, manifestFor(t, ok), file("files/index.html", "hi"), file("files/../../etc/cron.d/x", "x")), "leads out of the project"},
		{"absolute path", craft(t, manifestFor(t, map[string][]byte{"/etc/passwd": []byte("x")}), file("files//etc/passwd", "x")), "absolute path"},
		{"absolute tar name", craft(t, manifestFor(t, ok), file("files/index.html", "hi"), file("/etc/passwd", "x")), "outside the bundle's files/ folder"},
		{"symlink", craft(t, manifestFor(t, ok), entry{hdr: tar.Header{Name: "files/index.html", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}), "is a link"},
		{"hard link", craft(t, manifestFor(t, ok), entry{hdr: tar.Header{Name: "files/index.html", Typeflag: tar.TypeLink, Linkname: "files/x"}}), "is a link"},
		{"device", craft(t, manifestFor(t, ok), entry{hdr: tar.Header{Name: "files/index.html", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}), "device or pipe"},
		{"fifo", craft(t, manifestFor(t, ok), entry{hdr: tar.Header{Name: "files/index.html", Typeflag: tar.TypeFifo}}), "device or pipe"},
		{"file not in manifest", craft(t, manifestFor(t, ok), file("files/index.html", "hi"), file("files/extra.js", "x")), "not in its manifest"},
		{"missing file", craft(t, manifestFor(t, ok)), "in the manifest but not in the bundle"},
		{"file and folder", craft(t, manifestFor(t, map[string][]byte{"a": nil, "a/b": nil}), file("files/a", ""), file("files/a/b", "")), "both a file and a folder"},
		{"duplicate", craft(t, manifestFor(t, ok), file("files/index.html", "hi"), file("files/index.html", "hi")), "twice"},
		{"node_modules", craft(t, manifestFor(t, map[string][]byte{"node_modules/x/index.js": []byte("x")}), file("files/node_modules/x/index.js", "x")), "never carries"},
		{"wrong format", craft(t, entry{hdr: tar.Header{Name: ManifestName}, body: []byte(`{"format":"studio-agent","format_version":1}`)}), "not a studio template bundle"},
		{"bad JSON", craft(t, entry{hdr: tar.Header{Name: ManifestName}, body: []byte(`{"format":`)}), "not valid JSON"},
		{"too many files", craft(t, manifestFor(t, map[string][]byte{"a": nil, "b": nil, "c": nil, "d": nil})), "more than the 3"},
		{"too large", craft(t, manifestFor(t, map[string][]byte{"a": bytes.Repeat([]byte("x"), 2<<10)})), "which a template cannot hold"},
		{"cut off", craft(t, manifestFor(t, ok), file("files/index.html", "hi"))[:40], "ends too early"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tc.data, small)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read: %v; want an ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestReadRefusesABombBeforeInflatingIt(t *testing.T) {
	// A megabyte of zeros in the manifest's place compresses to about a
	// kilobyte; the reader stops at the limit instead of inflating it all.
	zeros := make([]byte, 8<<20)
	data := craft(t, entry{hdr: tar.Header{Name: "files/zeros"}, body: zeros})
	lim := Limits{MaxBytes: 1 << 20, MaxFiles: 10, MaxBundle: 1 << 20}
	if _, err := Read(data, lim); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bomb: %v", err)
	}
	big := craft(t, manifestFor(t, map[string][]byte{"zeros": zeros}), entry{hdr: tar.Header{Name: "files/zeros"}, body: zeros})
	if _, err := Read(big, lim); err == nil || !strings.Contains(err.Error(), "cannot hold") {
		t.Fatalf("large file: %v", err)
	}
	if _, err := Read(bytes.Repeat([]byte{1}, 2<<20), lim); err == nil || !strings.Contains(err.Error(), "more than the 1 MiB") {
		t.Fatalf("oversized bundle: %v", err)
	}
}

func TestCollectLeavesOutWhatATemplateNeverCarries(t *testing.T) {
	dir := t.TempDir()
	write := func(p, body string) {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", "<h1>hi</h1>")
	write("src/main.js", "x")
	write("src/build/helper.js", "kept: only top-level build output is left out")
	write(".env", "SECRET=1")
	write(".env.local", "SECRET=2")
	write(".env.example", "SECRET=")
	write("certs/server.key", "key")
	write("id_ed25519", "key")
	write(".npmrc", "//registry.npmjs.org/:_authToken=x")
	write("config/.aws/credentials", "[default]")
	write(".git-credentials", "https://me:token@github.com")
	write("dist/app.js", "built")
	write(".git/config", "[core]")
	write("node_modules/x/index.js", "dep")
	write(".studio/node_modules/.vite/x", "cache")
	os.Symlink("/etc/passwd", filepath.Join(dir, "passwd"))
	c, err := Collect(dir, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for p := range c.Files {
		kept = append(kept, p)
	}
	var left []string
	for _, s := range c.Skipped {
		left = append(left, s.Path)
	}
	if strings.Join(sorted(kept), " ") != ".env.example index.html src/build/helper.js src/main.js" {
		t.Errorf("kept: %v", sorted(kept))
	}
	if strings.Join(left, " ") != ".env .env.local .git .git-credentials .npmrc .studio certs/server.key config/.aws/credentials dist id_ed25519 node_modules passwd" {
		t.Errorf("left out: %v", left)
	}
	if _, err := Collect(dir, Limits{MaxBytes: 10, MaxFiles: 100, MaxBundle: 100}); err == nil || !strings.Contains(err.Error(), "more than the 10 B") {
		t.Errorf("over the size limit: %v", err)
	}
	if _, err := Collect(dir, Limits{MaxBytes: 1 << 20, MaxFiles: 2, MaxBundle: 1 << 20}); err == nil || !strings.Contains(err.Error(), "more than 2 files") {
		t.Errorf("over the file limit: %v", err)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// FuzzRead: no bundle, however made, panics the reader, and whatever it
// accepts extracts inside the folder it is given.
func FuzzRead(f *testing.F) {
	good, err := Pack(info, sample(), nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0x1f, 0x8b})
	f.Add([]byte("not a bundle"))
	lim := Limits{MaxBytes: 1 << 20, MaxFiles: 100, MaxBundle: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Read(data, lim)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("a refusal that is not ErrInvalid: %v", err)
			}
			return
		}
		dir := t.TempDir()
		if err := b.Extract(filepath.Join(dir, "p")); err != nil {
			t.Fatalf("extract of an accepted bundle: %v", err)
		}
	})
}
