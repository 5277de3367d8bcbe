package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// searchIDs are the ids a search finds for the user.
func (e *testEnv) searchIDs(token, query string) []string {
	e.t.Helper()
	res, out := e.json("GET", "/api/marketplace/items?q="+url.QueryEscape(query), nil, bearer(token)...)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("search %q: %d %v", query, res.StatusCode, out)
	}
	var ids []string
	for _, it := range out["items"].([]any) {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	return ids
}

// auditRow is one row of the audit log.
type auditRow struct {
	Actor, Action, Target string
	Details               map[string]any
}

// moderationAudit is the audit log's marketplace rows, oldest first.
func (e *testEnv) moderationAudit() []auditRow {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `
		SELECT coalesce(u.email, ''), a.action, a.target, a.details FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
		WHERE a.action LIKE 'marketplace.%' ORDER BY a.id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		var details []byte
		if err := rows.Scan(&r.Actor, &r.Action, &r.Target, &details); err != nil {
			e.t.Fatal(err)
		}
		if err := json.Unmarshal(details, &r.Details); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func TestMarketplaceReports(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.register("admin@example.com") // the first account administers
	alice := env.register("alice@example.com")
	carol := env.register("carol@example.com")
	id := env.createAgent(alice, map[string]any{"name": "Spammy", "system_prompt": "Sell things.", "visibility": "instance"})
	private := env.createAgent(alice, map[string]any{"name": "Secret", "system_prompt": "Hush."})

	cases := []struct {
		name, token, item string
		body              any
		status            int
		code              string
	}{
		{"empty reason", carol, id, map[string]any{"reason": "  "}, 400, "invalid_field"},
		{"no reason", carol, id, map[string]any{}, 400, "invalid_field"},
		{"oversized reason", carol, id, map[string]any{"reason": strings.Repeat("é", 1001)}, 400, "invalid_field"},
		{"malformed JSON", carol, id, `{"reason": `, 400, "bad_json"},
		{"unknown field", carol, id, map[string]any{"reason": "spam", "severity": 5}, 400, "unknown_field"},
		{"own item", alice, id, map[string]any{"reason": "oops"}, 409, "own_item"},
		{"built-in", carol, "builder", map[string]any{"reason": "bad"}, 409, "built_in"},
		{"another user's private item", carol, private, map[string]any{"reason": "spam"}, 404, "not_found"},
		{"no such item", carol, "nope", map[string]any{"reason": "spam"}, 404, "not_found"},
	}
	for _, c := range cases {
		res, out := env.json("POST", "/api/marketplace/items/"+c.item+"/report", c.body, bearer(c.token)...)
		if res.StatusCode != c.status || errorCode(out) != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, res.StatusCode, out, c.status, c.code)
		}
	}

	res, out := env.json("POST", "/api/marketplace/items/"+id+"/report", map[string]any{"reason": " " + strings.Repeat("é", 1000) + " "}, bearer(carol)...)
	if res.StatusCode != http.StatusCreated || out["report"].(map[string]any)["item_id"] != id || len([]rune(out["report"].(map[string]any)["reason"].(string))) != 1000 {
		t.Fatalf("report: %d %v", res.StatusCode, out)
	}
	// One open report per user and item.
	res, out = env.json("POST", "/api/marketplace/items/"+id+"/report", map[string]any{"reason": "again"}, bearer(carol)...)
	if res.StatusCode != http.StatusConflict || errorCode(out) != "already_reported" {
		t.Fatalf("second report: %d %v", res.StatusCode, out)
	}
}

func TestMarketplaceModeration(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	admin := env.register("admin@example.com") // the first account administers
	alice := env.register("alice@example.com")
	bob := env.register("bob@example.com")
	carol := env.register("carol@example.com")
	id := env.createAgent(alice, map[string]any{"name": "Zebra seller", "system_prompt": "You sell zebrafish.", "visibility": "instance"})
	other := env.createAgent(alice, map[string]any{"name": "Quokka", "system_prompt": "You love quokkas.", "visibility": "instance"})
	if res, out := env.json("POST", "/api/marketplace/items/"+id+"/install", nil, bearer(bob)...); res.StatusCode != 200 {
		t.Fatalf("install: %d %v", res.StatusCode, out)
	}
	for _, tok := range []string{bob, carol} {
		if res, out := env.json("POST", "/api/marketplace/items/"+id+"/report", map[string]any{"reason": "spam"}, bearer(tok)...); res.StatusCode != 201 {
			t.Fatalf("report: %d %v", res.StatusCode, out)
		}
	}

	// Non-administrators get 403 and change nothing.
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/admin/marketplace/reports"}, {"GET", "/api/admin/marketplace/hidden"},
		{"POST", "/api/admin/marketplace/items/" + id + "/hide"}, {"POST", "/api/admin/marketplace/items/" + id + "/unpublish"},
		{"POST", "/api/admin/marketplace/reports/1/dismiss"},
	} {
		for _, tok := range []string{alice, carol} {
			res, out := env.json(r.method, r.path, map[string]any{"reason": "mine now"}, bearer(tok)...)
			if res.StatusCode != http.StatusForbidden || errorCode(out) != "forbidden" {
				t.Errorf("%s %s as a user: %d %v", r.method, r.path, res.StatusCode, out)
			}
		}
		if res, _ := env.json(r.method, r.path, nil); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d", r.method, r.path, res.StatusCode)
		}
	}

	_, out := env.json("GET", "/api/admin/marketplace/reports", nil, bearer(admin)...)
	if reports := out["reports"].([]any); len(reports) != 2 || reports[0].(map[string]any)["reporter"].(map[string]any)["email"] != "bob@example.com" ||
		reports[0].(map[string]any)["item"].(map[string]any)["name"] != "Zebra seller" {
		t.Fatalf("open reports: %v", out)
	}

	// Refused hides.
	for _, c := range []struct {
		name, item string
		body       any
		status     int
		code       string
	}{
		{"empty reason", id, map[string]any{"reason": ""}, 400, "invalid_field"},
		{"oversized reason", id, map[string]any{"reason": strings.Repeat("x", 1001)}, 400, "invalid_field"},
		{"malformed JSON", id, `{"reason"`, 400, "bad_json"},
		{"built-in", "builder", map[string]any{"reason": "no"}, 409, "built_in"},
		{"no such item", "nope", map[string]any{"reason": "no"}, 404, "not_found"},
	} {
		res, out := env.json("POST", "/api/admin/marketplace/items/"+c.item+"/hide", c.body, bearer(admin)...)
		if res.StatusCode != c.status || errorCode(out) != c.code {
			t.Errorf("hide, %s: %d %v, want %d %s", c.name, res.StatusCode, out, c.status, c.code)
		}
	}
	if res, out := env.json("POST", "/api/admin/marketplace/items/"+id+"/frobnicate", nil, bearer(admin)...); res.StatusCode != 404 {
		t.Errorf("unknown action: %d %v", res.StatusCode, out)
	}
	if got := env.moderationAudit(); len(got) != 0 {
		t.Fatalf("refused actions were audited: %v", got)
	}

	if res, out := env.json("POST", "/api/admin/marketplace/items/"+id+"/hide", map[string]any{"reason": "Sells things."}, bearer(admin)...); res.StatusCode != http.StatusNoContent {
		t.Fatalf("hide: %d %v", res.StatusCode, out)
	}

	// Gone from search and not installable for everyone else.
	if ids := env.searchIDs(carol, "zebrafish"); len(ids) != 0 {
		t.Errorf("carol still finds %v", ids)
	}
	if ids := env.searchIDs(carol, ""); slices.Contains(ids, id) || !slices.Contains(ids, other) {
		t.Errorf("carol's catalogue: %v", ids)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/marketplace/items/" + id}, {"POST", "/api/marketplace/items/" + id + "/install"}, {"POST", "/api/agents/" + id + "/fork"},
	} {
		if res, out := env.json(r.method, r.path, nil, bearer(carol)...); res.StatusCode != 404 || errorCode(out) != "not_found" {
			t.Errorf("carol %s %s: %d %v", r.method, r.path, res.StatusCode, out)
		}
	}
	// The owner and administrators still see it; nobody installs it.
	for _, tok := range []string{alice, admin} {
		if ids := env.searchIDs(tok, "zebrafish"); !slices.Equal(ids, []string{id}) {
			t.Errorf("owner or admin search: %v", ids)
		}
		if it := env.item(tok, id); it["hidden"] != true || it["hidden_reason"] != "Sells things." {
			t.Errorf("owner or admin item: %v", it)
		}
	}
	if res, out := env.json("POST", "/api/marketplace/items/"+id+"/install", nil, bearer(admin)...); res.StatusCode != 409 || errorCode(out) != "item_hidden" {
		t.Errorf("admin install: %d %v", res.StatusCode, out)
	}
	// Bob's install keeps working: the agent stays in his picker, its page
	// says it was hidden, and it cannot be updated again.
	if ids := env.pickerIDs(bob); !slices.Contains(ids, id) {
		t.Errorf("bob's picker lost the hidden agent: %v", ids)
	}
	if it := env.item(bob, id); it["hidden"] != true || it["installed_version"] != 1.0 {
		t.Errorf("bob's view: %v", it)
	}
	if res, out := env.json("POST", "/api/marketplace/items/"+id+"/install", nil, bearer(bob)...); res.StatusCode != 409 || errorCode(out) != "item_hidden" {
		t.Errorf("bob's update: %d %v", res.StatusCode, out)
	}
	if ids := env.searchIDs(bob, "zebrafish"); len(ids) != 0 {
		t.Errorf("bob still finds %v", ids)
	}
	// Hiding again changes the reason.
	if res, out := env.json("POST", "/api/admin/marketplace/items/"+id+"/hide", map[string]any{"reason": "Spam, again."}, bearer(admin)...); res.StatusCode != http.StatusNoContent {
		t.Fatalf("hide again: %d %v", res.StatusCode, out)
	}
	// Bob may uninstall it; then it is gone for him too.
	if res, out := env.json("DELETE", "/api/marketplace/items/"+id+"/install", nil, bearer(bob)...); res.StatusCode != 200 {
		t.Errorf("bob's uninstall: %d %v", res.StatusCode, out)
	}
	if res, _ := env.json("GET", "/api/marketplace/items/"+id, nil, bearer(bob)...); res.StatusCode != 404 {
		t.Errorf("after the uninstall bob gets %d", res.StatusCode)
	}

	// Hiding resolved both reports; the item is in the hidden list.
	if _, out := env.json("GET", "/api/admin/marketplace/reports", nil, bearer(admin)...); len(out["reports"].([]any)) != 0 {
		t.Errorf("reports after the hide: %v", out)
	}
	_, out = env.json("GET", "/api/admin/marketplace/hidden", nil, bearer(admin)...)
	if h := out["items"].([]any); len(h) != 1 || h[0].(map[string]any)["id"] != id || h[0].(map[string]any)["owner_email"] != "alice@example.com" ||
		h[0].(map[string]any)["hidden_reason"] != "Spam, again." {
		t.Errorf("hidden: %v", out)
	}

	// Unhide: back in search for everyone.
	if res, out := env.json("POST", "/api/admin/marketplace/items/"+id+"/unhide", nil, bearer(admin)...); res.StatusCode != 204 {
		t.Fatalf("unhide: %d %v", res.StatusCode, out)
	}
	if res, out := env.json("POST", "/api/admin/marketplace/items/"+id+"/unhide", nil, bearer(admin)...); res.StatusCode != 409 || errorCode(out) != "not_hidden" {
		t.Errorf("unhide again: %d %v", res.StatusCode, out)
	}
	if ids := env.searchIDs(carol, "zebrafish"); !slices.Equal(ids, []string{id}) {
		t.Errorf("after the unhide carol finds %v", ids)
	}

	// Dismiss a report; then the user may report again.
	_, out = env.json("POST", "/api/marketplace/items/"+other+"/report", map[string]any{"reason": "too cute"}, bearer(carol)...)
	report := out["report"].(map[string]any)["id"].(float64)
	dismiss := "/api/admin/marketplace/reports/" + strconv.FormatInt(int64(report), 10) + "/dismiss"
	if res, out := env.json("POST", dismiss, nil, bearer(admin)...); res.StatusCode != 204 {
		t.Fatalf("dismiss: %d %v", res.StatusCode, out)
	}
	if res, out := env.json("POST", dismiss, nil, bearer(admin)...); res.StatusCode != 404 || errorCode(out) != "not_found" {
		t.Errorf("dismiss again: %d %v", res.StatusCode, out)
	}
	if res, _ := env.json("POST", "/api/admin/marketplace/reports/x/dismiss", nil, bearer(admin)...); res.StatusCode != 404 {
		t.Errorf("dismiss x: %d", res.StatusCode)
	}
	if res, out := env.json("POST", "/api/marketplace/items/"+other+"/report", map[string]any{"reason": "still too cute"}, bearer(carol)...); res.StatusCode != 201 {
		t.Errorf("report after a dismissal: %d %v", res.StatusCode, out)
	}

	// Unpublish: private to its owner.
	if res, out := env.json("POST", "/api/admin/marketplace/items/"+other+"/unpublish", nil, bearer(admin)...); res.StatusCode != 204 {
		t.Fatalf("unpublish: %d %v", res.StatusCode, out)
	}
	if res, _ := env.json("GET", "/api/marketplace/items/"+other, nil, bearer(carol)...); res.StatusCode != 404 {
		t.Errorf("carol sees the unpublished item: %d", res.StatusCode)
	}
	if it := env.item(alice, other); it["visibility"] != "private" || it["hidden"] != false {
		t.Errorf("alice's unpublished item: %v", it)
	}
	for _, c := range []struct{ item, code string }{{other, "not_published"}, {"builder", "built_in"}} {
		if res, out := env.json("POST", "/api/admin/marketplace/items/"+c.item+"/unpublish", nil, bearer(admin)...); res.StatusCode != 409 || errorCode(out) != c.code {
			t.Errorf("unpublish %s: %d %v", c.item, res.StatusCode, out)
		}
	}
	if _, out := env.json("GET", "/api/admin/marketplace/reports", nil, bearer(admin)...); len(out["reports"].([]any)) != 0 {
		t.Errorf("unpublishing left reports open: %v", out)
	}

	// Every action left exactly one audit row, by the administrator.
	got := env.moderationAudit()
	want := []struct{ action, target string }{
		{"marketplace.hide", id}, {"marketplace.hide", id}, {"marketplace.unhide", id}, {"marketplace.dismiss_report", other}, {"marketplace.unpublish", other},
	}
	if len(got) != len(want) {
		t.Fatalf("audit: %v", got)
	}
	for i, w := range want {
		if got[i].Action != w.action || got[i].Target != w.target || got[i].Actor != "admin@example.com" {
			t.Errorf("audit row %d: %+v, want %s on %s", i, got[i], w.action, w.target)
		}
	}
	if d := got[0].Details; d["reason"] != "Sells things." || d["reports_resolved"] != 2.0 || d["name"] != "Zebra seller" {
		t.Errorf("hide's details: %v", d)
	}
	if d := got[1].Details; d["reports_resolved"] != 0.0 {
		t.Errorf("the second hide's details: %v", d)
	}
	if d := got[3].Details; d["reason"] != "too cute" || d["report"] != report {
		t.Errorf("dismissal's details: %v", d)
	}
	if d := got[4].Details; d["reports_resolved"] != 1.0 {
		t.Errorf("unpublish's details: %v", d)
	}
}
