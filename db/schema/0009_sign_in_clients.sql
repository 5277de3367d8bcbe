-- +goose Up
-- The clients (an IPv4 address, or an IPv6 /64) an account last signed in
-- from: such a known client is not held by the delay that failures from
-- elsewhere earned, so whoever keeps that delay armed cannot keep the
-- owner out.
CREATE TABLE sign_in_clients (
    account      text NOT NULL,
    client       text NOT NULL,
    signed_in_at timestamptz NOT NULL,
    PRIMARY KEY (account, client)
);

-- +goose Down
DROP TABLE sign_in_clients;
