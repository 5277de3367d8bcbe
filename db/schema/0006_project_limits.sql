-- +goose Up
-- An administrator's stop holds: wake from a preview or the editor leaves
-- such a project stopped, and only an explicit start clears the mark.
ALTER TABLE projects ADD COLUMN held_by_admin boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE projects DROP COLUMN held_by_admin;
