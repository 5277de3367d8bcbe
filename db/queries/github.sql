-- name: UpsertGitHubConnection :one
INSERT INTO github_connections (user_id, login, access_token, refresh_token, expires_at, method)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id) DO UPDATE
SET login = EXCLUDED.login, access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token,
    expires_at = EXCLUDED.expires_at, method = EXCLUDED.method, connected_at = now(), updated_at = now()
RETURNING *;

-- name: GetGitHubConnection :one
SELECT * FROM github_connections WHERE user_id = $1;

-- name: LockGitHubConnection :one
SELECT * FROM github_connections WHERE user_id = $1 FOR UPDATE;

-- name: UpdateGitHubTokens :exec
UPDATE github_connections SET access_token = $2, refresh_token = $3, expires_at = $4, updated_at = now()
WHERE user_id = $1;

-- name: DeleteGitHubConnection :execrows
DELETE FROM github_connections WHERE user_id = $1;

-- name: CreateGitHubOAuthState :exec
-- Old states of the session go: only the latest "Connect" may finish.
WITH gone AS (DELETE FROM github_oauth_states s WHERE s.session_id = $2 OR s.created_at < now() - interval '1 hour')
INSERT INTO github_oauth_states (state_hash, session_id) VALUES ($1, $2);

-- name: ConsumeGitHubOAuthState :execrows
DELETE FROM github_oauth_states
WHERE state_hash = $1 AND session_id = $2 AND created_at > now() - interval '10 minutes';

-- name: ListAllSealedGitHubTokens :many
SELECT user_id, access_token, refresh_token FROM github_connections ORDER BY user_id FOR UPDATE;

-- name: UpdateSealedGitHubTokens :exec
UPDATE github_connections SET access_token = $2, refresh_token = $3 WHERE user_id = $1;
