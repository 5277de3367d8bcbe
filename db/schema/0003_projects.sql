-- +goose Up
ALTER TABLE projects
    ADD COLUMN share_token text NOT NULL DEFAULT '',
    ADD COLUMN progress text NOT NULL DEFAULT '';

-- What happened to a project, in order: status changes and progress. The
-- id doubles as the SSE event id, so a browser resumes with Last-Event-ID.
CREATE TABLE project_events (
    id         bigserial PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX project_events_project_idx ON project_events (project_id, id);

-- Snapshots of a project's files (content-addressed blobs in the data folder).
CREATE TABLE project_checkpoints (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    label       text NOT NULL DEFAULT '',
    manifest    jsonb NOT NULL,
    file_count  integer NOT NULL DEFAULT 0,
    total_bytes bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX project_checkpoints_project_idx ON project_checkpoints (project_id, created_at DESC);

-- +goose Down
DROP TABLE project_checkpoints;
DROP TABLE project_events;
ALTER TABLE projects DROP COLUMN progress, DROP COLUMN share_token;
