package handlers

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"studio/projects"
)

// TestRunsAreListedForTheOwnerOnly: the agent service answers a project's
// runs as it answers its messages, to the owner and nobody else.
func TestRunsAreListedForTheOwnerOnly(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	owner, other := env.userID("runs-owner@example.com"), env.userID("runs-other@example.com")
	project := env.benchProjects(owner, 1)[0]

	if _, err := env.srv.Agents.Runs(ctx, owner, project, 10); err != nil {
		t.Fatalf("the owner's runs: %v", err)
	}
	_, errOther := env.srv.Agents.Runs(ctx, other, project, 10)
	_, errMessages := env.srv.Agents.Messages(ctx, other, project)
	if !errors.Is(errOther, projects.ErrNotFound) || !errors.Is(errMessages, projects.ErrNotFound) {
		t.Fatalf("another user's view of the project: runs %v, messages %v; want not found", errOther, errMessages)
	}
}

// userID signs someone up and returns their account's id.
func (e *testEnv) userID(email string) uuid.UUID {
	e.t.Helper()
	e.register(email)
	var id uuid.UUID
	if err := e.pool.QueryRow(context.Background(), "SELECT id FROM users WHERE email = $1", email).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}
