-- Dashboard users (argon2id password hashes) and their sessions (a
-- SHA-256 hash of the session id only). Numbered 10 to leave room for
-- migrations being written at the same time on other branches.

-- +goose Up
CREATE TABLE users (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- Sign-in asks for the email alone, so it is unique across tenants;
    -- stored normalised (trimmed, lower case).
    email         text NOT NULL UNIQUE,
    role          text NOT NULL CHECK (role IN ('owner', 'developer', 'viewer')),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_tenant_id ON users (tenant_id, created_at);

CREATE TABLE sessions (
    id_hash    bytea PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- +goose Down
DROP TABLE sessions;
DROP TABLE users;
