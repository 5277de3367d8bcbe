package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Variables are the owner's alone, their names are checked with a reason,
// and their values never come back; a build, its zip and the site answer
// in words when there is nothing to act on.
func TestEnvVarsAndBuildRefusals(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	bob := env.register("bob@example.com")
	id := env.newProject(alice, "Secrets")
	base := "/api/projects/" + id

	res, body := env.json("PUT", base+"/env/API_TOKEN", map[string]any{"value": "tok-123456"}, bearer(alice)...)
	if res.StatusCode != http.StatusOK || body["restart_needed"] != true {
		t.Fatalf("set: %d %v", res.StatusCode, body)
	}
	res, raw := env.do("GET", base+"/env", nil, bearer(alice)...)
	if res.StatusCode != http.StatusOK || !strings.Contains(raw, `"API_TOKEN"`) || strings.Contains(raw, "tok-123456") {
		t.Fatalf("list: %d %s", res.StatusCode, raw)
	}
	// Sealed at rest, bound to its project and name.
	var sealed string
	if err := env.pool.QueryRow(context.Background(), `SELECT value FROM project_env_vars WHERE name = 'API_TOKEN'`).Scan(&sealed); err != nil || strings.Contains(sealed, "tok-123456") || !strings.HasPrefix(sealed, "v1.") {
		t.Fatalf("stored as %q (%v)", sealed, err)
	}

	for _, tc := range []struct{ method, path string }{
		{"GET", base + "/env"},
		{"PUT", base + "/env/API_TOKEN"},
		{"DELETE", base + "/env/API_TOKEN"},
		{"POST", base + "/build"},
		{"GET", base + "/build.zip"},
		{"GET", base + "/site"},
		{"POST", base + "/site"},
		{"POST", base + "/site/link"},
	} {
		res, body := env.json(tc.method, tc.path, map[string]any{"value": "x"}, bearer(bob)...)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("bob %s %s: %d %v", tc.method, tc.path, res.StatusCode, body)
		}
	}

	for name, want := range map[string]string{
		"lower_case":  "capital letters",
		"1ABC":        "not starting with a digit",
		"HOME":        "set by studio's runtime",
		"PORT":        "set by studio's runtime",
		"STUDIO_KEY":  "set by studio's runtime",
		"NODE_ENV":    "set by studio's runtime",
		"WITH-HYPHEN": "capital letters",
	} {
		res, body := env.json("PUT", base+"/env/"+name, map[string]any{"value": "v"}, bearer(alice)...)
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body["error"].(map[string]any)["message"].(string), want) {
			t.Errorf("name %s: %d %v", name, res.StatusCode, body)
		}
	}
	res, body = env.json("PUT", base+"/env/BIG", map[string]any{"value": strings.Repeat("x", 33<<10)}, bearer(alice)...)
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("a too large value: %d %v", res.StatusCode, body)
	}
	if res, body := env.json("DELETE", base+"/env/NOT_THERE", nil, bearer(alice)...); res.StatusCode != http.StatusNotFound {
		t.Errorf("delete a missing variable: %d %v", res.StatusCode, body)
	}
	if res, body := env.json("DELETE", base+"/env/API_TOKEN", nil, bearer(alice)...); res.StatusCode != http.StatusNoContent {
		t.Errorf("delete: %d %v", res.StatusCode, body)
	}

	// The static template has no build script; nothing was built or
	// published.
	for _, tc := range []struct{ method, path, code string }{
		{"POST", base + "/build", "no_build_script"},
		{"GET", base + "/build.zip", "no_build_output"},
		{"GET", base + "/site", "not_published"},
		{"POST", base + "/site", "no_build_output"},
	} {
		res, body := env.json(tc.method, tc.path, map[string]any{}, bearer(alice)...)
		if errorCode(body) != tc.code || res.StatusCode < 400 {
			t.Errorf("%s %s: %d %v", tc.method, tc.path, res.StatusCode, body)
		}
	}
}

// A variable reaches the container's processes after a restart, and the
// build runs with live output, leaving a zip with the built page.
func TestEnvVarReachesContainerAndBuildStreams(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	alice := env.register("alice@example.com")
	id := env.newProjectFrom(alice, "Built", "vanilla-vite")
	base := "/api/projects/" + id
	if res, body := env.json("PUT", base+"/env/SHOP_KEY", map[string]any{"value": "k-998877"}, bearer(alice)...); res.StatusCode != http.StatusOK {
		t.Fatalf("set: %d %v", res.StatusCode, body)
	}
	if res, body := env.json("POST", base+"/restart", nil, bearer(alice)...); res.StatusCode != http.StatusAccepted {
		t.Fatalf("restart: %d %v", res.StatusCode, body)
	}
	env.waitStarted(alice, id)
	out, err := env.rt.Exec(context.Background(), id, []string{"node", "-e", "process.stdout.write(process.env.SHOP_KEY || 'unset')"}, 30*time.Second, 0)
	if err != nil || out.Output != "k-998877" {
		t.Fatalf("the container sees %q (%v)", out.Output, err)
	}

	res, stream := env.do("POST", base+"/build", nil, append(bearer(alice), "Accept", "text/event-stream")...)
	if res.StatusCode != http.StatusOK || !strings.Contains(stream, "event: line") || !strings.Contains(stream, `"exit_code":0`) || !strings.Contains(stream, `"output_dir":"dist"`) {
		t.Fatalf("build: %d\n%s", res.StatusCode, stream)
	}
	res, zipped := env.do("GET", base+"/build.zip", nil, bearer(alice)...)
	if res.StatusCode != http.StatusOK || !strings.Contains(zipped, "index.html") || res.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("zip: %d %s", res.StatusCode, res.Header)
	}
	res, body := env.json("POST", base+"/site", map[string]any{"public": true}, bearer(alice)...)
	if res.StatusCode != http.StatusOK || !strings.Contains(body["url"].(string), "--site.") || body["site"].(map[string]any)["public"] != true {
		t.Fatalf("publish: %d %v", res.StatusCode, body)
	}
}
