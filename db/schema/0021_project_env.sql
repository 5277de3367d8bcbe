-- +goose Up
-- A project's environment variables, handed to its dev server's container
-- at create. Values are sealed like provider keys (the key id is inside the
-- ciphertext, the project id and name are its associated data) and never
-- read back to a browser.
CREATE TABLE project_env_vars (
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name ~ '^[A-Z_][A-Z0-9_]*$' AND length(name) <= 128),
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, name)
);

-- +goose Down
DROP TABLE project_env_vars;
