-- name: CreateRefreshToken :one
INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at)
VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: SpendRefreshToken :one
-- Marks a live token used; no row means it was already used, revoked or expired.
UPDATE refresh_tokens SET revoked_at = now()
WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
RETURNING *;

-- name: GetRefreshTokenByHash :one
SELECT * FROM refresh_tokens WHERE token_hash = $1;

-- name: SetRefreshTokenReplacement :exec
UPDATE refresh_tokens SET replaced_by = $2 WHERE id = $1;

-- name: RevokeRefreshFamily :execrows
UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL;

-- name: RevokeUserRefreshTokens :exec
UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL;
