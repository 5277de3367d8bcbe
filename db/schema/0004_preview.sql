-- +goose Up
-- Signed preview links work once: the first use records the link's nonce.
CREATE TABLE preview_link_uses (
    nonce   text PRIMARY KEY,
    used_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE preview_link_uses;
