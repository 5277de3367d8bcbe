package auth

import (
	"context"
	"fmt"

	"studio/db"
)

// resealProjectEnv re-encrypts the projects' variables key did not seal.
func resealProjectEnv(ctx context.Context, q *db.Queries, ring *Keyring, key Key) (int, error) {
	rows, err := q.ListAllSealedProjectEnvVars(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		if SealedWith(r.Value) == key.ID {
			continue
		}
		aad := ProjectEnvAAD(r.ProjectID, r.Name)
		plain, err := ring.Open(r.Value, aad)
		if err != nil {
			return n, fmt.Errorf("open variable %s of project %s: %w", r.Name, r.ProjectID, err)
		}
		sealed, err := SealWith(key, plain, aad)
		if err != nil {
			return n, err
		}
		if err := q.UpdateSealedProjectEnvVar(ctx, db.UpdateSealedProjectEnvVarParams{ProjectID: r.ProjectID, Name: r.Name, Value: sealed}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
