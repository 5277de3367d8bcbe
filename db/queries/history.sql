-- name: SetRunAfterCheckpoint :exec
UPDATE agent_runs SET after_checkpoint_id = $2 WHERE id = $1;
