package handlers

import (
	"net/http"
	"strings"
	"testing"
)

// The workspace layout is saved per user: each person reads back their
// own, a bad or oversized body is refused with a sentence, and the
// workspace page carries the saved layout.
func TestWorkspaceLayoutPerUser(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	token := env.register("ada@example.com")
	ada := env.browser()
	if res := ada.login("ada@example.com", "a long password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	_, _, csrf := ada.page("/settings")
	put := func(b *browser, csrf, body string) (*http.Response, string) {
		return b.do("PUT", "/settings/layout", strings.NewReader(body),
			"Content-Type", "application/json", "Accept", "application/json", "X-CSRF-Token", csrf)
	}

	if res, body := ada.do("GET", "/settings/layout", nil); res.StatusCode != 200 || !strings.Contains(body, `"tree":0`) {
		t.Fatalf("default layout: %d %s", res.StatusCode, body)
	}
	if res, body := put(ada, csrf, `{"tree":260,"editor":800,"tree_collapsed":true}`); res.StatusCode != 200 {
		t.Fatalf("save: %d %s", res.StatusCode, body)
	}

	cases := []struct {
		name, body string
		status     int
		says       string
	}{
		{"not JSON", `{"tree":`, 400, "not valid JSON"},
		{"unknown field", `{"tree":200,"colour":"red"}`, 400, "colour"},
		{"wrong type", `{"tree":"wide"}`, 400, "must be a int"},
		{"too large", `{"tree":200,"editor":` + strings.Repeat(" ", 2000) + `300}`, 413, "larger than the limit"},
		{"impossible width", `{"tree":5}`, 422, "between 120 and 4000"},
	}
	for _, c := range cases {
		res, body := put(ada, csrf, c.body)
		if res.StatusCode != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.name, res.StatusCode, body, c.status, c.says)
		}
	}
	if res, _ := put(ada, "", `{"tree":300}`); res.StatusCode != http.StatusForbidden {
		t.Errorf("a save without the CSRF token: %d", res.StatusCode)
	}

	// Another person saves their own; Ada's stays hers.
	bob := env.browser()
	bob.signup("bob@example.com")
	_, _, bobCSRF := bob.page("/settings")
	if res, body := put(bob, bobCSRF, `{"tree":400}`); res.StatusCode != 200 {
		t.Fatalf("bob's save: %d %s", res.StatusCode, body)
	}
	if _, body := ada.do("GET", "/settings/layout", nil); !strings.Contains(body, `"tree":260`) || !strings.Contains(body, `"tree_collapsed":true`) {
		t.Fatalf("ada's layout after bob saved his: %s", body)
	}
	if _, body := bob.do("GET", "/settings/layout", nil); !strings.Contains(body, `"tree":400`) {
		t.Fatalf("bob's layout: %s", body)
	}
	// The same through the API, with an access token.
	if res, body := env.json("GET", "/api/settings/layout", nil, bearer(token)...); res.StatusCode != 200 || body["editor"] != float64(800) {
		t.Fatalf("api layout: %d %v", res.StatusCode, body)
	}
	if res, _ := env.json("PUT", "/api/settings/layout", map[string]int{"tree": 1}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("api save without a token: %d", res.StatusCode)
	}

	// The workspace page carries it, and lists the project's files for
	// quick open; another person's project is not found.
	id := env.newProject(token, "Layout")
	_, doc, _ := ada.page("/projects/" + id)
	if got, _ := doc.Find("#workspace").Attr("data-layout"); !strings.Contains(got, `"editor":800`) {
		t.Fatalf("data-layout = %q", got)
	}
	if res, body := ada.do("GET", "/projects/"+id+"/files", nil); res.StatusCode != 200 || !strings.Contains(body, `"index.html"`) {
		t.Fatalf("file list: %d %s", res.StatusCode, body)
	}
	if res, _ := bob.do("GET", "/projects/"+id+"/files", nil); res.StatusCode != 404 {
		t.Fatalf("bob lists ada's files: %d", res.StatusCode)
	}
}
