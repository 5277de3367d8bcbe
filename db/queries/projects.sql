-- name: CreateProject :one
INSERT INTO projects (owner_id, name, slug, template)
VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: GetProjectForOwner :one
SELECT * FROM projects WHERE id = $1 AND owner_id = $2;

-- name: GetProject :one
SELECT * FROM projects WHERE id = $1;

-- name: GetProjectBySlug :one
SELECT * FROM projects WHERE slug = $1;

-- name: ListProjectsByOwner :many
-- Newest first; the cursor is the created_at/id of the last row seen.
SELECT * FROM projects
WHERE owner_id = sqlc.arg(owner_id)
  AND (sqlc.narg(before_created)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(before_created)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(max_rows);

-- name: ListAllProjects :many
SELECT projects.*, users.email AS owner_email
FROM projects JOIN users ON users.id = projects.owner_id
ORDER BY projects.created_at DESC
LIMIT sqlc.arg(max_rows);

-- name: ListProjectsByStatus :many
SELECT * FROM projects WHERE status = ANY(sqlc.arg(statuses)::text[]) ORDER BY id;

-- name: ListIdleProjects :many
SELECT * FROM projects
WHERE status = 'active' AND last_active_at < sqlc.arg(idle_before)::timestamptz
ORDER BY last_active_at;

-- name: CountProjectsByOwner :one
SELECT count(*) FILTER (WHERE status <> 'deleting') AS total,
       count(*) FILTER (WHERE status IN ('initializing', 'active')) AS running
FROM projects WHERE owner_id = $1;

-- name: SlugTaken :one
SELECT EXISTS (SELECT 1 FROM projects WHERE slug = $1);

-- name: RenameProject :one
UPDATE projects SET name = $3, updated_at = now()
WHERE id = $1 AND owner_id = $2 AND status <> 'deleting'
RETURNING *;

-- name: TransitionProject :one
-- Every status change is one statement guarded by the status it leaves,
-- so two replicas cannot both act on one transition.
UPDATE projects
SET status = sqlc.arg(to_status), status_reason = sqlc.arg(reason), progress = '', updated_at = now()
WHERE id = sqlc.arg(id) AND status = ANY(sqlc.arg(from_statuses)::text[])
RETURNING *;

-- name: MarkProjectActive :one
-- Guarded by the updated_at the start began from: a start that was
-- superseded by a newer transition does not get the last word.
UPDATE projects
SET status = 'active', status_reason = '', progress = '', container_id = $2, host_port = $3, url = $4, upstream = sqlc.arg(upstream),
    last_active_at = now(), updated_at = now()
WHERE id = $1 AND status = 'initializing' AND updated_at = sqlc.arg(started)
RETURNING *;

-- name: FailProject :one
UPDATE projects
SET status = 'error', status_reason = sqlc.arg(reason), progress = '', updated_at = now()
WHERE id = sqlc.arg(id) AND status = 'initializing' AND updated_at = sqlc.arg(started)
RETURNING *;

-- name: SetProjectProgress :exec
UPDATE projects SET progress = $2 WHERE id = $1 AND status = 'initializing';

-- name: TouchProject :one
-- Records use and ends a pause in one statement; was_paused says the
-- caller must thaw the container. No row: nothing changed (used within
-- the last 10 s and not paused).
UPDATE projects p SET last_active_at = now(), paused_at = NULL
FROM (SELECT o.id, o.paused_at FROM projects o WHERE o.id = $1 FOR UPDATE) old
WHERE p.id = old.id AND (p.paused_at IS NOT NULL OR p.last_active_at < now() - interval '10 seconds')
RETURNING (old.paused_at IS NOT NULL)::boolean AS was_paused;

-- name: PauseProject :one
-- Marks an active project unused since idle_before as paused; guarded by
-- its status and its last use, so a request that came meanwhile wins.
UPDATE projects SET paused_at = now()
WHERE id = sqlc.arg(id) AND status = 'active' AND paused_at IS NULL
  AND last_active_at < sqlc.arg(idle_before)::timestamptz
RETURNING *;

-- name: ListProjectsToPause :many
SELECT * FROM projects
WHERE status = 'active' AND paused_at IS NULL AND last_active_at < sqlc.arg(idle_before)::timestamptz
ORDER BY last_active_at;

-- name: SetProjectShareToken :one
UPDATE projects SET share_token = $3, updated_at = now()
WHERE id = $1 AND owner_id = $2
RETURNING *;

-- name: DeleteProjectRow :exec
DELETE FROM projects WHERE id = $1 AND status = 'deleting';

-- name: AddProjectEvent :one
INSERT INTO project_events (project_id, kind, data) VALUES ($1, $2, $3) RETURNING id;

-- name: ListProjectEventsAfter :many
SELECT * FROM project_events WHERE project_id = $1 AND id > $2 ORDER BY id LIMIT 500;

-- name: PruneProjectEvents :exec
DELETE FROM project_events WHERE created_at < now() - interval '1 day';

-- name: ClaimStaleProject :one
-- Takes over a creation whose replica vanished; only one claimant wins.
UPDATE projects SET updated_at = now(), progress = ''
WHERE id = $1 AND status = 'initializing' AND updated_at < now() - sqlc.arg(stale)::interval
RETURNING *;

-- name: LockProjectOwner :one
-- Serialises every move of one owner's projects into a running state, and
-- every creation: a second request waits here until the first commits, so
-- the count in the statement that follows cannot be passed twice.
SELECT (disabled_at IS NOT NULL)::boolean AS disabled FROM users WHERE id = $1 FOR NO KEY UPDATE;

-- name: StartProjectWithinLimits :one
-- Moves a project into initializing when its owner may run one more: the
-- owner is not disabled, an administrator's hold stands unless this is an
-- explicit start (which clears it), and a project not yet running counts
-- against max_running (0 = no limit). Run after LockProjectOwner.
UPDATE projects p
SET status = 'initializing', status_reason = '', progress = '', updated_at = now(),
    held_by_admin = p.held_by_admin AND NOT sqlc.arg(clear_hold)::boolean
WHERE p.id = sqlc.arg(id) AND p.status = ANY(sqlc.arg(from_statuses)::text[])
  AND (sqlc.arg(clear_hold)::boolean OR NOT p.held_by_admin)
  AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.owner_id AND u.disabled_at IS NOT NULL)
  AND (sqlc.arg(max_running)::int <= 0
       OR p.status IN ('initializing', 'active')
       OR (SELECT count(*) FROM projects r
           WHERE r.owner_id = p.owner_id AND r.status IN ('initializing', 'active')) < sqlc.arg(max_running)::int)
