-- name: GetRunnableAgentVersion :one
-- The version a user's run uses: the latest of a built-in or their own
-- agent, the installed version of someone else's.
SELECT v.* FROM agent_versions v
JOIN marketplace_items i ON i.id = v.agent_id
LEFT JOIN marketplace_installs mi ON mi.item_id = i.id AND mi.user_id = sqlc.arg(user_id)
WHERE v.agent_id = sqlc.arg(id)
  AND (
    ((i.owner_id IS NULL OR i.owner_id = sqlc.arg(user_id)) AND v.version = i.latest_version)
    OR (i.owner_id <> sqlc.arg(user_id) AND i.visibility = 'instance' AND sqlc.arg(shared)::bool AND v.version = mi.version)
  );

-- name: ListPickerAgents :many
-- The chat's agent picker and GET /api/agents: built-ins, then the user's
-- own agents, then the ones they installed, each at the version a run uses.
SELECT v.* FROM agent_versions v
JOIN marketplace_items i ON i.id = v.agent_id
LEFT JOIN marketplace_installs mi ON mi.item_id = i.id AND mi.user_id = sqlc.arg(user_id)
WHERE ((i.owner_id IS NULL OR i.owner_id = sqlc.arg(user_id)) AND v.version = i.latest_version)
   OR (i.owner_id <> sqlc.arg(user_id) AND i.visibility = 'instance' AND sqlc.arg(shared)::bool AND v.version = mi.version)
ORDER BY (i.owner_id IS NULL) DESC, (i.owner_id = sqlc.arg(user_id)) DESC, i.created_at, i.id;

-- name: CreateAgent :exec
INSERT INTO agents (id, owner_id, name, description, mode, read_only, system_prompt, tools, model, temperature, icon, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1);

-- name: UpdateAgentHead :exec
UPDATE agents SET name = $2, description = $3, mode = $4, read_only = $5, system_prompt = $6, tools = $7,
    model = $8, temperature = $9, icon = $10, version = $11
WHERE id = $1;

-- name: CreateAgentVersion :one
INSERT INTO agent_versions (agent_id, version, name, description, mode, read_only, system_prompt, tools, model, temperature, icon, readme)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING *;

-- name: GetAgentVersion :one
SELECT * FROM agent_versions WHERE agent_id = $1 AND version = $2;

-- name: ListAgentVersions :many
SELECT * FROM agent_versions WHERE agent_id = $1 ORDER BY version DESC;
