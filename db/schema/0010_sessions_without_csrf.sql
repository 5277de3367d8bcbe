-- +goose Up
-- CSRF tokens are an HMAC of the session id now: the stored token is unused.
ALTER TABLE sessions DROP COLUMN csrf_token;

-- +goose Down
ALTER TABLE sessions ADD COLUMN csrf_token text NOT NULL DEFAULT '';
