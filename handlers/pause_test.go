package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	pt "studio/agents/providers/providertest"
	"studio/db"
	"studio/internal/testwait"
	"studio/projects"
)

// pausingEnv is a server whose project service pauses every active
// project at its next PauseIdle: its clock runs an hour ahead.
func pausingEnv(t *testing.T) *testEnv {
	return newEnvWith(t, envOptions{projects: func(o *projects.Options) {
		o.PauseAfter = 5 * time.Minute
		o.Now = func() time.Time { return time.Now().Add(time.Hour) }
	}})
}

func (e *testEnv) pauseIdle() {
	e.t.Helper()
	if err := e.srv.Projects.PauseIdle(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func TestPausedBadgesAndJSON(t *testing.T) {
	t.Parallel()
	env := pausingEnv(t)
	admin := env.browser()
	admin.signup("admin@example.com") // the first account is an administrator
	_, _, csrf := admin.page("/")
	if res, _ := admin.post("/projects", url.Values{"csrf_token": {csrf}, "name": {"Quiet"}, "template": {"static"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", res.StatusCode)
	}
	_, doc, _ := admin.page("/")
	cardID, _ := doc.Find("[data-testid=project-card]").Attr("id")
	id := uuid.MustParse(strings.TrimPrefix(cardID, "card-"))
	testwait.Eventually(t, 60*time.Second, func() bool {
		p, err := db.New(env.pool).GetProject(context.Background(), id)
		return err == nil && p.Status == db.ProjectStatusActive
	}, "the project is active")
	token := env.register("api@example.com")
	apiProject := env.newProject(token, "Quiet too")

	_, doc, _ = admin.page("/")
	if doc.Find("[data-testid=paused]").Length() != 0 {
		t.Fatal("a running project's card says paused")
	}
	if _, body := env.json("GET", "/api/projects/"+apiProject, nil, bearer(token)...); body["project"].(map[string]any)["paused"] != false {
		t.Fatalf("a running project's JSON: %v", body)
	}

	env.pauseIdle()
	_, doc, _ = admin.page("/")
	if badge := doc.Find("#card-" + id.String() + " [data-testid=paused]"); badge.Length() != 1 || badge.Text() != "paused" {
		t.Fatalf("the card of a paused project: %s", doc.Find("#card-"+id.String()).Text())
	}
	if doc.Find("#card-"+id.String()+" [data-testid=status]").Text() == "" {
		t.Fatal("the card lost its status badge")
	}
	_, header := admin.do("GET", "/projects/"+id.String()+"/header", nil)
	if !strings.Contains(header, `data-testid="paused"`) {
		t.Fatalf("the workspace header of a paused project: %s", header)
	}
	_, doc, _ = admin.page("/admin")
	if doc.Find("[data-testid=admin-projects] [data-testid=paused]").Length() != 2 {
		t.Fatalf("the admin table: %s", doc.Find("[data-testid=admin-projects]").Text())
	}
	_, body := env.json("GET", "/api/projects/"+apiProject, nil, bearer(token)...)
	if j := body["project"].(map[string]any); j["paused"] != true || j["status"] != "active" {
		t.Fatalf("a paused project's JSON: %v", j)
	}

	// A file API request is use: it resumes the project.
	if res, _ := env.do("GET", "/api/projects/"+apiProject+"/files/index.html", nil, bearer(token)...); res.StatusCode != 200 {
		t.Fatalf("read a file of a paused project: %d", res.StatusCode)
	}
	_, body = env.json("GET", "/api/projects/"+apiProject, nil, bearer(token)...)
	if body["project"].(map[string]any)["paused"] != false {
		t.Fatalf("after a file request: %v", body)
	}
	if st, _ := env.rt.Status(context.Background(), apiProject); st.Paused {
		t.Fatal("the container is still paused after a file request")
	}
	// Opening the workspace resumes it too, and the card says so.
	admin.page("/projects/" + id.String())
	_, doc, _ = admin.page("/")
	if doc.Find("[data-testid=paused]").Length() != 0 {
		t.Fatal("a resumed project's card says paused")
	}
}

func TestAgentCommandInAPausedProjectResumesIt(t *testing.T) {
	t.Parallel()
	env := pausingEnv(t)
	fake := pt.New("gemini")
	t.Cleanup(fake.Close)
	token, project := env.agentUser("a@example.com", "gemini", "static", fake)
	env.pauseIdle()
	if st, _ := env.rt.Status(context.Background(), project); !st.Paused {
		t.Fatal("the project was not paused")
	}
	fake.Push(
		pt.Use(pt.Call{Name: "run_command", Args: `{"argv":["node","-e","console.log(6*7)"],"timeout_s":20}`}),
		pt.Say("42."),
	)
	run := env.chat(token, project, map[string]any{"message": "Compute", "model": "gemini/gemini-2.5-flash"})
	events := env.stream(token, run, 0, nil)
	if last(events).Data["status"] != "succeeded" {
		t.Fatalf("run: %v", last(events).Data)
	}
	if r := resultsOf(events); len(r) != 1 || r[0]["ok"] != true {
		t.Fatalf("the command in a paused project: %v", r)
	}
	if st, _ := env.rt.Status(context.Background(), project); st.Paused {
		t.Fatal("still paused after the run")
	}
}
