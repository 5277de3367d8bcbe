-- name: ListAgentsForUser :many
SELECT * FROM agents WHERE owner_id IS NULL OR owner_id = $1 ORDER BY owner_id NULLS FIRST, created_at, id;

-- name: GetAgentForUser :one
SELECT * FROM agents WHERE id = $1 AND (owner_id IS NULL OR owner_id = sqlc.arg(user_id));
