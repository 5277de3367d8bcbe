-- +goose Up
-- Templates as marketplace items. The three built-in templates ship with
-- the binary (their files are embedded, their dependencies are in the
-- runtime image); a user's template is a file tree saved from a project or
-- imported from a bundle, kept per version as its .studio-template.tar.gz
-- bundle, whose manifest carries the SHA-256 of every file. A template
-- runs on one of the built-in templates' runtimes (its base), whose
-- dependencies it reuses when its package.json asks for no others.
INSERT INTO marketplace_items (id, kind, owner_id, visibility, name, description, tags, readme) VALUES
('react-vite', 'template', NULL, 'instance', 'React', 'React 19, TypeScript and Tailwind CSS on Vite, with hot reload.', '{react,typescript,tailwind,vite}',
 'A single-page app with React 19, TypeScript and Tailwind CSS 4 on Vite 7. Its dependencies are in the runtime image, so a new project starts in seconds.'),
('vanilla-vite', 'template', NULL, 'instance', 'Vanilla JavaScript', 'Plain JavaScript and CSS on Vite, with hot reload.', '{javascript,vite}',
 'Plain JavaScript and CSS modules on Vite 7, with hot module replacement.'),
('static', 'template', NULL, 'instance', 'Static site', 'Hand-written HTML, CSS and JavaScript, reloaded on every save.', '{html,css,static}',
 'HTML, CSS and JavaScript served as they are, with a page reload on every save. No build step.');

CREATE TABLE template_versions (
    template_id  text NOT NULL REFERENCES marketplace_items (id) ON DELETE CASCADE,
    version      integer NOT NULL CHECK (version >= 1),
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    base         text NOT NULL CHECK (base IN ('react-vite', 'vanilla-vite', 'static')),
    screenshots  text[] NOT NULL DEFAULT '{}',
    file_count   integer NOT NULL CHECK (file_count >= 0),
    total_bytes  bigint NOT NULL CHECK (total_bytes >= 0),
    bundle       bytea NOT NULL,
    -- SHA-256 of the bundle's bytes, as a remote catalogue lists it.
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);
-- +goose StatementBegin
CREATE FUNCTION template_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'published template versions are immutable; publish a new version instead';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER template_versions_immutable BEFORE UPDATE ON template_versions
    FOR EACH ROW EXECUTE FUNCTION template_versions_immutable();

-- A project records the template item and version it came from (NULL for
-- the built-ins, whose id is projects.template). Like a run's agent, it is
-- a record, not a reference: the template may be deleted later.
ALTER TABLE projects ADD COLUMN template_item text;
ALTER TABLE projects ADD COLUMN template_version integer;
ALTER TABLE projects ADD CONSTRAINT projects_template_version CHECK ((template_item IS NULL) = (template_version IS NULL));

-- +goose Down
ALTER TABLE projects DROP CONSTRAINT projects_template_version;
ALTER TABLE projects DROP COLUMN template_version;
ALTER TABLE projects DROP COLUMN template_item;
DROP TABLE template_versions;
DROP FUNCTION template_versions_immutable();
DELETE FROM marketplace_items WHERE kind = 'template';
