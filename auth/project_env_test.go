package auth_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"studio/auth"
	"studio/db/dbtest"
)

// A rotation re-seals projects' variables, still bound to their project
// and name.
func TestKeyRotationResealsProjectVariables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	ring, err := auth.LoadKeyring("", "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := auth.NewService(pool, ring, "open", nil, cheapHashes)
	u, _ := s.Register(ctx, "a@example.com", "a long password", "", "", meta)
	var project uuid.UUID
	if err := pool.QueryRow(ctx, "INSERT INTO projects (owner_id, name, slug, template) VALUES ($1, 'p', 'p', 'static') RETURNING id", u.ID).Scan(&project); err != nil {
		t.Fatal(err)
	}
	sealed, _ := ring.Seal([]byte("shh-1234"), auth.ProjectEnvAAD(project, "API_KEY"))
	if _, err := pool.Exec(ctx, "INSERT INTO project_env_vars (project_id, name, value) VALUES ($1, 'API_KEY', $2)", project, sealed); err != nil {
		t.Fatal(err)
	}
	next, n, err := s.RotateKey(ctx, 0)
	if err != nil || n != 1 {
		t.Fatalf("rotate: %d %v", n, err)
	}
	pool.QueryRow(ctx, "SELECT value FROM project_env_vars").Scan(&sealed)
	plain, err := ring.Open(sealed, auth.ProjectEnvAAD(project, "API_KEY"))
	if auth.SealedWith(sealed) != next.ID || err != nil || string(plain) != "shh-1234" {
		t.Fatalf("after rotation: sealed with %s, %q %v", auth.SealedWith(sealed), plain, err)
	}
	if _, err := ring.Open(sealed, auth.ProjectEnvAAD(project, "OTHER")); err == nil {
		t.Fatal("a value opened under another name")
	}
}
