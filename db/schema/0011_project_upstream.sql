-- +goose Up
-- Where the proxy reaches an active project's dev server: 127.0.0.1:port
-- for a Docker container, the pod's address:port on Kubernetes.
ALTER TABLE projects ADD COLUMN upstream text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE projects DROP COLUMN upstream;
