-- name: UsePreviewLink :execrows
-- One row affected: first use. Zero: the link was used already.
INSERT INTO preview_link_uses (nonce) VALUES ($1) ON CONFLICT DO NOTHING;

-- name: PrunePreviewLinkUses :exec
DELETE FROM preview_link_uses WHERE used_at < now() - interval '1 hour';

-- name: PreviewSessionHolds :one
-- The browser session behind a preview grant is live and its user enabled.
SELECT EXISTS (
    SELECT 1 FROM sessions JOIN users ON users.id = sessions.user_id
    WHERE sessions.id = $1
      AND sessions.user_id = $2
      AND sessions.revoked_at IS NULL
      AND sessions.expires_at > now()
      AND sessions.last_seen_at > now() - sqlc.arg(idle_limit)::interval
      AND users.disabled_at IS NULL
);

-- name: UserEnabled :one
SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND disabled_at IS NULL);
