-- +goose Up
-- A project's published site: a copy of the files its last published build
-- made, kept in the database so every replica serves it and it outlives the
-- dev server. public: anyone may read it; otherwise only the owner.
CREATE TABLE project_sites (
    project_id    uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    public        boolean NOT NULL DEFAULT false,
    files         integer NOT NULL,
    size          bigint NOT NULL,
    published_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE project_site_files (
    project_id  uuid NOT NULL REFERENCES project_sites (project_id) ON DELETE CASCADE,
    path        text NOT NULL CHECK (length(path) BETWEEN 1 AND 1024),
    content     bytea NOT NULL,
    PRIMARY KEY (project_id, path)
);

-- +goose Down
DROP TABLE project_site_files;
DROP TABLE project_sites;
