package handlers

import (
	"encoding/json"
	"io"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/config"
	"studio/db"
)

// The API's objects (API.md) have fixed field names. Rows from the
// database carry more (password hashes, container ids, share tokens), so
// each object is an explicit struct; these tests fail when a field
// appears, goes or is renamed.
var (
	userFields    = []string{"id", "email", "name", "role", "created_at"}
	projectFields = []string{"id", "name", "slug", "template", "status", "url", "created_at", "updated_at", "error", "progress", "held_by_admin", "paused"}
	runFields     = []string{"id", "project_id", "agent_id", "agent_version", "agent_name", "status", "model", "steps", "input_tokens", "output_tokens", "cost_usd", "error", "can_undo", "created_at"}
)

// fieldsOf is the sorted list of the JSON object's keys.
func fieldsOf(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s is not an object: %v", b, err)
	}
	return slices.Sorted(maps.Keys(m))
}

func sameFields(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("%s fields %v, want %v", what, got, slices.Sorted(slices.Values(want)))
	}
}

// TestAPIObjectsShowOnlyTheirFields fills every column of the rows, secrets
// included, and checks what each object shows.
func TestAPIObjectsShowOnlyTheirFields(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("serve", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Deps: Deps{Config: cfg}}
	now, checkpoint := time.Now(), uuid.New()

	user := db.User{ID: uuid.New(), Email: "a@example.com", Name: "A", PasswordHash: "$argon2id$secret",
		Role: db.UserRoleAdmin, DisabledAt: &now, CreatedAt: now, UpdatedAt: now}
	sameFields(t, "user", fieldsOf(t, toUserJSON(user)), userFields)

	project := db.Project{ID: uuid.New(), OwnerID: uuid.New(), Name: "Shop", Slug: "shop", Template: "static",
		Status: db.ProjectStatusError, StatusReason: "it broke", ContainerID: "c0ffee", HostPort: 4242,
		URL: "http://127.0.0.1:4242", CreatedAt: now, UpdatedAt: now, LastActiveAt: now,
		ShareToken: "share-secret", Progress: "installing", HeldByAdmin: true}
	sameFields(t, "project", fieldsOf(t, s.toProjectJSON(project)), projectFields)

	run := db.AgentRun{ID: uuid.New(), ProjectID: uuid.New(), UserID: uuid.New(), AgentID: "builder", Model: "m",
		Status: db.RunStatusFailed, Steps: 3, InputTokens: 10, OutputTokens: 20, CostUsd: 0.5, Error: "boom",
		CheckpointID: &checkpoint, CancelRequested: true, Instance: "replica-1", HeartbeatAt: now, CreatedAt: now, FinishedAt: &now}
	sameFields(t, "run", fieldsOf(t, toRunJSON(run)), runFields)
}

// TestAPIUserAndProjectOverHTTP reads the objects as a client does.
func TestAPIUserAndProjectOverHTTP(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	token := env.register("fields@example.com")
	_, me := env.json("GET", "/api/auth/me", nil, bearer(token)...)
	user, _ := me["user"].(map[string]any)
	sameFields(t, "GET /api/auth/me user", slices.Sorted(maps.Keys(user)), userFields)

	res, body := env.json("POST", "/api/projects", map[string]string{"name": "Fields", "template": "static"}, bearer(token)...)
	project, _ := body["project"].(map[string]any)
	if res.StatusCode != 202 || project == nil {
		t.Fatalf("create: %d %v", res.StatusCode, body)
	}
	optional := []string{"error", "progress"} // omitted when empty
	got := slices.DeleteFunc(slices.Sorted(maps.Keys(project)), func(k string) bool { return slices.Contains(optional, k) })
	want := slices.DeleteFunc(slices.Clone(projectFields), func(k string) bool { return slices.Contains(optional, k) })
	sameFields(t, "POST /api/projects project", got, want)
}
