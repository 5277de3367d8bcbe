-- name: AddAudit :exec
INSERT INTO audit_log (actor_id, action, target, ip, details)
VALUES ($1, $2, $3, $4, $5);

-- name: ListAudit :many
SELECT audit_log.*, coalesce(users.email, '')::text AS actor_email
FROM audit_log LEFT JOIN users ON users.id = audit_log.actor_id
WHERE sqlc.arg(before_id)::bigint = 0 OR audit_log.id < sqlc.arg(before_id)::bigint
ORDER BY audit_log.id DESC
LIMIT sqlc.arg(max_rows);
