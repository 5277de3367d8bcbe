-- Every query here sees an item only when the user may: a built-in, their
-- own, or another user's item published to the instance while the
-- instance shares items (STUDIO_MARKETPLACE=instance). An item an
-- administrator hid is seen only by its owner and administrators (and, on
-- its page, by those who had installed it).

-- name: SearchItems :many
SELECT i.id, i.kind, i.owner_id, i.visibility, i.name, i.description, i.tags, i.icon, i.latest_version,
       i.install_count, i.rating_count, i.rating_sum, i.created_at, i.updated_at, i.hidden_at
FROM marketplace_items i
WHERE (i.owner_id IS NULL OR i.owner_id = sqlc.arg(user_id) OR (i.visibility = 'instance' AND sqlc.arg(shared)::bool))
  AND (i.hidden_at IS NULL OR i.owner_id = sqlc.arg(user_id)
       OR EXISTS (SELECT 1 FROM users a WHERE a.id = sqlc.arg(user_id) AND a.role = 'admin'))
  AND (sqlc.arg(query)::text = '' OR i.search @@ websearch_to_tsquery('english', sqlc.arg(query)::text))
  AND (sqlc.arg(kind)::text = '' OR i.kind = sqlc.arg(kind)::text)
  AND (sqlc.arg(tag)::text = '' OR i.tags @> ARRAY[sqlc.arg(tag)::text])
ORDER BY
  CASE WHEN sqlc.arg(sort)::text = 'installs' THEN i.install_count END DESC NULLS LAST,
  CASE WHEN sqlc.arg(sort)::text = 'rating' THEN i.rating_sum::float8 / NULLIF(i.rating_count, 0) END DESC NULLS LAST,
  CASE WHEN sqlc.arg(sort)::text = 'relevance' AND sqlc.arg(query)::text <> ''
       THEN ts_rank(i.search, websearch_to_tsquery('english', sqlc.arg(query)::text)) END DESC NULLS LAST,
  i.created_at DESC, i.id
LIMIT sqlc.arg(max_rows) OFFSET sqlc.arg(skip);

-- name: GetVisibleItem :one
SELECT i.id, i.kind, i.owner_id, i.visibility, i.name, i.description, i.tags, i.readme, i.icon, i.forked_from,
       i.latest_version, i.install_count, i.rating_count, i.rating_sum, i.created_at, i.updated_at,
       i.hidden_at, i.hidden_reason, mi.version AS installed_version, r.stars AS my_rating
FROM marketplace_items i
LEFT JOIN marketplace_installs mi ON mi.item_id = i.id AND mi.user_id = sqlc.arg(user_id)
LEFT JOIN marketplace_ratings r ON r.item_id = i.id AND r.user_id = sqlc.arg(user_id)
WHERE i.id = sqlc.arg(id)
  AND (i.owner_id IS NULL OR i.owner_id = sqlc.arg(user_id) OR (i.visibility = 'instance' AND sqlc.arg(shared)::bool))
  AND (i.hidden_at IS NULL OR i.owner_id = sqlc.arg(user_id) OR mi.user_id IS NOT NULL
       OR EXISTS (SELECT 1 FROM users a WHERE a.id = sqlc.arg(user_id) AND a.role = 'admin'));

-- name: ListLibrary :many
-- A user's own items and the ones they installed that they may still see.
SELECT i.id, i.kind, i.owner_id, i.visibility, i.name, i.description, i.tags, i.icon, i.latest_version,
       i.install_count, i.rating_count, i.rating_sum, i.created_at, i.updated_at, i.hidden_at,
       mi.version AS installed_version
FROM marketplace_items i
LEFT JOIN marketplace_installs mi ON mi.item_id = i.id AND mi.user_id = sqlc.arg(user_id)
WHERE i.owner_id = sqlc.arg(user_id)
   OR (mi.user_id IS NOT NULL AND i.owner_id <> sqlc.arg(user_id) AND i.visibility = 'instance' AND sqlc.arg(shared)::bool)
ORDER BY (i.owner_id = sqlc.arg(user_id)) DESC, lower(i.name), i.id;

-- name: CreateItem :exec
INSERT INTO marketplace_items (id, kind, owner_id, visibility, name, description, tags, readme, icon, forked_from)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: UpdateItem :one
-- A new version of the owner's item: the catalogue shows it from now on.
UPDATE marketplace_items
SET visibility = $3, name = $4, description = $5, tags = $6, readme = $7, icon = $8,
    latest_version = latest_version + 1, updated_at = now()
WHERE id = $1 AND owner_id = $2
RETURNING latest_version;

-- name: DeleteItem :execrows
DELETE FROM marketplace_items WHERE id = $1 AND owner_id = $2;

-- name: InstallItem :exec
-- Installing again moves the install to the given version (an update).
INSERT INTO marketplace_installs (user_id, item_id, version) VALUES ($1, $2, $3)
ON CONFLICT (user_id, item_id) DO UPDATE SET version = EXCLUDED.version, installed_at = now();

-- name: UninstallItem :execrows
DELETE FROM marketplace_installs WHERE user_id = $1 AND item_id = $2;

-- name: RateItem :exec
INSERT INTO marketplace_ratings (user_id, item_id, stars) VALUES ($1, $2, $3)
ON CONFLICT (user_id, item_id) DO UPDATE SET stars = EXCLUDED.stars, rated_at = now();
