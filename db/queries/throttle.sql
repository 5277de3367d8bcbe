-- name: AddLoginFailure :exec
INSERT INTO login_failures (key) VALUES ($1);

-- name: RecentLoginFailures :one
-- How many failures a key has in the window, and when the oldest of them
-- leaves it.
SELECT count(*)::int AS failures, coalesce(min(failed_at), now())::timestamptz AS oldest
FROM login_failures
WHERE key = $1 AND failed_at > now() - sqlc.arg(window_length)::interval;

-- name: PruneLoginFailures :exec
DELETE FROM login_failures WHERE failed_at < now() - sqlc.arg(window_length)::interval;

-- name: LockSignInDelay :one
-- Holds the account's row until the transaction ends, so parallel
-- attempts take turns deciding whether a delay runs.
SELECT * FROM sign_in_delays WHERE account = $1 FOR UPDATE;

-- name: HoldSignInAttempts :exec
UPDATE sign_in_delays SET next_allowed_at = $2 WHERE account = $1;

-- name: AddSignInFailure :one
-- Counts a failure; a count whose last failure is older than the window
-- starts again at one.
INSERT INTO sign_in_delays AS d (account, failures, last_failed_at, next_allowed_at)
VALUES (sqlc.arg(account), 1, sqlc.arg(failed_at), sqlc.arg(failed_at))
ON CONFLICT (account) DO UPDATE SET
    failures = CASE WHEN d.last_failed_at < sqlc.arg(failed_at) - sqlc.arg(window_length)::interval
                    THEN 1 ELSE d.failures + 1 END,
    last_failed_at = sqlc.arg(failed_at)
RETURNING failures;

-- name: ClearSignInDelay :exec
DELETE FROM sign_in_delays WHERE account = $1;

-- name: PruneSignInDelays :exec
-- Forgets accounts whose failures are out of the window and whose delay
-- has passed: they would start again at one anyway.
DELETE FROM sign_in_delays
WHERE last_failed_at < sqlc.arg(now)::timestamptz - sqlc.arg(window_length)::interval
  AND next_allowed_at < sqlc.arg(now)::timestamptz;

-- name: ClearLoginFailures :exec
DELETE FROM login_failures WHERE key = $1;
