-- name: EnsureInstanceName :one
-- The installation's name: the stored one, or the candidate when none is
-- stored yet (the first start; concurrent first starts agree on one).
WITH inserted AS (
    INSERT INTO installation (instance) VALUES (@candidate::text)
    ON CONFLICT (singleton) DO NOTHING
    RETURNING instance
)
SELECT instance FROM inserted
UNION ALL
SELECT instance FROM installation
LIMIT 1;
