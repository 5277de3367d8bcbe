-- name: UsePreviewLink :execrows
-- One row affected: first use. Zero: the link was used already.
INSERT INTO preview_link_uses (nonce) VALUES ($1) ON CONFLICT DO NOTHING;

-- name: PrunePreviewLinkUses :exec
DELETE FROM preview_link_uses WHERE used_at < now() - interval '1 hour';
