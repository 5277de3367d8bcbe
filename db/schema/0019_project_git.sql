-- +goose Up
-- The repository a project pushes to and pulls from. The address lives
-- here, not in the project's .git/config, which the project's code can
-- change; with github set, pushes and pulls send the owner's GitHub
-- token, and only to GitHub's own host.
CREATE TABLE project_git_links (
    project_id  uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    remote_url  text NOT NULL CHECK (length(remote_url) BETWEEN 1 AND 2048),
    branch      text NOT NULL CHECK (length(branch) BETWEEN 1 AND 255),
    github      boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The built-in agents that read the project also read its git status and
-- diff (read-only: committing and pushing are the person's acts), as a new
-- published version of each.
INSERT INTO agent_versions (agent_id, version, name, description, mode, read_only, system_prompt, tools, model, temperature, icon, readme)
SELECT v.agent_id, v.version + 1, v.name, v.description, v.mode, v.read_only, v.system_prompt,
       v.tools || '{git_status,git_diff}'::text[], v.model, v.temperature, v.icon, v.readme
FROM agent_versions v JOIN agents a ON a.id = v.agent_id AND a.version = v.version
WHERE a.owner_id IS NULL AND a.id IN ('builder', 'reviewer');
UPDATE agents SET tools = tools || '{git_status,git_diff}'::text[], version = version + 1
WHERE owner_id IS NULL AND id IN ('builder', 'reviewer');
UPDATE marketplace_items SET latest_version = latest_version + 1 WHERE owner_id IS NULL AND id IN ('builder', 'reviewer');

-- +goose Down
UPDATE marketplace_items SET latest_version = latest_version - 1 WHERE owner_id IS NULL AND id IN ('builder', 'reviewer');
UPDATE agents SET tools = array_remove(array_remove(tools, 'git_status'), 'git_diff'), version = version - 1
WHERE owner_id IS NULL AND id IN ('builder', 'reviewer');
DELETE FROM agent_versions v USING agents a
WHERE a.id = v.agent_id AND a.owner_id IS NULL AND a.id IN ('builder', 'reviewer') AND v.version = a.version + 1;
DROP TABLE project_git_links;
