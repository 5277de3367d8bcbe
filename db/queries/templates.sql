-- name: CreateTemplateVersion :exec
INSERT INTO template_versions (template_id, version, name, description, base, screenshots, file_count, total_bytes, bundle, sha256)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: ListTemplateVersions :many
-- A template's versions, newest first, without their bundles.
SELECT template_id, version, name, description, base, screenshots, file_count, total_bytes, sha256, created_at
FROM template_versions WHERE template_id = $1 ORDER BY version DESC;

-- name: GetTemplateBundle :one
SELECT bundle, sha256, base FROM template_versions WHERE template_id = $1 AND version = $2;

-- name: ListUsableTemplates :many
-- The templates a user can start a project from: the built-ins in studio's
-- order, their own and the ones they installed that they may still see and that are not
-- hidden; installed ones at the version they installed.
SELECT i.id, i.name, i.description, i.icon, i.owner_id,
       coalesce(mi.version, i.latest_version)::int AS version,
       coalesce(tv.base, i.id)::text AS base
FROM marketplace_items i
LEFT JOIN marketplace_installs mi ON mi.item_id = i.id AND mi.user_id = sqlc.arg(user_id)
LEFT JOIN template_versions tv ON tv.template_id = i.id AND tv.version = coalesce(mi.version, i.latest_version)
WHERE i.kind = 'template'
  AND (i.owner_id IS NULL OR i.owner_id = sqlc.arg(user_id)
       OR (mi.user_id IS NOT NULL AND i.visibility = 'instance' AND sqlc.arg(shared)::bool AND i.hidden_at IS NULL))
ORDER BY (i.owner_id IS NULL) DESC, array_position(ARRAY['react-vite', 'vanilla-vite', 'static'], i.id),
         (i.owner_id = sqlc.arg(user_id)) DESC, lower(i.name), i.id;
