-- name: CreateCheckpoint :one
INSERT INTO project_checkpoints (project_id, label, manifest, file_count, total_bytes)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: GetCheckpoint :one
SELECT * FROM project_checkpoints WHERE id = $1 AND project_id = $2;

-- name: ListCheckpoints :many
SELECT id, project_id, label, file_count, total_bytes, created_at
FROM project_checkpoints WHERE project_id = $1 ORDER BY created_at DESC LIMIT sqlc.arg(max_rows);

-- name: ListCheckpointManifests :many
SELECT manifest FROM project_checkpoints;

-- name: ListProjectCheckpointManifests :many
-- A project's checkpoints, oldest first, with their manifests.
SELECT id, manifest FROM project_checkpoints WHERE project_id = $1 ORDER BY created_at, id;

-- name: DeleteCheckpoint :exec
DELETE FROM project_checkpoints WHERE id = $1 AND project_id = $2;
