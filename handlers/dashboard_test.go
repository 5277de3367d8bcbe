package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestDashboardCreateFollowAndAct(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	b.signup("a@example.com")
	_, doc, token := b.page("/")
	if doc.Find("[data-testid=empty-state]").Length() != 1 || doc.Find("[data-testid=template-react-vite]").Length() != 1 {
		t.Fatalf("empty dashboard: %s", doc.Text())
	}
	// A bad name keeps the form's values and says why, next to the field.
	res, frag := b.do("POST", "/projects", strings.NewReader(url.Values{"csrf_token": {token}, "name": {""}, "template": {"static"}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true")
	if res.Header.Get("HX-Retarget") != "#new-project" || !strings.Contains(frag, `data-testid="error-name"`) {
		t.Fatalf("bad name: %v %q", res.Header, frag)
	}
	// Follow the dashboard's stream while creating a project with htmx.
	req, _ := http.NewRequest("GET", env.http.URL+"/events", nil)
	for _, c := range b.client.Jar.Cookies(mustURL(env.http.URL)) {
		req.AddCookie(c)
	}
	req.Header.Set("Accept", "text/event-stream")
	res, frag = b.do("POST", "/projects", strings.NewReader(url.Values{"csrf_token": {token}, "name": {"Blog"}, "template": {"static"}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true")
	if res.StatusCode != 200 || !strings.Contains(frag, `data-testid="project-card"`) || !strings.Contains(frag, `data-status="initializing"`) || !strings.Contains(frag, `hx-swap-oob="delete"`) {
		t.Fatalf("htmx create: %d %q", res.StatusCode, frag)
	}
	var statuses []string
	readSSE(t, req, func(event, data string) bool {
		if strings.HasPrefix(event, "card-") {
			i := strings.Index(data, `data-status="`)
			if i >= 0 {
				st := data[i+13:]
				statuses = append(statuses, st[:strings.Index(st, `"`)])
			}
		}
		return strings.Contains(data, `data-status="active"`)
	})
	if statuses[len(statuses)-1] != "active" {
		t.Fatalf("statuses streamed: %v", statuses)
	}
	_, doc, _ = b.page("/")
	card := doc.Find("[data-testid=project-card]")
	id, _ := card.Attr("id")
	id = strings.TrimPrefix(id, "card-")
	if card.Length() != 1 || doc.Find("[data-testid=empty-state]").Length() != 0 || card.Find("[data-testid=preview-link]").Length() != 1 {
		t.Fatalf("dashboard after create: %s", doc.Find("#cards").Text())
	}
	// The preview button hands the owner a signed link to the preview host.
	res, _ = b.do("GET", "/projects/"+id+"/preview", nil)
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), ".studio.localhost:") || !strings.Contains(res.Header.Get("Location"), "/__studio/auth?token=") {
		t.Fatalf("open preview: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// Stop, then delete, from the card.
	res, frag = b.do("POST", "/projects/"+id+"/stop", strings.NewReader(url.Values{"csrf_token": {token}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true")
	if res.StatusCode != 200 || !strings.Contains(frag, `data-status="stopped"`) {
		t.Fatalf("stop: %d %q", res.StatusCode, frag)
	}
	if res, _ := b.post("/projects/"+id+"/delete", url.Values{"csrf_token": {"forged"}}); res.StatusCode != 403 {
		t.Fatalf("delete without the token: %d", res.StatusCode)
	}
	if res, _ := b.post("/projects/"+id+"/delete", url.Values{"csrf_token": {token}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	if _, doc, _ := b.page("/"); doc.Find("[data-testid=project-card]").Length() != 0 {
		t.Fatal("the deleted project is still listed")
	}
	// Someone else's project id does nothing.
	other := env.browser()
	other.signup("b@example.com")
	_, _, tok2 := other.page("/")
	if res, _ := other.post("/projects/"+id+"/start", url.Values{"csrf_token": {tok2}}); res.StatusCode != 404 {
		t.Fatalf("another user's project: %d", res.StatusCode)
	}
}
