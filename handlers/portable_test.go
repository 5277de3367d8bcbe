package handlers

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/config"
	"studio/internal/testwait"
)

func (e *testEnv) importZip(token, name string, data []byte) (*http.Response, map[string]any) {
	e.t.Helper()
	res, body := e.do("POST", "/api/projects/import?name="+url.QueryEscape(name), bytes.NewReader(data), append(bearer(token), "Content-Type", "application/zip")...)
	var out map[string]any
	_ = json.Unmarshal([]byte(body), &out)
	return res, out
}

func TestZipExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	src := env.newProjectFrom(alice, "Zip source", "react-vite")
	dir := env.projectDir(uuid.MustParse(src))
	os.WriteFile(filepath.Join(dir, "src/extra.ts"), []byte("export const otter = 1\n"), 0o644)

	res, raw := env.do("GET", "/api/projects/"+src+"/export.zip", nil, bearer(alice)...)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/zip" ||
		res.Header.Get("Content-Disposition") != `attachment; filename="zip-source.zip"` {
		t.Fatalf("export: %d %v", res.StatusCode, res.Header)
	}
	zr, err := zip.NewReader(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "node_modules") || strings.HasPrefix(f.Name, ".studio") {
			t.Errorf("the export holds %s", f.Name)
		}
	}
	// Another user cannot export it.
	bob := env.register("bob@example.com")
	if res, _ := env.do("GET", "/api/projects/"+src+"/export.zip", nil, bearer(bob)...); res.StatusCode != http.StatusNotFound {
		t.Fatalf("another user's export: %d", res.StatusCode)
	}

	res, out := env.importZip(bob, "Zip copy", []byte(raw))
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("import: %d %v", res.StatusCode, out)
	}
	p := out["project"].(map[string]any)
	if p["template"] != "react-vite" {
		t.Fatalf("imported project: %v", p)
	}
	id := p["id"].(string)
	testwait.Eventually(t, 90*time.Second, func() bool {
		_, body := env.json("GET", "/api/projects/"+id, nil, bearer(bob)...)
		return body["project"].(map[string]any)["status"] == "active"
	}, "the imported project is active")
	copyDir := env.projectDir(uuid.MustParse(id))
	for _, f := range zr.File {
		want, _ := os.ReadFile(filepath.Join(dir, f.Name))
		got, err := os.ReadFile(filepath.Join(copyDir, f.Name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs after the round trip: %v", f.Name, err)
		}
	}
	if fi, err := os.Lstat(filepath.Join(copyDir, "node_modules")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the import did not reuse the runtime image's dependencies: %v", err)
	}
	if page := env.serves(id, "/src/extra.ts"); !strings.Contains(page, "otter") {
		t.Fatalf("the imported project serves %s", page)
	}
}

func TestZipImportRefusesHostileZips(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(c *config.Config, _ *Deps) { c.ImportMaxSize = 4 << 20 })
	alice := env.register("alice@example.com")
	mk := func(name string, mode fs.FileMode, body []byte) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		hdr := &zip.FileHeader{Name: name, Method: zip.Deflate}
		if mode != 0 {
			hdr.SetMode(mode)
		}
		w, _ := zw.CreateHeader(hdr)
		w.Write(body)
		zw.Close()
		return buf.Bytes()
	}
	many := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for i := range 10_001 {
			zw.Create(fmt.Sprintf("f%d", i))
		}
		zw.Close()
		return buf.Bytes()
	}()
	for _, tc := range []struct {
		name   string
		data   []byte
		status int
		want   string
	}{
		{"zip-slip", mk("../../../tmp/evil", 0, []byte("x")), 400, "leads out of the project"},
		{"absolute", mk("/etc/cron.d/evil", 0, []byte("x")), 400, "absolute path"},
		{"symlink", mk("passwd", fs.ModeSymlink|0o777, []byte("/etc/passwd")), 400, "symbolic link"},
		{"device", mk("null", fs.ModeDevice|fs.ModeCharDevice|0o666, nil), 400, "device, pipe or socket"},
		{"bomb", mk("zeros", 0, make([]byte, 3<<20)), 400, "zip bomb"},
		{"too many files", many, 400, "more than 10000 files"},
		{"too large", bytes.Repeat([]byte("x"), 4<<20+1), 413, "larger than the limit"},
		{"not a zip", []byte("hello"), 400, "not a zip archive"},
	} {
		res, out := env.importZip(alice, "Evil", tc.data)
		if e, _ := out["error"].(map[string]any); res.StatusCode != tc.status || !strings.Contains(fmt.Sprint(e["message"]), tc.want) {
			t.Errorf("%s: %d %v; want %d with %q", tc.name, res.StatusCode, out, tc.status, tc.want)
		}
	}
	_, list := env.json("GET", "/api/projects", nil, bearer(alice)...)
	if n := len(list["projects"].([]any)); n != 0 {
		t.Fatalf("a refused zip made %d projects", n)
	}
	entries, _ := os.ReadDir(filepath.Join(env.dir, "projects"))
	if len(entries) != 0 {
		t.Fatalf("a refused zip wrote %d folders", len(entries))
	}

	// The dashboard's form keeps the name and says why.
	b := env.browser()
	b.signup("bob@example.com")
	_, _, csrf := b.page("/")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf_token", csrf)
	mw.WriteField("name", "My evil import")
	fw, _ := mw.CreateFormFile("zip", "evil.zip")
	fw.Write(mk("../evil", 0, []byte("x")))
	mw.Close()
	res, html := b.do("POST", "/projects/import", &body, "Content-Type", mw.FormDataContentType())
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(html, "leads out of the project") || !strings.Contains(html, `value="My evil import"`) {
		t.Fatalf("form: %d %s", res.StatusCode, html)
	}
}
