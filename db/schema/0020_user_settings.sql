-- +goose Up
-- How each person arranged the workspace: pane widths and which panes
-- are collapsed, a small JSON object the workspace page reads back.
CREATE TABLE user_settings (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    layout      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(layout) = 'object' AND length(layout::text) <= 1024),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE user_settings;
