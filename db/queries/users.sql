-- name: CreateUser :one
INSERT INTO users (email, name, password_hash, role)
VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: LockSignups :exec
-- Serialises sign-ups within a transaction, so exactly one is the first.
-- It must be its own statement: a statement's snapshot is taken before
-- any lock it waits for.
SELECT pg_advisory_xact_lock(4242001);

-- name: CreateFirstUserAsAdmin :one
-- The first account becomes admin (run after LockSignups).
INSERT INTO users (email, name, password_hash, role)
SELECT $1, $2, $3, CASE WHEN EXISTS (SELECT 1 FROM users) THEN 'user' ELSE 'admin' END
RETURNING *;

-- name: GetUserByID :one
SELECT * FROM users WHERE id = $1;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email = $1;

-- name: CountUsers :one
SELECT count(*) FROM users;

-- name: CountAdmins :one
SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL;

-- name: SearchUsers :many
SELECT * FROM users
WHERE sqlc.arg(query)::text = '' OR email ILIKE '%' || sqlc.arg(query)::text || '%' OR name ILIKE '%' || sqlc.arg(query)::text || '%'
ORDER BY created_at, id
LIMIT sqlc.arg(max_rows);

-- name: UpdateUserName :one
UPDATE users SET name = $2, updated_at = now() WHERE id = $1 RETURNING *;

-- name: UpdateUserPassword :exec
UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1;

-- name: SetUserRole :one
UPDATE users SET role = $2, updated_at = now() WHERE id = $1 RETURNING *;

-- name: DisableUser :one
UPDATE users SET disabled_at = now(), updated_at = now() WHERE id = $1 AND disabled_at IS NULL RETURNING *;

-- name: EnableUser :one
UPDATE users SET disabled_at = NULL, updated_at = now() WHERE id = $1 RETURNING *;

-- name: LockAdmins :one
-- Serialises changes that could leave no administrator.
SELECT pg_advisory_xact_lock(4242002)::text AS locked;
