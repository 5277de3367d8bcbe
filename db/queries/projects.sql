-- name: GetProjectForOwner :one
SELECT * FROM projects WHERE id = $1 AND owner_id = $2;

-- name: ListProjectsByOwner :many
SELECT * FROM projects WHERE owner_id = $1 ORDER BY created_at DESC, id LIMIT $2;
