-- +goose Up
-- Two-stage idle: an active project nobody uses is first paused (its
-- container frozen, memory kept, no CPU), later hibernated. paused_at is
-- when it was frozen, NULL while it runs. A project that leaves 'active'
-- is never paused, whatever statement moves it: the trigger clears it.
ALTER TABLE projects ADD COLUMN paused_at timestamptz;
ALTER TABLE projects ADD CONSTRAINT projects_paused_only_active CHECK (paused_at IS NULL OR status = 'active');

-- +goose StatementBegin
CREATE FUNCTION projects_clear_paused() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.paused_at := NULL;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER projects_clear_paused
    BEFORE UPDATE ON projects
    FOR EACH ROW
    WHEN (NEW.status <> 'active' AND NEW.paused_at IS NOT NULL)
    EXECUTE FUNCTION projects_clear_paused();

-- +goose Down
DROP TRIGGER projects_clear_paused ON projects;
DROP FUNCTION projects_clear_paused();
ALTER TABLE projects DROP CONSTRAINT projects_paused_only_active;
ALTER TABLE projects DROP COLUMN paused_at;
