-- name: LockPoolTemplate :exec
-- Serialises the replicas' refills of one template until the transaction
-- ends, so together they never go above its size.
SELECT pg_advisory_xact_lock(hashtext('studio-pool:' || sqlc.arg(template)::text));

-- name: ReservePoolSlot :one
-- A new warming slot, when the template has fewer than size live slots.
-- Run after LockPoolTemplate.
INSERT INTO pool_slots (id, template, version)
SELECT sqlc.arg(id), sqlc.arg(template), sqlc.arg(version)
WHERE (SELECT count(*) FROM pool_slots
       WHERE template = sqlc.arg(template) AND state IN ('warming', 'ready')) < sqlc.arg(size)::int
RETURNING *;

-- name: MarkPoolSlotReady :one
UPDATE pool_slots
SET state = 'ready', container_id = sqlc.arg(container_id), host_port = sqlc.arg(host_port),
    upstream = sqlc.arg(upstream), updated_at = now()
WHERE id = sqlc.arg(id) AND state = 'warming'
RETURNING *;

-- name: ClaimPoolSlot :one
-- The oldest ready slot of the template, taken by one create only: a slot
-- another transaction is claiming is skipped, not waited for.
UPDATE pool_slots
SET state = 'claimed', updated_at = now()
WHERE id = (
    SELECT s.id FROM pool_slots s
    WHERE s.template = sqlc.arg(template) AND s.version = sqlc.arg(version) AND s.state = 'ready'
    ORDER BY s.updated_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: DiscardPoolSlot :one
-- Takes a slot out of the pool before its container and folder are
-- removed: from warming or ready only, never from claimed (it is a
-- project's now).
UPDATE pool_slots
SET state = 'discarding', updated_at = now()
WHERE id = sqlc.arg(id) AND state IN ('warming', 'ready', 'discarding')
RETURNING *;

-- name: DeletePoolSlot :exec
DELETE FROM pool_slots WHERE id = $1;

-- name: GetPoolSlot :one
SELECT * FROM pool_slots WHERE id = $1;

-- name: ListPoolSlots :many
SELECT * FROM pool_slots ORDER BY template, created_at;

-- name: CountPoolHit :exec
INSERT INTO pool_stats (template, hits) VALUES ($1, 1)
ON CONFLICT (template) DO UPDATE SET hits = pool_stats.hits + 1;

-- name: CountPoolMiss :exec
INSERT INTO pool_stats (template, misses) VALUES ($1, 1)
ON CONFLICT (template) DO UPDATE SET misses = pool_stats.misses + 1;

-- name: ListPoolStats :many
SELECT * FROM pool_stats ORDER BY template;

-- name: SetPoolSlotDiscarding :exec
-- A slot a claim found dead, in the claim's transaction.
UPDATE pool_slots SET state = 'discarding', updated_at = now() WHERE id = $1;
