-- name: CreateRun :one
INSERT INTO agent_runs (project_id, user_id, agent_id, agent_version, agent_name, model, instance)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: GetRunForUser :one
SELECT * FROM agent_runs WHERE id = $1 AND user_id = $2;

-- name: GetRun :one
SELECT * FROM agent_runs WHERE id = $1;

-- name: GetActiveRunForProject :one
SELECT * FROM agent_runs WHERE project_id = $1 AND status = 'running';

-- name: ListRunsForProject :many
SELECT * FROM agent_runs WHERE project_id = $1 ORDER BY created_at DESC LIMIT sqlc.arg(max_rows);

-- name: SetRunCheckpoint :exec
UPDATE agent_runs SET checkpoint_id = $2 WHERE id = $1;

-- name: UpdateRunUsage :exec
UPDATE agent_runs
SET steps = $2, input_tokens = $3, output_tokens = $4, cost_usd = $5, heartbeat_at = now()
WHERE id = $1 AND status = 'running';

-- name: HeartbeatRuns :many
-- Beats the runs that are still running and says which of them were asked
-- to stop; a run missing from the answer was ended elsewhere.
UPDATE agent_runs SET heartbeat_at = now() WHERE id = ANY(sqlc.arg(ids)::uuid[]) AND status = 'running'
RETURNING id, cancel_requested;

-- name: RequestCancel :one
UPDATE agent_runs SET cancel_requested = true WHERE id = $1 AND status = 'running'
RETURNING *;

-- name: GetRunAnswer :one
SELECT content FROM chat_messages WHERE run_id = $1 AND role = 'assistant' ORDER BY created_at DESC LIMIT 1;

-- name: FinishRun :one
UPDATE agent_runs
SET status = sqlc.arg(status), error = sqlc.arg(error), finished_at = now(),
    steps = sqlc.arg(steps), input_tokens = sqlc.arg(input_tokens),
    output_tokens = sqlc.arg(output_tokens), cost_usd = sqlc.arg(cost_usd)
WHERE id = sqlc.arg(id) AND status = 'running'
RETURNING *;

-- name: ListStaleRuns :many
-- Runs whose process stopped beating, or, when this process is the only
-- one, every run of an earlier life that it does not hold.
SELECT * FROM agent_runs
WHERE status = 'running'
  AND (heartbeat_at < sqlc.arg(stale_before)::timestamptz
       OR (sqlc.arg(sole)::boolean AND heartbeat_at < sqlc.arg(started)::timestamptz
           AND NOT (id = ANY(sqlc.arg(live)::uuid[]))));

-- name: AbandonRun :one
UPDATE agent_runs SET status = 'failed', error = sqlc.arg(error), finished_at = now()
WHERE id = sqlc.arg(id) AND status = 'running'
RETURNING *;

-- name: ListRunEventsAfter :many
SELECT * FROM agent_run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT sqlc.arg(max_rows);

-- name: LastRunEventSeq :one
SELECT COALESCE(max(seq), 0)::bigint FROM agent_run_events WHERE run_id = $1;

-- name: InsertRunEvents :exec
-- The events of several runs in one statement.
INSERT INTO agent_run_events (run_id, seq, kind, data)
SELECT unnest(sqlc.arg(run_ids)::uuid[]), unnest(sqlc.arg(seqs)::bigint[]), unnest(sqlc.arg(kinds)::text[]), unnest(sqlc.arg(datas)::jsonb[])
ON CONFLICT (run_id, seq) DO NOTHING;

-- name: InsertCommandLog :exec
INSERT INTO agent_command_logs (run_id, tool, args, ok, result, output_bytes, exit_code, duration_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: ListCommandLogs :many
SELECT * FROM agent_command_logs WHERE run_id = $1 ORDER BY id;

-- name: CountRunCommands :one
SELECT count(*) FROM agent_command_logs WHERE run_id = $1 AND tool = $2;

-- name: GetRunDoneSeq :one
SELECT seq FROM agent_run_events WHERE run_id = $1 AND kind = 'done' ORDER BY seq LIMIT 1;

-- name: ListCommandLogsForRuns :many
SELECT * FROM agent_command_logs WHERE run_id = ANY(sqlc.arg(run_ids)::uuid[]) ORDER BY id;
