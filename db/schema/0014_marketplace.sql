-- +goose Up
-- The marketplace: every agent (and, later, template) is an item with a
-- kind, an owner (none for the built-ins), a visibility and immutable
-- versions. The item row carries what the catalogue shows and searches
-- (the latest version's name, description, tags and readme — an agent's
-- readme is its system prompt) plus its install and rating counters, kept
-- by triggers. An agent's own row in agents is its latest version, and
-- agent_versions keeps every published one.
-- +goose StatementBegin
CREATE FUNCTION marketplace_search_doc(name text, description text, tags text[], readme text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english'::regconfig, name), 'A')
        || setweight(to_tsvector('english'::regconfig, array_to_string(tags, ' ')), 'A')
        || setweight(to_tsvector('english'::regconfig, description), 'B')
        || setweight(to_tsvector('english'::regconfig, left(readme, 100000)), 'C')
$$;
-- +goose StatementEnd

CREATE TABLE marketplace_items (
    id             text PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('agent', 'template')),
    owner_id       uuid REFERENCES users (id) ON DELETE CASCADE,
    visibility     text NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'instance')),
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    tags           text[] NOT NULL DEFAULT '{}',
    readme         text NOT NULL DEFAULT '',
    icon           text NOT NULL DEFAULT '',
    forked_from    text REFERENCES marketplace_items (id) ON DELETE SET NULL,
    latest_version integer NOT NULL DEFAULT 1,
    install_count  integer NOT NULL DEFAULT 0,
    rating_count   integer NOT NULL DEFAULT 0,
    rating_sum     integer NOT NULL DEFAULT 0,
    search         tsvector GENERATED ALWAYS AS (marketplace_search_doc(name, description, tags, readme)) STORED,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- Built-ins belong to the instance.
    CHECK (owner_id IS NOT NULL OR visibility = 'instance')
);
CREATE INDEX marketplace_items_search_idx ON marketplace_items USING gin (search);
CREATE INDEX marketplace_items_tags_idx ON marketplace_items USING gin (tags);
CREATE INDEX marketplace_items_owner_idx ON marketplace_items (owner_id);
CREATE INDEX marketplace_items_installs_idx ON marketplace_items (install_count DESC, created_at DESC);
CREATE INDEX marketplace_items_newest_idx ON marketplace_items (created_at DESC);

INSERT INTO marketplace_items (id, kind, owner_id, visibility, name, description, readme, created_at)
SELECT id, 'agent', owner_id, CASE WHEN owner_id IS NULL THEN 'instance' ELSE 'private' END, name, description, system_prompt, created_at
FROM agents;

-- agents rows are the latest version of their item.
ALTER TABLE agents ADD COLUMN read_only boolean NOT NULL DEFAULT false;
ALTER TABLE agents ADD COLUMN temperature double precision CHECK (temperature BETWEEN 0 AND 2);
ALTER TABLE agents ADD COLUMN icon text NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE agents ADD CONSTRAINT agents_item_fkey FOREIGN KEY (id) REFERENCES marketplace_items (id) ON DELETE CASCADE;
-- A read-only agent cannot save files in code-block mode.
ALTER TABLE agents ADD CONSTRAINT agents_read_only_tools CHECK (NOT read_only OR mode = 'tools');
UPDATE agents SET read_only = true WHERE id = 'reviewer';

CREATE TABLE agent_versions (
    agent_id      text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    version       integer NOT NULL CHECK (version >= 1),
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    mode          text NOT NULL CHECK (mode IN ('tools', 'code_blocks')),
    read_only     boolean NOT NULL DEFAULT false,
    system_prompt text NOT NULL,
    tools         text[] NOT NULL DEFAULT '{}',
    model         text NOT NULL DEFAULT '',
    temperature   double precision CHECK (temperature BETWEEN 0 AND 2),
    icon          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, version),
    CHECK (NOT read_only OR mode = 'tools')
);
INSERT INTO agent_versions (agent_id, version, name, description, mode, read_only, system_prompt, tools, model, created_at)
SELECT id, 1, name, description, mode, read_only, system_prompt, tools, model, created_at FROM agents;

-- A published version never changes: editing publishes a new one.
-- +goose StatementBegin
CREATE FUNCTION agent_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'published agent versions are immutable; publish a new version instead';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER agent_versions_immutable BEFORE UPDATE ON agent_versions
    FOR EACH ROW EXECUTE FUNCTION agent_versions_immutable();

-- What a user installed, pinned to a version until they update.
CREATE TABLE marketplace_installs (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    item_id      text NOT NULL REFERENCES marketplace_items (id) ON DELETE CASCADE,
    version      integer NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, item_id)
);
CREATE INDEX marketplace_installs_item_idx ON marketplace_installs (item_id);

-- One rating per user and item; rating again changes it.
CREATE TABLE marketplace_ratings (
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    item_id  text NOT NULL REFERENCES marketplace_items (id) ON DELETE CASCADE,
    stars    smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
    rated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, item_id)
);
CREATE INDEX marketplace_ratings_item_idx ON marketplace_ratings (item_id);

-- +goose StatementBegin
CREATE FUNCTION marketplace_count_installs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE marketplace_items SET install_count = install_count + 1 WHERE id = NEW.item_id;
    ELSE
        UPDATE marketplace_items SET install_count = install_count - 1 WHERE id = OLD.item_id;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER marketplace_count_installs AFTER INSERT OR DELETE ON marketplace_installs
    FOR EACH ROW EXECUTE FUNCTION marketplace_count_installs();

-- +goose StatementBegin
CREATE FUNCTION marketplace_count_ratings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE marketplace_items SET rating_count = rating_count - 1, rating_sum = rating_sum - OLD.stars WHERE id = OLD.item_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE marketplace_items SET rating_count = rating_count + 1, rating_sum = rating_sum + NEW.stars WHERE id = NEW.item_id;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER marketplace_count_ratings AFTER INSERT OR UPDATE OR DELETE ON marketplace_ratings
    FOR EACH ROW EXECUTE FUNCTION marketplace_count_ratings();

-- A run records the agent version it used. Runs outlive the agents they
-- ran (an owner may delete one others used), so agent_id is a record, not
-- a reference.
ALTER TABLE agent_runs ADD COLUMN agent_version integer NOT NULL DEFAULT 1;
ALTER TABLE agent_runs DROP CONSTRAINT agent_runs_agent_id_fkey;

-- +goose Down
-- Users' own agents go (0005 had none); runs that used them keep a
-- dangling agent_id, which NOT VALID tolerates.
DELETE FROM agents WHERE owner_id IS NOT NULL;
ALTER TABLE agent_runs ADD CONSTRAINT agent_runs_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES agents (id) NOT VALID;
ALTER TABLE agent_runs DROP COLUMN agent_version;
DROP TABLE marketplace_ratings;
DROP TABLE marketplace_installs;
DROP FUNCTION marketplace_count_ratings();
DROP FUNCTION marketplace_count_installs();
DROP TABLE agent_versions;
DROP FUNCTION agent_versions_immutable();
ALTER TABLE agents DROP CONSTRAINT agents_read_only_tools;
ALTER TABLE agents DROP CONSTRAINT agents_item_fkey;
ALTER TABLE agents DROP COLUMN version;
ALTER TABLE agents DROP COLUMN icon;
ALTER TABLE agents DROP COLUMN temperature;
ALTER TABLE agents DROP COLUMN read_only;
DROP TABLE marketplace_items;
DROP FUNCTION marketplace_search_doc(text, text, text[], text);
