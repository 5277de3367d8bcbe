package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"studio/internal/testwait"
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
	// A card can fetch itself (while a project starts, in case an event was missed).
	if res, frag := b.do("GET", "/projects/"+id+"/card", nil); res.StatusCode != 200 || !strings.Contains(frag, `data-status="active"`) {
		t.Fatalf("card: %d %q", res.StatusCode, frag)
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
	if res, _ := other.do("GET", "/projects/"+id+"/card", nil); res.StatusCode != 404 {
		t.Fatalf("another user's card: %d", res.StatusCode)
	}
	if res, _ := other.post("/projects/"+id+"/start", url.Values{"csrf_token": {tok2}}); res.StatusCode != 404 {
		t.Fatalf("another user's project: %d", res.StatusCode)
	}
}

func TestRenameFromTheCard(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := env.browser()
	b.signup("a@example.com")
	_, _, token := b.page("/")
	b.post("/projects", url.Values{"csrf_token": {token}, "name": {"Old name"}, "template": {"static"}})
	_, doc, _ := b.page("/")
	id, _ := doc.Find("[data-testid=project-card]").Attr("id")
	id = strings.TrimPrefix(id, "card-")
	res, frag := b.do("POST", "/projects/"+id+"/rename", strings.NewReader(url.Values{"csrf_token": {token}, "name": {"New name"}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true")
	if res.StatusCode != 200 || !strings.Contains(frag, "New name") {
		t.Fatalf("rename: %d %q", res.StatusCode, frag)
	}
	res, _ = b.do("POST", "/projects/"+id+"/rename", strings.NewReader(url.Values{"csrf_token": {token}, "name": {""}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true")
	if res.StatusCode != 422 {
		t.Fatalf("empty name: %d", res.StatusCode)
	}
}

func TestAdminSeesAndStopsAnyProject(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	admin := env.browser()
	admin.signup("admin@example.com")
	user := env.browser()
	user.signup("user@example.com")
	_, _, utok := user.page("/")
	user.post("/projects", url.Values{"csrf_token": {utok}, "name": {"Users app"}, "template": {"static"}})
	_, doc, _ := user.page("/")
	id, _ := doc.Find("[data-testid=project-card]").Attr("id")
	id = strings.TrimPrefix(id, "card-")
	testwait.Eventually(t, 60*time.Second, func() bool {
		_, doc, _ = user.page("/")
		return doc.Find(`[data-status=active]`).Length() == 1
	}, "the dashboard shows the project active")
	_, doc, token := admin.page("/admin")
	row := doc.Find("[data-testid=admin-project-row]")
	if row.Length() != 1 || !strings.Contains(row.Text(), "user@example.com") || !strings.Contains(row.Find("[data-testid=usage]").Text(), "MiB of 1024 MiB") {
		t.Fatalf("admin projects: %q", row.Text())
	}
	if res, _ := user.post("/admin/projects/"+id+"/stop", url.Values{"csrf_token": {utok}}); res.StatusCode != 403 {
		t.Fatalf("a non-admin stopping: %d", res.StatusCode)
	}
	if res, _ := admin.post("/admin/projects/"+id+"/stop", url.Values{"csrf_token": {token}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin stop: %d", res.StatusCode)
	}
	if res, _ := admin.post("/admin/projects/"+id+"/delete", url.Values{"csrf_token": {token}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin delete: %d", res.StatusCode)
	}
	if _, doc, _ := user.page("/"); doc.Find("[data-testid=project-card]").Length() != 0 {
		t.Fatal("the project survived the admin's delete")
	}
	if _, doc, _ := admin.page("/admin"); !strings.Contains(doc.Find("[data-testid=audit]").Text(), "project.delete") {
		t.Fatal("the admin's delete is not in the audit log")
	}
}
