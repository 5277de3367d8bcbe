-- name: CreateInvite :one
INSERT INTO invites (token_hash, created_by, expires_at) VALUES ($1, $2, $3) RETURNING *;

-- name: UseInvite :one
UPDATE invites SET used_at = now()
WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
RETURNING *;

-- name: SetInviteUser :exec
UPDATE invites SET used_by = $2 WHERE id = $1;

-- name: ListInvites :many
SELECT * FROM invites ORDER BY created_at DESC LIMIT 50;

-- name: InviteUsable :one
SELECT EXISTS (
    SELECT 1 FROM invites WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
);