RETURNING *;

-- name: CreateProjectWithinLimits :one
-- Inserts a project when its owner may keep and run one more (0 = no
-- limit), under the id given (a claimed pool slot's) or a new one. Run
-- after LockProjectOwner.
INSERT INTO projects (id, owner_id, name, slug, template, template_item, template_version)
SELECT coalesce(sqlc.narg(id)::uuid, gen_random_uuid()), sqlc.arg(owner_id), sqlc.arg(name), sqlc.arg(slug), sqlc.arg(template),
       sqlc.narg(template_item)::text, sqlc.narg(template_version)::int
WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = sqlc.arg(owner_id) AND u.disabled_at IS NOT NULL)
  AND (sqlc.arg(max_projects)::int <= 0
       OR (SELECT count(*) FROM projects r
           WHERE r.owner_id = sqlc.arg(owner_id) AND r.status <> 'deleting') < sqlc.arg(max_projects)::int)
  AND (sqlc.arg(max_running)::int <= 0
       OR (SELECT count(*) FROM projects r
           WHERE r.owner_id = sqlc.arg(owner_id) AND r.status IN ('initializing', 'active')) < sqlc.arg(max_running)::int)
RETURNING *;

-- name: StopProjectByAdmin :one
-- An administrator's stop, which holds: wake from a preview or the editor
-- leaves the project stopped until someone starts it explicitly.
UPDATE projects
SET status = 'stopped', status_reason = sqlc.arg(reason), progress = '', held_by_admin = true, updated_at = now()
WHERE id = sqlc.arg(id) AND status IN ('initializing', 'active', 'hibernated', 'stopped', 'error')
RETURNING *;

-- name: ListLiveProjectsOfDisabledOwners :many
SELECT p.* FROM projects p JOIN users u ON u.id = p.owner_id
WHERE u.disabled_at IS NOT NULL AND p.status IN ('initializing', 'active')
ORDER BY p.id;

-- name: ClearProjectPause :exec
UPDATE projects SET paused_at = NULL WHERE id = $1;
