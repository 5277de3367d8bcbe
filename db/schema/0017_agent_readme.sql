-- +goose Up
-- An agent's README (markdown, shown sanitised on its page) is kept per
-- version. The item's readme column stays what search reads: the latest
-- version's README followed by its system prompt.
ALTER TABLE agent_versions ADD COLUMN readme text NOT NULL DEFAULT '';

-- A run names the agent that answered as it was called then, so the chat
-- still says which one after the agent is renamed or deleted.
ALTER TABLE agent_runs ADD COLUMN agent_name text NOT NULL DEFAULT '';
UPDATE agent_runs r SET agent_name = v.name
FROM agent_versions v WHERE v.agent_id = r.agent_id AND v.version = r.agent_version;

-- +goose Down
ALTER TABLE agent_runs DROP COLUMN agent_name;
ALTER TABLE agent_versions DROP COLUMN readme;
