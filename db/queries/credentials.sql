-- name: UpsertProviderCredential :one
INSERT INTO provider_credentials (user_id, provider, api_key, key_hint, base_url)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (user_id, provider) DO UPDATE
SET api_key = EXCLUDED.api_key, key_hint = EXCLUDED.key_hint, base_url = EXCLUDED.base_url, updated_at = now()
RETURNING *;

-- name: ListProviderCredentials :many
SELECT * FROM provider_credentials WHERE user_id = $1 ORDER BY provider;

-- name: GetProviderCredential :one
SELECT * FROM provider_credentials WHERE user_id = $1 AND provider = $2;

-- name: DeleteProviderCredential :execrows
DELETE FROM provider_credentials WHERE user_id = $1 AND provider = $2;

-- name: ListAllSealedCredentials :many
SELECT user_id, provider, api_key FROM provider_credentials WHERE api_key <> '' ORDER BY user_id, provider FOR UPDATE;

-- name: UpdateSealedCredential :exec
UPDATE provider_credentials SET api_key = $3 WHERE user_id = $1 AND provider = $2;

-- name: LockKeyRotation :exec
-- Held for a whole rotation on one connection: two rotations at once
-- would each write their own next key over the other's.
SELECT pg_advisory_lock(4242003);

-- name: UnlockKeyRotation :exec
SELECT pg_advisory_unlock(4242003);
