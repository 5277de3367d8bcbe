-- name: AddLoginFailure :exec
INSERT INTO login_failures (key) VALUES ($1);

-- name: RecentLoginFailures :one
-- How many failures a key has in the window, and when the oldest of them
-- leaves it.
SELECT count(*)::int AS failures, coalesce(min(failed_at), now())::timestamptz AS oldest
FROM login_failures
WHERE key = $1 AND failed_at > now() - sqlc.arg(window_length)::interval;

-- name: ClearLoginFailures :exec
DELETE FROM login_failures WHERE key = $1;

-- name: PruneLoginFailures :exec
DELETE FROM login_failures WHERE failed_at < now() - sqlc.arg(window_length)::interval;
