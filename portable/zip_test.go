package portable

import (
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type zentry struct {
	name string
	mode fs.FileMode
	body []byte
}

// makeZip writes entries as a hostile sender could.
func makeZip(t testing.TB, entries ...zentry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		hdr := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			hdr.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func read(data []byte, lim Limits) (*Files, error) {
	return Read(bytes.NewReader(data), int64(len(data)), lim)
}

func TestWriteAndReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	write := func(p, body string, mode fs.FileMode) {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", "<h1>hi</h1>", 0o644)
	write("src/app.js", "app", 0o644)
	write("bin/run.sh", "#!/bin/sh", 0o755)
	write(".env", "KEY=mine", 0o644)
	write("dist/out.js", "built", 0o644)
	write("node_modules/x/i.js", "dep", 0o644)
	write(".studio/cache", "cache", 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "link"))
	var buf bytes.Buffer
	if err := Write(&buf, dir); err != nil {
		t.Fatal(err)
	}
	got, err := read(buf.Bytes(), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for p := range got.Files {
		names = append(names, p)
	}
	if len(names) != 4 || string(got.Files[".env"]) != "KEY=mine" || string(got.Files["src/app.js"]) != "app" || !got.Exec["bin/run.sh"] || got.Exec["index.html"] {
		t.Fatalf("round trip: %v exec %v", names, got.Exec)
	}
}

func TestReadStripsOneCommonFolder(t *testing.T) {
	got, err := read(makeZip(t, zentry{name: "repo-main/", mode: fs.ModeDir | 0o755}, zentry{name: "repo-main/index.html", body: []byte("x")},
		zentry{name: "repo-main/src/a.js", body: []byte("a")}, zentry{name: "repo-main/node_modules/x/i.js", body: []byte("d")}), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != 2 || got.Files["index.html"] == nil || got.Files["src/a.js"] == nil || len(got.Skipped) != 1 {
		t.Fatalf("files %v, skipped %v", got.Files, got.Skipped)
	}
}

func TestReadRefusesHostileZips(t *testing.T) {
	small := Limits{MaxBytes: 4 << 20, MaxFiles: 3, MaxRatio: 100}
	zeros := make([]byte, 3<<20)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not a zip", []byte("\x1f\x8b gzip"), "not a zip archive"},
		{"zip-slip", makeZip(t, zentry{name: "../../etc/cron.d/evil", body: []byte("x")}), "leads out of the project"},
		{"zip-slip inside", makeZip(t, zentry{name: "src/../../evil", body: []byte("x")}), "leads out of the project"},
		{"absolute", makeZip(t, zentry{name: "/etc/passwd", body: []byte("x")}), "absolute path"},
		{"drive letter", makeZip(t, zentry{name: "C:/evil", body: []byte("x")}), "absolute path"},
		{"backslash", makeZip(t, zentry{name: `..\evil`, body: []byte("x")}), "backslash"},
		{"symlink", makeZip(t, zentry{name: "link", mode: fs.ModeSymlink | 0o777, body: []byte("/etc/passwd")}), "symbolic link"},
		{"device", makeZip(t, zentry{name: "null", mode: fs.ModeDevice | fs.ModeCharDevice | 0o666}), "device, pipe or socket"},
		{"fifo", makeZip(t, zentry{name: "pipe", mode: fs.ModeNamedPipe | 0o666}), "device, pipe or socket"},
		{"too many files", makeZip(t, zentry{name: "a"}, zentry{name: "b"}, zentry{name: "c"}, zentry{name: "d"}), "more than 3 files"},
		{"too large", makeZip(t, zentry{name: "a", body: bytes.Repeat([]byte("ab"), 3<<20)}), "more than the 4 MiB"},
		{"bomb", makeZip(t, zentry{name: "zeros", body: zeros}), "zip bomb"},
		{"duplicate", makeZip(t, zentry{name: "a", body: []byte("1")}, zentry{name: "a", body: []byte("2")}), "twice"},
		{"file and folder", makeZip(t, zentry{name: "a", body: []byte("1")}, zentry{name: "a/b", body: []byte("2")}), "both a file and a folder"},
		{"too many entries", makeZip(t, zentry{name: "a/", mode: fs.ModeDir | 0o755}, zentry{name: "b/", mode: fs.ModeDir | 0o755}, zentry{name: "c/", mode: fs.ModeDir | 0o755},
			zentry{name: "d/", mode: fs.ModeDir | 0o755}, zentry{name: "e/", mode: fs.ModeDir | 0o755}, zentry{name: "f/", mode: fs.ModeDir | 0o755}, zentry{name: "g/", mode: fs.ModeDir | 0o755}), "7 entries"},
		{"empty", makeZip(t, zentry{name: "dir/", mode: fs.ModeDir | 0o755}), "holds no files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read(tc.data, small)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read: %v; want an ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

// A header that understates an entry's size is caught when the stream
// runs past it, before the rest is inflated.
func TestReadRefusesAHeaderThatLies(t *testing.T) {
	data := makeZip(t, zentry{name: "a.txt", body: bytes.Repeat([]byte("x"), 1000)})
	// The central directory's uncompressed size (offset 24 in its record).
	i := bytes.LastIndex(data, []byte("PK\x01\x02"))
	data[i+24], data[i+25], data[i+26], data[i+27] = 10, 0, 0, 0
	if _, err := read(data, DefaultLimits); err == nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("lying header: %v", err)
	}
}

// FuzzRead: no zip, however made, panics the reader, and whatever it
// accepts is written inside the folder it is given.
func FuzzRead(f *testing.F) {
	f.Add(makeZip(f, zentry{name: "index.html", body: []byte("<h1>hi</h1>")}, zentry{name: "src/a.js", body: []byte("a")}))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := read(data, Limits{MaxBytes: 1 << 20, MaxFiles: 100, MaxRatio: 100})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("a refusal that is not ErrInvalid: %v", err)
			}
			return
		}
		for p := range got.Files {
			if !filepath.IsLocal(p) {
				t.Fatalf("accepted a path that leaves the folder: %q", p)
			}
		}
	})
}
