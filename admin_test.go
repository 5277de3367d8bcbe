package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/uuid"

	"studio/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestCreateUserCommandGoesThroughTheAccountService: an account made on
// the command line is in the audit log, and the service's checks answer.
func TestCreateUserCommandGoesThroughTheAccountService(t *testing.T) {
	t.Parallel()
	pool, url := dbtest.NewWithURL(t)
	data := t.TempDir()
	createUser := func(email string) (string, error) {
		cmd := exec.Command(studioBinary(t), "admin", "create-user", "--email", email, "--name", "Grace", "--password", "correct horse battery")
		cmd.Env = append(os.Environ(), "STUDIO_DATABASE_URL="+url, "STUDIO_DATA="+data)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := createUser("Grace@Example.com"); err != nil || !strings.Contains(out, "created user grace@example.com") {
		t.Fatalf("create-user: %v\n%s", err, out)
	}
	var actor *uuid.UUID
	var target, role string
	err := pool.QueryRow(context.Background(), "SELECT actor_id, target, details->>'role' FROM audit_log WHERE action = 'user.create'").Scan(&actor, &target, &role)
	if err != nil {
		t.Fatalf("the new account is not in the audit log: %v", err)
	}
	if actor != nil || target != "grace@example.com" || role != "user" {
		t.Fatalf("audit entry: actor %v, target %q, role %q", actor, target, role)
	}
	if out, err := createUser("grace@example.com"); err == nil || !strings.Contains(out, "an account with the email grace@example.com already exists") {
		t.Fatalf("a second account with the same email: %v\n%s", err, out)
	}
}
