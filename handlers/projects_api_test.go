package handlers

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readSSE reads events from a stream until stop says so or time runs out.
func readSSE(t *testing.T, req *http.Request, stop func(event, data string) bool) (ids []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), 90*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" || res.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("stream headers: %d %q %v", res.StatusCode, ct, res.Header)
	}
	sc := bufio.NewScanner(res.Body)
	var event, id string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ids = append(ids, id)
			if stop(event, strings.TrimPrefix(line, "data: ")) {
				return ids
			}
		}
	}
	t.Fatalf("stream ended before the expected event: %v", sc.Err())
	return nil
}

func TestAPIProjectLifecycle(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	bob := env.register("bob@example.com")

	res, body := env.json("GET", "/api/templates", nil, bearer(alice)...)
	if res.StatusCode != 200 || !strings.Contains(strings.Join(templateIDs(body), ","), "react-vite,vanilla-vite,static") {
		t.Fatalf("templates: %d %v", res.StatusCode, body)
	}
	res, body = env.json("POST", "/api/projects", map[string]string{"name": "Shop", "template": "static"}, bearer(alice)...)
	if res.StatusCode != 202 {
		t.Fatalf("create: %d %v", res.StatusCode, body)
	}
	p := body["project"].(map[string]any)
	id := p["id"].(string)
	if p["status"] != "initializing" || p["slug"] != "shop" || !strings.HasPrefix(p["url"].(string), "http://shop.studio.localhost:") {
		t.Fatalf("new project: %v", p)
	}

	// Follow the progress until the project is active.
	req, _ := http.NewRequest("GET", env.http.URL+"/api/projects/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	req.Header.Set("Accept", "text/event-stream")
	var steps []string
	ids := readSSE(t, req, func(event, data string) bool {
		steps = append(steps, event)
		return event == "status" && strings.Contains(data, `"active"`)
	})
	if len(steps) < 4 || steps[1] != "progress" {
		t.Fatalf("events: %v", steps)
	}
	// Resuming after the second event replays exactly the rest.
	req, _ = http.NewRequest("GET", env.http.URL+"/api/projects/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	req.Header.Set("Last-Event-ID", ids[1])
	resumed := readSSE(t, req, func(event, data string) bool { return event == "status" && strings.Contains(data, `"active"`) })
	if strings.Join(resumed, ",") != strings.Join(ids[2:], ",") {
		t.Fatalf("resume after %s: %v, want %v", ids[1], resumed, ids[2:])
	}

	if res, body := env.json("GET", "/api/projects/"+id, nil, bearer(alice)...); res.StatusCode != 200 || body["project"].(map[string]any)["status"] != "active" {
		t.Fatalf("get: %d %v", res.StatusCode, body)
	}
	// Logs stream the dev server's output.
	req, _ = http.NewRequest("GET", env.http.URL+"/api/projects/"+id+"/logs?tail=50", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	readSSE(t, req, func(event, data string) bool { return event == "log" })

	// Bob sees none of it.
	for _, path := range []string{"/api/projects/" + id, "/api/projects/" + id + "/events", "/api/projects/" + id + "/logs"} {
		if res, body := env.json("GET", path, nil, bearer(bob)...); res.StatusCode != 404 || errorCode(body) != "not_found" {
			t.Errorf("bob GET %s: %d %v", path, res.StatusCode, body)
		}
	}
	for _, action := range []string{"stop", "start", "restart"} {
		if res, _ := env.json("POST", "/api/projects/"+id+"/"+action, nil, bearer(bob)...); res.StatusCode != 404 {
			t.Errorf("bob %s: %d", action, res.StatusCode)
		}
	}
	if res, _ := env.json("DELETE", "/api/projects/"+id, nil, bearer(bob)...); res.StatusCode != 404 {
		t.Errorf("bob delete: %d", res.StatusCode)
	}
	if _, body := env.json("GET", "/api/projects", nil, bearer(bob)...); len(body["projects"].([]any)) != 0 {
		t.Errorf("bob's list: %v", body)
	}

	res, body = env.json("PATCH", "/api/projects/"+id, map[string]string{"name": "Shop 2"}, bearer(alice)...)
	if res.StatusCode != 200 || body["project"].(map[string]any)["name"] != "Shop 2" || body["project"].(map[string]any)["slug"] != "shop" {
		t.Fatalf("rename: %d %v", res.StatusCode, body)
	}
	if res, body := env.json("POST", "/api/projects/"+id+"/stop", nil, bearer(alice)...); res.StatusCode != 202 || body["project"].(map[string]any)["status"] != "stopped" {
		t.Fatalf("stop: %d %v", res.StatusCode, body)
	}
	if res, _ := env.json("DELETE", "/api/projects/"+id, nil, bearer(alice)...); res.StatusCode != 204 {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	if res, _ := env.json("GET", "/api/projects/"+id, nil, bearer(alice)...); res.StatusCode != 404 {
		t.Fatalf("after delete: %d", res.StatusCode)
	}
}

func TestAPIProjectBadInput(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	tok := env.register("a@example.com")
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/api/projects", `{"name":"x","template":"cobol"}`, 422, "invalid_field"},
		{"POST", "/api/projects", `{"name":"","template":"static"}`, 422, "invalid_field"},
		{"POST", "/api/projects", `{"name":"x"`, 400, "bad_json"},
		{"POST", "/api/projects", `{"name":"x","template":"static","owner":"me"}`, 400, "unknown_field"},
		{"GET", "/api/projects/not-a-uuid", ``, 404, "not_found"},
		{"GET", "/api/projects/00000000-0000-0000-0000-000000000000", ``, 404, "not_found"},
		{"GET", "/api/projects?limit=0", ``, 400, "bad_limit"},
		{"GET", "/api/projects?cursor=not-a-cursor", ``, 400, "bad_cursor"},
		{"PATCH", "/api/projects/00000000-0000-0000-0000-000000000000", `{"name":"x"}`, 404, "not_found"},
	}
	for _, c := range cases {
		res, body := env.do(c.method, c.path, strings.NewReader(c.body), "Content-Type", "application/json", "Authorization", "Bearer "+tok)
		if res.StatusCode != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s %s %s: %d %s; want %d %s", c.method, c.path, c.body, res.StatusCode, body, c.status, c.code)
		}
	}
	if res, _ := env.json("GET", "/api/projects", nil); res.StatusCode != 401 {
		t.Errorf("no token: %d", res.StatusCode)
	}
}

func templateIDs(body map[string]any) []string {
	var ids []string
	list, _ := body["templates"].([]any)
	for _, t := range list {
		ids = append(ids, t.(map[string]any)["id"].(string))
	}
	return ids
}
