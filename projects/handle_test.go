package projects_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"studio/db"
	"studio/projects"
)

func TestAHandleIsOnlyForTheOwner(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	p := s.create("mine", "static")
	other, err := db.New(s.pool).CreateUser(ctx, db.CreateUserParams{Email: "other-" + uuid.NewString()[:8] + "@example.com", PasswordHash: "x", Role: "user"})
	if err != nil {
		t.Fatal(err)
	}

	_, errOther := s.svc.Open(ctx, other.ID, p.ID)
	_, errMissing := s.svc.Open(ctx, s.user, uuid.New())
	if !errors.Is(errOther, projects.ErrNotFound) || errOther != errMissing {
		t.Fatalf("another owner's project: %v; a missing one: %v; want the same not-found", errOther, errMissing)
	}
	if h, err := s.svc.Open(ctx, s.user, p.ID); err != nil || h.ID() != p.ID {
		t.Fatalf("the owner's own project: %v", err)
	}
	// Someone who is not an administrator cannot use the administrator's door.
	if _, err := s.svc.OpenAsAdmin(ctx, projects.Admin{ID: other.ID}, p.ID); !errors.Is(err, projects.ErrNotAdmin) {
		t.Fatalf("a user opening as an administrator: %v", err)
	}
	if n := auditRows(t, s, "project.open"); n != 0 {
		t.Fatalf("%d audit rows after refused openings", n)
	}
}

func TestOpenAsAdminIsAudited(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	p := s.create("theirs", "static")
	admin := s.admin()

	h, err := s.svc.OpenAsAdmin(ctx, projects.Admin{ID: admin, IP: "192.0.2.7"}, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID() != p.ID {
		t.Fatalf("opened %s, want %s", h.ID(), p.ID)
	}
	var actor uuid.UUID
	var target, ip string
	err = s.pool.QueryRow(ctx, "SELECT actor_id, target, ip FROM audit_log WHERE action = 'project.open'").Scan(&actor, &target, &ip)
	if err != nil {
		t.Fatalf("the opening is not in the audit log: %v", err)
	}
	if actor != admin || target != p.ID.String() || ip != "192.0.2.7" {
		t.Fatalf("audit row: actor %s target %s ip %s", actor, target, ip)
	}
	if _, err := s.svc.OpenAsAdmin(ctx, projects.Admin{ID: admin}, uuid.New()); !errors.Is(err, projects.ErrNotFound) {
		t.Fatalf("a missing project: %v", err)
	}
}

func auditRows(t *testing.T, s *stack, action string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE action = $1", action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
