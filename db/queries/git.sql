-- name: GetProjectGitLink :one
SELECT * FROM project_git_links WHERE project_id = $1;

-- name: SetProjectGitLink :one
INSERT INTO project_git_links (project_id, remote_url, branch, github)
VALUES ($1, $2, $3, $4)
ON CONFLICT (project_id) DO UPDATE
SET remote_url = EXCLUDED.remote_url, branch = EXCLUDED.branch, github = EXCLUDED.github, updated_at = now()
RETURNING *;

-- name: DeleteProjectGitLink :exec
DELETE FROM project_git_links WHERE project_id = $1;

-- name: LastRunAnswerForProject :one
-- The final answer of the project's last run that succeeded: a commit
-- message's suggestion.
SELECT m.content FROM chat_messages m
JOIN agent_runs r ON r.id = m.run_id
WHERE r.project_id = $1 AND r.status = 'succeeded' AND m.role = 'assistant'
ORDER BY m.created_at DESC LIMIT 1;
