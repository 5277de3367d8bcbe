-- name: CreateChatMessage :one
INSERT INTO chat_messages (project_id, role, content, run_id)
VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: ListChatMessages :many
SELECT * FROM chat_messages WHERE project_id = $1 ORDER BY created_at, id LIMIT sqlc.arg(max_rows);

-- name: ListRecentChatMessages :many
-- The newest messages, oldest first: the history a new run sends.
SELECT * FROM (
    SELECT * FROM chat_messages WHERE project_id = $1 ORDER BY created_at DESC, id DESC LIMIT sqlc.arg(max_rows)
) recent ORDER BY created_at, id;
