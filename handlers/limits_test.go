package handlers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"studio/projects"
)

func TestWriteBeyondTheDiskQuotaIs413(t *testing.T) {
	t.Parallel()
	env := newEnvWith(t, envOptions{projects: func(o *projects.Options) { o.ProjectDisk = 1 << 20 }})
	tok := env.register("full@example.com")
	id := env.newProject(tok, "full")

	if res, body := env.put(tok, id, "a.bin", make([]byte, 512<<10)); res.StatusCode != 200 {
		t.Fatalf("a write within the quota: %d %s", res.StatusCode, body)
	}
	res, body := env.put(tok, id, "b.bin", make([]byte, 600<<10))
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"code":"disk_quota"`) ||
		!strings.Contains(body, "The project would use 1.") || !strings.Contains(body, "more than the 1 MiB allowed") {
		t.Fatalf("a write past the quota: %d %s", res.StatusCode, body)
	}
	if res, _ := env.do("GET", "/api/projects/"+id+"/files/b.bin", nil, bearer(tok)...); res.StatusCode != 404 {
		t.Fatalf("the refused file exists: %d", res.StatusCode)
	}
}

func TestAdminStopShowsAndHoldsThroughTheAPI(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	tok := env.register("held@example.com")
	id := env.newProject(tok, "held")
	if _, err := env.adminStop(uuid.MustParse(id)); err != nil {
		t.Fatal(err)
	}
	_, body := env.json("GET", "/api/projects/"+id, nil, bearer(tok)...)
	p := body["project"].(map[string]any)
	if p["status"] != "stopped" || p["held_by_admin"] != true {
		t.Fatalf("a held project: %v", p)
	}
	// The dashboard and the workspace say who stopped it.
	b := env.browser()
	if res := b.login("held@example.com", "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	_, doc, _ := b.page("/")
	if reason := doc.Find("[data-testid=reason]").Text(); !strings.Contains(reason, "Stopped by an administrator") {
		t.Fatalf("dashboard reason %q", reason)
	}
	_, doc, _ = b.page("/projects/" + id)
	if held := doc.Find("[data-testid=held]").Text(); held != "Stopped by an administrator" {
		t.Fatalf("workspace says %q", held)
	}
	// Reading files wakes a hibernated project but not a held one.
	env.do("GET", "/api/projects/"+id+"/files", nil, bearer(tok)...)
	res, body := env.json("POST", "/api/projects/"+id+"/start", nil, bearer(tok)...)
	p = body["project"].(map[string]any)
	if res.StatusCode != 202 || p["status"] != "initializing" || p["held_by_admin"] != false {
		t.Fatalf("the owner's start: %d %v", res.StatusCode, p)
	}
}

func TestRunningLimitNamesTheFigure(t *testing.T) {
	t.Parallel()
	env := newEnvWith(t, envOptions{projects: func(o *projects.Options) { o.MaxRunning = 1 }})
	tok := env.register("busy@example.com")
	env.newProject(tok, "one")
	res, body := env.json("POST", "/api/projects", map[string]string{"name": "two", "template": "static"}, bearer(tok)...)
	msg, _ := body["error"].(map[string]any)["message"].(string)
	if res.StatusCode != http.StatusTooManyRequests || errorCode(body) != "running_limit" || msg != "You already run 1 project, the most allowed; stop one first." {
		t.Fatalf("create over the running limit: %d %v", res.StatusCode, body)
	}
}
