-- +goose Up
-- Failed sign-ins slow an account down instead of locking it: each
-- account has a count of attempts without a right password and the moment
-- its next attempt may be checked. Per-address failures stay in
-- login_failures.
CREATE TABLE sign_in_delays (
    account         text PRIMARY KEY,
    failures        integer NOT NULL,
    last_attempt_at timestamptz NOT NULL,
    next_allowed_at timestamptz NOT NULL
);

-- Account failures were counted in login_failures before.
DELETE FROM login_failures WHERE key LIKE 'account:%';

-- +goose Down
DROP TABLE sign_in_delays;
