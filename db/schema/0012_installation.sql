-- +goose Up
-- 0005 was first released without agent_runs.cancel_requested: an
-- installation that applied that version gets the column here; one that
-- applied the current 0005 already has it.
ALTER TABLE agent_runs ADD COLUMN IF NOT EXISTS cancel_requested boolean NOT NULL DEFAULT false;

-- One row naming this installation: every container it creates carries the
-- name, so two installations on one Docker engine never take each other's
-- containers for orphans. An installation that already has projects keeps
-- the name its containers were labelled with before names were generated.
CREATE TABLE installation (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    instance   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO installation (instance) SELECT 'default' WHERE EXISTS (SELECT 1 FROM projects);

-- +goose Down
DROP TABLE installation;
