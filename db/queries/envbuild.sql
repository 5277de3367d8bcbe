-- name: LockProjectForEnv :one
SELECT id FROM projects WHERE id = $1 FOR UPDATE;

-- name: ListProjectEnvVars :many
SELECT * FROM project_env_vars WHERE project_id = $1 ORDER BY name;

-- name: CountProjectEnvVars :one
SELECT count(*), coalesce(sum(length(value)), 0)::bigint AS sealed_size
FROM project_env_vars WHERE project_id = $1 AND name <> sqlc.arg(except_name);

-- name: UpsertProjectEnvVar :one
INSERT INTO project_env_vars (project_id, name, value) VALUES ($1, $2, $3)
ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value, updated_at = now()
RETURNING *;

-- name: DeleteProjectEnvVar :execrows
DELETE FROM project_env_vars WHERE project_id = $1 AND name = $2;

-- name: ListAllSealedProjectEnvVars :many
SELECT project_id, name, value FROM project_env_vars ORDER BY project_id, name FOR UPDATE;

-- name: UpdateSealedProjectEnvVar :exec
UPDATE project_env_vars SET value = $3 WHERE project_id = $1 AND name = $2;

-- name: GetProjectSite :one
SELECT * FROM project_sites WHERE project_id = $1;

-- name: ReplaceProjectSite :one
INSERT INTO project_sites (project_id, public, files, size) VALUES ($1, $2, $3, $4)
ON CONFLICT (project_id) DO UPDATE SET public = excluded.public, files = excluded.files, size = excluded.size, published_at = now()
RETURNING *;

-- name: DeleteProjectSiteFiles :exec
DELETE FROM project_site_files WHERE project_id = $1;

-- name: AddProjectSiteFile :exec
INSERT INTO project_site_files (project_id, path, content) VALUES ($1, $2, $3);

-- name: SetProjectSitePublic :one
UPDATE project_sites SET public = $2 WHERE project_id = $1 RETURNING *;

-- name: DeleteProjectSite :execrows
DELETE FROM project_sites WHERE project_id = $1;

-- name: GetProjectSiteFile :one
SELECT content FROM project_site_files WHERE project_id = $1 AND path = $2;
