-- +goose Up
-- A person's GitHub connection: a token sealed like provider keys (the key
-- id is inside the ciphertext), and, when GitHub issues expiring tokens,
-- the sealed refresh token and when the access token expires.
CREATE TABLE github_connections (
    user_id          uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    login            text NOT NULL,
    access_token     text NOT NULL,
    refresh_token    text NOT NULL DEFAULT '',
    expires_at       timestamptz,
    method           text NOT NULL CHECK (method IN ('token', 'oauth')),
    connected_at     timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The OAuth web flow's state: single use, bound to the browser session
-- that started it, kept only as a hash.
CREATE TABLE github_oauth_states (
    state_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE github_oauth_states;
DROP TABLE github_connections;
