-- +goose Up
-- The checkpoint taken when a run ends: with the one taken before it, what
-- the run changed, even after later edits.
ALTER TABLE agent_runs ADD COLUMN after_checkpoint_id uuid REFERENCES project_checkpoints (id) ON DELETE SET NULL;

-- +goose Down
ALTER TABLE agent_runs DROP COLUMN after_checkpoint_id;
