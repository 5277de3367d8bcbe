-- +goose Up
-- Moderation: an administrator may hide a user's item (it leaves the
-- catalogue for everyone but its owner, administrators and those who had
-- installed it, and cannot be installed), and users may report items.
-- Built-ins cannot be hidden.
ALTER TABLE marketplace_items ADD COLUMN hidden_at timestamptz;
ALTER TABLE marketplace_items ADD COLUMN hidden_reason text NOT NULL DEFAULT '';
ALTER TABLE marketplace_items ADD CONSTRAINT marketplace_items_builtin_not_hidden CHECK (hidden_at IS NULL OR owner_id IS NOT NULL);
CREATE INDEX marketplace_items_hidden_idx ON marketplace_items (hidden_at DESC) WHERE hidden_at IS NOT NULL;

-- What users report; an administrator resolves a report by hiding or
-- unpublishing its item, or dismisses it. One open report per user and item.
CREATE TABLE marketplace_reports (
    id          bigserial PRIMARY KEY,
    item_id     text NOT NULL REFERENCES marketplace_items (id) ON DELETE CASCADE,
    reporter_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 1000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolved_by uuid REFERENCES users (id) ON DELETE SET NULL,
    resolution  text CHECK (resolution IN ('dismissed', 'hidden', 'unpublished')),
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);
CREATE UNIQUE INDEX marketplace_reports_one_open_idx ON marketplace_reports (item_id, reporter_id) WHERE resolved_at IS NULL;
CREATE INDEX marketplace_reports_open_idx ON marketplace_reports (created_at) WHERE resolved_at IS NULL;

-- +goose Down
DROP TABLE marketplace_reports;
DROP INDEX marketplace_items_hidden_idx;
ALTER TABLE marketplace_items DROP CONSTRAINT marketplace_items_builtin_not_hidden;
ALTER TABLE marketplace_items DROP COLUMN hidden_reason;
ALTER TABLE marketplace_items DROP COLUMN hidden_at;
