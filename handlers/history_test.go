package handlers

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pt "studio/agents/providers/providertest"
)

// changedFiles maps the paths of a changes or diff answer to their status.
func changedFiles(body map[string]any) map[string]string {
	out := map[string]string{}
	list, _ := body["files"].([]any)
	for _, f := range list {
		m := f.(map[string]any)
		out[m["path"].(string)] = m["status"].(string)
	}
	return out
}

func TestRunChangesShowTheDiffAndRevertOneFileExactly(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	fake := pt.New("openai")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "openai", "static", fake)
	// Bytes a text round trip could change: CRLF, no final newline, a tab.
	original := []byte("<h1>Old title</h1>\r\n\t<p>kept</p>")
	if res, body := env.put(token, project, "page.html", original); res.StatusCode != 200 {
		t.Fatalf("put: %d %s", res.StatusCode, body)
	}
	fake.Push(
		pt.Use(pt.Call{Name: "write_file", Args: args(map[string]string{"path": "page.html", "content": "<h1>New title</h1>\n\t<p>kept</p>\n"})}),
		pt.Use(pt.Call{Name: "write_file", Args: args(map[string]string{"path": "notes/added.txt", "content": "made by the run\n"})}),
		pt.Say("Done."),
	)
	run := env.chat(token, project, map[string]any{"message": "Change the title", "model": "openai/gpt-4o-mini"})
	if got := last(env.stream(token, run, 0, nil)); got.Data["status"] != "succeeded" {
		t.Fatalf("run ended %v", got)
	}
	// An edit after the run is not the run's.
	env.put(token, project, "later.txt", []byte("mine"))

	res, body := env.json("GET", "/api/runs/"+run+"/changes", nil, bearer(token)...)
	if res.StatusCode != 200 {
		t.Fatalf("changes: %d %v", res.StatusCode, body)
	}
	if got := changedFiles(body); len(got) != 2 || got["page.html"] != "modified" || got["notes/added.txt"] != "added" {
		t.Fatalf("changed files: %v", body["files"])
	}
	res, body = env.json("GET", "/api/runs/"+run+"/changes?path=page.html", nil, bearer(token)...)
	file, _ := body["file"].(map[string]any)
	if res.StatusCode != 200 || file["before"] != string(original) || !strings.Contains(file["after"].(string), "New title") || file["binary"] != false {
		t.Fatalf("diff of page.html: %d %v", res.StatusCode, body)
	}

	// Another user sees no such run.
	other := env.register("b@example.com")
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/runs/" + run + "/changes"},
		{"GET", "/api/runs/" + run + "/changes?path=page.html"},
		{"POST", "/api/runs/" + run + "/revert"},
	} {
		if res, body := env.json(r.method, r.path, map[string]string{"path": "page.html"}, bearer(other)...); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s by another user: %d %v", r.method, r.path, res.StatusCode, body)
		}
	}
	// Bad input is refused in words.
	for _, req := range []map[string]string{{"path": ""}, {"path": "../outside"}} {
		res, body := env.json("POST", "/api/runs/"+run+"/revert", req, bearer(token)...)
		if res.StatusCode/100 != 4 || res.StatusCode == 404 || body["message"] == "" {
			t.Errorf("revert %v: %d %v", req, res.StatusCode, body)
		}
	}

	// Revert one file: exactly its bytes from before the run; the other
	// change stays until it is reverted too, which deletes it.
	res, body = env.json("POST", "/api/runs/"+run+"/revert", map[string]string{"path": "page.html"}, bearer(token)...)
	if res.StatusCode != 200 {
		t.Fatalf("revert: %d %v", res.StatusCode, body)
	}
	dir := env.projectDir(mustUUID(project))
	if now, _ := os.ReadFile(filepath.Join(dir, "page.html")); !bytes.Equal(now, original) {
		t.Fatalf("after revert: %q, want %q", now, original)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes/added.txt")); err != nil {
		t.Fatal("reverting page.html touched notes/added.txt")
	}
	if res, body := env.json("POST", "/api/runs/"+run+"/revert", map[string]string{"path": "notes/added.txt"}, bearer(token)...); res.StatusCode != 200 {
		t.Fatalf("revert the added file: %d %v", res.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes/added.txt")); !os.IsNotExist(err) {
		t.Fatalf("a file the run created is still there after its revert: %v", err)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "later.txt")); string(now) != "mine" {
		t.Fatalf("later.txt: %q", now)
	}
	// The run still shows what it changed.
	if _, body := env.json("GET", "/api/runs/"+run+"/changes", nil, bearer(token)...); len(changedFiles(body)) != 2 {
		t.Fatalf("changes after the reverts: %v", body)
	}
}

