-- +goose Up
-- Agents: a system prompt, the tools it may use and how it talks to the
-- model. Built-in agents have no owner.
CREATE TABLE agents (
    id            text PRIMARY KEY,
    owner_id      uuid REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    mode          text NOT NULL CHECK (mode IN ('tools', 'code_blocks')),
    system_prompt text NOT NULL,
    tools         text[] NOT NULL DEFAULT '{}',
    model         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);

INSERT INTO agents (id, name, description, mode, system_prompt, tools) VALUES
('builder', 'Builder', 'Builds and changes the app: reads, writes and edits files, runs commands and reads the dev server''s logs.', 'tools',
$$You are Studio's builder, an expert web developer working inside the user's project. The project runs a Vite (or static) dev server with hot reload; the user sees the live preview beside this chat.
Work in small, correct steps:
- Look before you change: list and read the files you need.
- Change existing files with edit_file (exact search and replace). Use write_file for new files or when most of a file changes, and then always send the whole file: never leave placeholders such as "rest of the code unchanged".
- Keep the app building: after changes, check get_logs for errors and fix them.
- Use run_command for things like npm scripts; commands run without a shell.
When done, say briefly what you changed.$$,
'{list_files,read_file,write_file,edit_file,delete_file,search_files,run_command,get_logs}'),
('code-block', 'Code blocks', 'For models without tool calling: answers with whole files in fenced code blocks that name their path.', 'code_blocks',
$$You are Studio's builder, an expert web developer working inside the user's project, which runs a Vite (or static) dev server with hot reload.
You cannot call tools. To create or change a file, answer with the complete file in a fenced code block whose info string is the language followed by the file's path, for example:
```tsx src/App.tsx
export default function App() { return <h1>Hello</h1> }
```
Every block is saved as that file as soon as it is complete, so always send the whole file, never a part of it or a placeholder such as "rest of the code unchanged". Say briefly what you changed.$$,
'{}'),
('reviewer', 'Reviewer', 'Reads the project and answers questions or reviews code; never changes files.', 'tools',
$$You are Studio's reviewer. You read the user's project to answer questions, explain code and review changes. You cannot change files: suggest changes in your answer instead. Be concrete and brief, and name files and lines.$$,
'{list_files,read_file,search_files,get_logs}');

-- One run of an agent on a project. The process that runs it beats
-- heartbeat_at; a run whose beat stops is ended by any replica.
CREATE TABLE agent_runs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id    uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    agent_id      text NOT NULL REFERENCES agents (id),
    model         text NOT NULL,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'budget_exceeded')),
    steps         integer NOT NULL DEFAULT 0,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cost_usd      double precision NOT NULL DEFAULT 0,
    error         text NOT NULL DEFAULT '',
    checkpoint_id uuid REFERENCES project_checkpoints (id) ON DELETE SET NULL,
    cancel_requested boolean NOT NULL DEFAULT false,
    instance      text NOT NULL DEFAULT '',
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE UNIQUE INDEX agent_runs_one_active ON agent_runs (project_id) WHERE status = 'running';
CREATE INDEX agent_runs_project_idx ON agent_runs (project_id, created_at DESC);

-- The replayable stream of a run: seq is the SSE event id.
CREATE TABLE agent_run_events (
    run_id     uuid NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    kind       text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);

-- Every tool call an agent made.
CREATE TABLE agent_command_logs (
    id           bigserial PRIMARY KEY,
    run_id       uuid NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    tool         text NOT NULL,
    args         jsonb NOT NULL DEFAULT '{}',
    ok           boolean NOT NULL,
    result       text NOT NULL DEFAULT '',
    output_bytes integer NOT NULL DEFAULT 0,
    exit_code    integer,
    duration_ms  integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_command_logs_run_idx ON agent_command_logs (run_id, id);

-- The chat of a project: the user's messages and the agents' answers.
CREATE TABLE chat_messages (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('user', 'assistant')),
    content    text NOT NULL,
    run_id     uuid REFERENCES agent_runs (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_project_idx ON chat_messages (project_id, created_at, id);

-- +goose Down
DROP TABLE chat_messages;
DROP TABLE agent_command_logs;
DROP TABLE agent_run_events;
DROP TABLE agent_runs;
DROP TABLE agents;
