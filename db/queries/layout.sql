-- name: GetWorkspaceLayout :one
SELECT layout FROM user_settings WHERE user_id = $1;

-- name: SetWorkspaceLayout :exec
INSERT INTO user_settings (user_id, layout) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET layout = EXCLUDED.layout, updated_at = now();
