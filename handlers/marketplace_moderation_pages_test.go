package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestMarketplaceModerationPages(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	admin := env.browser()
	admin.signup("admin@example.com") // the first account administers
	alice := env.register("alice@example.com")
	id := env.createAgent(alice, map[string]any{"name": "Zebra seller", "system_prompt": "You sell zebrafish.", "visibility": "instance"})
	item := "/marketplace/items/" + id

	// Carol reports it from its page.
	carol := env.browser()
	carol.signup("carol@example.com")
	_, doc, csrf := carol.page(item)
	if doc.Find("[data-testid=report-form]").Length() != 1 || doc.Find("[data-testid=moderation]").Length() != 0 {
		t.Fatalf("carol's item page: %s", doc.Find("main").Text())
	}
	res, _ := carol.post(item+"/report", url.Values{"csrf_token": {csrf}, "reason": {"It <b>spams</b>."}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != item+"?reported=1" {
		t.Fatalf("report: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if _, doc, _ = carol.page(item + "?reported=1"); doc.Find("[data-testid=reported]").Length() != 1 {
		t.Error("no thanks for the report")
	}
	if res, _ = carol.post(item+"/report", url.Values{"csrf_token": {csrf}, "reason": {"again"}}); res.StatusCode != http.StatusConflict {
		t.Errorf("a second report: %d", res.StatusCode)
	}
	if res, _ = carol.post("/admin/marketplace/items/"+id+"/hide", url.Values{"csrf_token": {csrf}, "reason": {"mine"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("carol hides: %d", res.StatusCode)
	}

	// The administrator sees the report on /admin and hides the item there.
	_, doc, csrf = admin.page("/admin")
	row := doc.Find("[data-testid=report-row][data-item='" + id + "']")
	if row.Length() != 1 || row.Find("[data-testid=report-reason]").Text() != "It <b>spams</b>." || doc.Find("[data-testid=no-hidden]").Length() != 1 {
		t.Fatalf("admin page: %s", doc.Find("[data-testid=admin-marketplace]").Text())
	}
	res, _ = admin.post("/admin/marketplace/items/"+id+"/hide", url.Values{"csrf_token": {csrf}, "reason": {"Sells fish."}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin#marketplace" {
		t.Fatalf("hide: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, doc, _ = admin.page("/admin")
	if doc.Find("[data-testid=no-reports]").Length() != 1 || doc.Find("[data-testid=hidden-row][data-item='"+id+"']").Length() != 1 ||
		!strings.Contains(doc.Find("[data-testid=audit]").Text(), "marketplace.hide") {
		t.Errorf("admin page after the hide: %s", doc.Find("main").Text())
	}

	// Gone for carol; the owner sees why.
	if res, _ := carol.do("GET", item, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("carol's item page: %d", res.StatusCode)
	}
	if _, doc, _ := carol.page("/marketplace"); doc.Find("[data-testid=market-item][data-id='"+id+"']").Length() != 0 {
		t.Error("the hidden item is in carol's catalogue")
	}
	owner := env.browser()
	owner.login("alice@example.com", "a long password")
	_, doc, _ = owner.page(item)
	if notice := doc.Find("[data-testid=hidden-notice]").Text(); !strings.Contains(notice, "Sells fish.") || doc.Find("[data-testid=fork]").Length() != 1 {
		t.Errorf("owner's page: %q", notice)
	}
	if _, doc, _ := owner.page("/marketplace/library"); doc.Find("[data-testid=item-hidden]").Length() != 1 {
		t.Error("the owner's library does not mark the item hidden")
	}

	// The administrator unhides it from its page and comes back to it.
	_, doc, csrf = admin.page(item)
	if doc.Find("[data-testid=moderation] [data-testid=unhide]").Length() != 1 || doc.Find("[data-testid=install]").Length() != 0 {
		t.Fatalf("admin's item page: %s", doc.Find("main").Text())
	}
	res, _ = admin.post("/admin/marketplace/items/"+id+"/unhide", url.Values{"csrf_token": {csrf}, "back": {"item"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != item {
		t.Fatalf("unhide: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := carol.do("GET", item, nil); res.StatusCode != http.StatusOK {
		t.Errorf("carol after the unhide: %d", res.StatusCode)
	}
}
