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
-- Makes the account's row if it has none and holds it until the
-- transaction ends, so parallel attempts take turns.
INSERT INTO sign_in_delays AS d (account, failures, last_attempt_at, next_allowed_at)
VALUES (sqlc.arg(account), 0, sqlc.arg(now), sqlc.arg(now))
ON CONFLICT (account) DO UPDATE SET account = d.account
RETURNING *;

-- name: CountSignInAttempt :exec
UPDATE sign_in_delays SET failures = $2, last_attempt_at = $3, next_allowed_at = $4
WHERE account = $1;

-- name: ClearSignInDelay :exec
DELETE FROM sign_in_delays WHERE account = $1;

-- name: PruneSignInDelays :exec
-- Forgets accounts whose attempts are out of the window and whose delay
-- has passed: they would start again at zero anyway.
DELETE FROM sign_in_delays
WHERE last_attempt_at < sqlc.arg(now)::timestamptz - sqlc.arg(window_length)::interval
  AND next_allowed_at < sqlc.arg(now)::timestamptz;

-- name: ClearLoginFailures :exec
DELETE FROM login_failures WHERE key = $1;

-- name: RememberSignInClient :exec
INSERT INTO sign_in_clients (account, client, signed_in_at) VALUES ($1, $2, $3)
ON CONFLICT (account, client) DO UPDATE SET signed_in_at = excluded.signed_in_at;

-- name: KnownSignInClient :one
-- Whether the account signed in from the client since the given time.
SELECT EXISTS (
    SELECT 1 FROM sign_in_clients
    WHERE account = $1 AND client = $2 AND signed_in_at > sqlc.arg(since)::timestamptz
) AS known;

-- name: PruneSignInClients :exec
DELETE FROM sign_in_clients WHERE signed_in_at < sqlc.arg(before)::timestamptz;
