-- Administrators' moderation of marketplace items, and users' reports.
-- These queries see every item: callers check who may use them.

-- name: GetItemForModeration :one
SELECT id, kind, owner_id, visibility, name, hidden_at, hidden_reason
FROM marketplace_items WHERE id = $1;

-- name: HideItem :execrows
-- Hiding a hidden item again changes its reason and keeps when it was hidden.
UPDATE marketplace_items SET hidden_at = coalesce(hidden_at, now()), hidden_reason = $2
WHERE id = $1 AND owner_id IS NOT NULL;

-- name: UnhideItem :execrows
UPDATE marketplace_items SET hidden_at = NULL, hidden_reason = ''
WHERE id = $1 AND hidden_at IS NOT NULL;

-- name: UnpublishItem :execrows
UPDATE marketplace_items SET visibility = 'private'
WHERE id = $1 AND owner_id IS NOT NULL AND visibility = 'instance';

-- name: CreateReport :one
INSERT INTO marketplace_reports (item_id, reporter_id, reason) VALUES ($1, $2, $3)
RETURNING *;

-- name: ResolveItemReports :execrows
UPDATE marketplace_reports SET resolved_at = now(), resolved_by = $2, resolution = $3
WHERE item_id = $1 AND resolved_at IS NULL;

-- name: DismissReport :one
UPDATE marketplace_reports SET resolved_at = now(), resolved_by = $2, resolution = 'dismissed'
WHERE id = $1 AND resolved_at IS NULL
RETURNING *;

-- name: ListOpenReports :many
SELECT r.id, r.item_id, r.reason, r.created_at, r.reporter_id, u.email AS reporter_email,
       i.name AS item_name, i.kind AS item_kind, i.owner_id AS item_owner_id, i.visibility AS item_visibility,
       i.hidden_at AS item_hidden_at
FROM marketplace_reports r
JOIN users u ON u.id = r.reporter_id
JOIN marketplace_items i ON i.id = r.item_id
WHERE r.resolved_at IS NULL
ORDER BY r.created_at, r.id
LIMIT sqlc.arg(max_rows);

-- name: ListHiddenItems :many
SELECT i.id, i.kind, i.name, i.owner_id, coalesce(u.email, '')::text AS owner_email, i.visibility,
       i.hidden_at, i.hidden_reason
FROM marketplace_items i LEFT JOIN users u ON u.id = i.owner_id
WHERE i.hidden_at IS NOT NULL
ORDER BY i.hidden_at DESC, i.id
LIMIT sqlc.arg(max_rows);
