-- +goose Up
-- The warm pool: containers started ahead of time from a fresh copy of a
-- template, each under the id the project that claims it will have, so
-- its container, network, labels and bind-mounted folder need no change.
-- warming: this replica is making it; ready: claimable; claimed: a project
-- row with this id was committed with it and the rest of the hand-over
-- (its CPU priority) is being finished; discarding: being removed.
CREATE TABLE pool_slots (
    id           uuid PRIMARY KEY,
    template     text NOT NULL,
    version      text NOT NULL,
    state        text NOT NULL DEFAULT 'warming'
                 CHECK (state IN ('warming', 'ready', 'claimed', 'discarding')),
    container_id text NOT NULL DEFAULT '',
    host_port    integer NOT NULL DEFAULT 0,
    upstream     text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pool_slots_ready_idx ON pool_slots (template, version, updated_at) WHERE state = 'ready';

-- Hits and misses of creates, per template, since the database was made.
CREATE TABLE pool_stats (
    template text PRIMARY KEY,
    hits     bigint NOT NULL DEFAULT 0,
    misses   bigint NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE pool_stats;
DROP TABLE pool_slots;
