-- Management API tokens (a SHA-256 hash only) and the audit log.

-- +goose Up
CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_tenant_id ON api_tokens (tenant_id);

-- Every change: who, what, when. tenant_id is not a foreign key so that
-- the history outlives what it describes; '' for plan changes.
CREATE TABLE audit_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id text NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    target    text NOT NULL,
    detail    jsonb,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_id ON audit_log (tenant_id, id DESC);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE api_tokens;
