package db_test

import (
	"context"
	"regexp"
	"slices"
	"testing"

	"github.com/google/uuid"

	"studio/db"
	"studio/db/dbtest"
)

// TestVocabularyMatchesSchema: the Go constants are exactly the values the
// columns' CHECK constraints accept, so neither side gains a value alone.
func TestVocabularyMatchesSchema(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	cases := []struct {
		table, column string
		want          []string
	}{
		{"projects", "status", names(db.AllProjectStatuses)},
		{"agent_runs", "status", names(db.AllRunStatuses)},
		{"users", "role", names(db.AllUserRoles)},
	}
	quoted := regexp.MustCompile(`'([a-z_]+)'`)
	for _, c := range cases {
		var def string
		err := pool.QueryRow(context.Background(), `
			SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k
			JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey)
			WHERE k.contype = 'c' AND k.conrelid = $1::regclass AND a.attname = $2 AND cardinality(k.conkey) = 1`, c.table, c.column).Scan(&def)
		if err != nil {
			t.Fatalf("%s.%s: %v", c.table, c.column, err)
		}
		var got []string
		for _, m := range quoted.FindAllStringSubmatch(def, -1) {
			got = append(got, m[1])
		}
		slices.Sort(got)
		if want := slices.Sorted(slices.Values(c.want)); !slices.Equal(got, want) {
			t.Errorf("%s.%s accepts %v; the Go constants are %v", c.table, c.column, got, want)
		}
	}
}

func names[S ~string](values []S) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// TestProjectStatusRules: what each status allows, the table handlers and
// views rely on.
func TestProjectStatusRules(t *testing.T) {
	t.Parallel()
	type rules struct{ start, stop, restart, live bool }
	want := map[db.ProjectStatus]rules{
		db.ProjectStatusInitializing: {stop: true, live: true},
		db.ProjectStatusActive:       {stop: true, restart: true, live: true},
		db.ProjectStatusHibernated:   {start: true, stop: true},
		db.ProjectStatusStopped:      {start: true},
		db.ProjectStatusError:        {start: true, stop: true, restart: true},
		db.ProjectStatusDeleting:     {},
	}
	for _, s := range db.AllProjectStatuses {
		got := rules{s.CanStart(), s.CanStop(), s.CanRestart(), s.Live()}
		if got != want[s] {
			t.Errorf("%s: %+v, want %+v", s, got, want[s])
		}
	}
}

// TestRunAndRoleRules: a run can be undone once it ended and only with a
// checkpoint; only the admin role administers.
func TestRunAndRoleRules(t *testing.T) {
	t.Parallel()
	checkpoint := uuid.New()
	for _, s := range db.AllRunStatuses {
		ended := s != db.RunStatusRunning
		if s.Done() != ended {
			t.Errorf("%s: Done %v", s, s.Done())
		}
		if got := (db.AgentRun{Status: s, CheckpointID: &checkpoint}).CanUndo(); got != ended {
			t.Errorf("%s with a checkpoint: CanUndo %v, want %v", s, got, ended)
		}
		if (db.AgentRun{Status: s}).CanUndo() {
			t.Errorf("%s without a checkpoint: CanUndo", s)
		}
	}
	for _, r := range db.AllUserRoles {
		if r.IsAdmin() != (r == db.UserRoleAdmin) || !r.Valid() {
			t.Errorf("role %s: IsAdmin %v Valid %v", r, r.IsAdmin(), r.Valid())
		}
	}
	if db.UserRole("root").Valid() {
		t.Error("an unknown role is valid")
	}
}