func TestSaveVersionDiffRestoreAndUndoTheRestore(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	tok := env.register("a@example.com")
	id := env.newProject(tok, "versions")
	env.put(tok, id, "a.txt", []byte("one\ntwo\n"))
	env.put(tok, id, "big.txt", bytes.Repeat([]byte("x"), 1<<20+1))
	env.put(tok, id, "logo.bin", []byte{0x89, 'P', 'N', 'G', 0, 1, 2})
	res, body := env.json("POST", "/api/projects/"+id+"/checkpoints", map[string]string{"label": "First version"}, bearer(tok)...)
	if res.StatusCode != 201 {
		t.Fatalf("save version: %d %v", res.StatusCode, body)
	}
	v1 := body["checkpoint"].(map[string]any)["id"].(string)

	env.put(tok, id, "a.txt", []byte("one\nTWO\n"))
	env.put(tok, id, "big.txt", bytes.Repeat([]byte("y"), 1<<20+1))
	env.put(tok, id, "logo.bin", []byte{0x89, 'P', 'N', 'G', 0, 9})
	env.put(tok, id, "b.txt", []byte("new"))

	res, body = env.json("GET", "/api/projects/"+id+"/diff?from="+v1, nil, bearer(tok)...)
	if got := changedFiles(body); res.StatusCode != 200 || got["a.txt"] != "modified" || got["b.txt"] != "added" || got["big.txt"] != "modified" || got["logo.bin"] != "modified" {
		t.Fatalf("diff with now: %d %v", res.StatusCode, body)
	}
	for path, check := range map[string]func(map[string]any) bool{
		"a.txt":    func(f map[string]any) bool { return f["before"] == "one\ntwo\n" && f["after"] == "one\nTWO\n" },
		"big.txt":  func(f map[string]any) bool { return f["too_large"] == true && f["before"] == "" && f["after"] == "" },
		"logo.bin": func(f map[string]any) bool { return f["binary"] == true && f["before"] == "" },
	} {
		res, body := env.json("GET", "/api/projects/"+id+"/diff?from="+v1+"&to=current&path="+path, nil, bearer(tok)...)
		if f, _ := body["file"].(map[string]any); res.StatusCode != 200 || !check(f) {
			t.Errorf("diff of %s: %d %v", path, res.StatusCode, body)
		}
	}
	for _, q := range []string{"", "?from=nonsense", "?from=" + v1 + "&to=nonsense"} {
		if res, body := env.json("GET", "/api/projects/"+id+"/diff"+q, nil, bearer(tok)...); res.StatusCode != 422 || body["message"] == "" {
			t.Errorf("diff%s: %d %v", q, res.StatusCode, body)
		}
	}

	// Another user: not their project, and not their checkpoint in their own.
	other := env.register("b@example.com")
	if res, _ := env.json("GET", "/api/projects/"+id+"/diff?from="+v1, nil, bearer(other)...); res.StatusCode != 404 {
		t.Errorf("another user's diff: %d", res.StatusCode)
	}
	theirs := env.newProject(other, "theirs")
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/projects/" + theirs + "/diff?from=" + v1},
		{"POST", "/api/projects/" + theirs + "/checkpoints/" + v1 + "/restore"},
	} {
		if res, _ := env.json(r.method, r.path, nil, bearer(other)...); res.StatusCode != 404 {
			t.Errorf("%s %s with another's checkpoint: %d", r.method, r.path, res.StatusCode)
		}
	}

	// Restore the version; the restore is on the timeline and undoable.
	res, body = env.json("POST", "/api/projects/"+id+"/checkpoints/"+v1+"/restore", nil, bearer(tok)...)
	if res.StatusCode != 200 {
		t.Fatalf("restore: %d %v", res.StatusCode, body)
	}
	undo := body["undo"].(map[string]any)["id"].(string)
	if _, text := env.do("GET", "/api/projects/"+id+"/files/a.txt", nil, bearer(tok)...); text != "one\ntwo\n" {
		t.Fatalf("a.txt after restore: %q", text)
	}
	if res, _ := env.do("GET", "/api/projects/"+id+"/files/b.txt", nil, bearer(tok)...); res.StatusCode != 404 {
		t.Fatalf("b.txt after restore: %d", res.StatusCode)
	}
	if _, body := env.json("GET", "/api/projects/"+id+"/diff?from="+v1, nil, bearer(tok)...); len(changedFiles(body)) != 0 {
		t.Fatalf("diff with the restored version: %v", body)
	}
	_, list := env.json("GET", "/api/projects/"+id+"/checkpoints", nil, bearer(tok)...)
	newest := list["checkpoints"].([]any)[0].(map[string]any)
	if newest["id"] != undo || !strings.Contains(newest["label"].(string), "First version") {
		t.Fatalf("timeline: %v", list)
	}
	if res, body := env.json("POST", "/api/projects/"+id+"/checkpoints/"+undo+"/restore", nil, bearer(tok)...); res.StatusCode != 200 {
		t.Fatalf("undo the restore: %d %v", res.StatusCode, body)
	}
	for path, want := range map[string]string{"a.txt": "one\nTWO\n", "b.txt": "new"} {
		if _, text := env.do("GET", "/api/projects/"+id+"/files/"+path, nil, bearer(tok)...); text != want {
			t.Errorf("%s after undoing the restore: %q", path, text)
		}
	}

	// The workspace page offers the history; its JSON routes take the
	// session, and their writes the CSRF token.
	b := env.browser()
	b.login("a@example.com", "a long password")
	_, doc, csrf := b.page("/projects/" + id)
	for _, sel := range []string{"[data-testid=ws-history]", "[data-testid=ws-save-version]", "dialog#history[data-project]"} {
		if doc.Find(sel).Length() != 1 {
			t.Errorf("the workspace lacks %s", sel)
		}
	}
	save := func(headers ...string) (*http.Response, string) {
		return b.do("POST", "/projects/"+id+"/checkpoints", strings.NewReader(`{"label":"From the page"}`), append([]string{"Content-Type", "application/json", "Accept", "application/json"}, headers...)...)
	}
	if res, _ := save(); res.StatusCode != http.StatusForbidden {
		t.Errorf("save a version without the CSRF token: %d", res.StatusCode)
	}
	if res, text := save("X-CSRF-Token", csrf); res.StatusCode != http.StatusCreated || !strings.Contains(text, "From the page") {
		t.Errorf("save a version from the page: %d %s", res.StatusCode, text)
	}
	if res, text := b.do("GET", "/projects/"+id+"/diff?from="+v1, nil, "Accept", "application/json"); res.StatusCode != 200 || !strings.Contains(text, `"b.txt"`) {
		t.Errorf("diff from the page: %d %s", res.StatusCode, text)
	}
}
