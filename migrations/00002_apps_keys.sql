-- Apps, their settings (the per-app overrides of the plan's limits),
-- webhooks and keys. Secrets are encrypted by the application
-- (AES-256-GCM); the table holds the ciphertext and the id of the master
-- key that sealed it, never the secret.

-- +goose Up
-- Numeric ids for apps the control plane creates, as Pusher's are.
CREATE SEQUENCE app_number_seq START WITH 1000001;

CREATE TABLE apps (
    id                                text PRIMARY KEY,
    tenant_id                         text NOT NULL REFERENCES tenants (id),
    name                              text NOT NULL,
    enabled                           boolean NOT NULL,
    enable_client_messages            boolean NOT NULL,
    enable_user_authentication        boolean NOT NULL,
    enable_subscription_count         boolean NOT NULL,
    batch_webhooks                    boolean NOT NULL,
    max_connections                   integer NOT NULL,
    max_client_events_per_second      integer NOT NULL,
    max_backend_events_per_second     integer NOT NULL,
    max_read_requests_per_second      integer NOT NULL,
    max_presence_members_per_channel  integer NOT NULL,
    max_presence_member_size_in_kb    double precision NOT NULL,
    max_channel_name_length           integer NOT NULL,
    max_event_channels_at_once        integer NOT NULL,
    max_event_name_length             integer NOT NULL,
    max_event_payload_in_kb           double precision NOT NULL,
    max_event_batch_size              integer NOT NULL,
    user_authentication_timeout       integer NOT NULL,
    allowed_origins                   text[] NOT NULL DEFAULT '{}',
    created_at                        timestamptz NOT NULL DEFAULT now(),
    updated_at                        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX apps_tenant_id ON apps (tenant_id);

CREATE TABLE app_webhooks (
    app_id                   text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    position                 integer NOT NULL,
    url                      text NOT NULL,
    event_types              text[] NOT NULL,
    channel_name_starts_with text NOT NULL DEFAULT '',
    channel_name_ends_with   text NOT NULL DEFAULT '',
    PRIMARY KEY (app_id, position)
);

CREATE TABLE app_keys (
    key               text PRIMARY KEY,
    app_id            text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    ord               bigint GENERATED ALWAYS AS IDENTITY, -- key order: Keys[0] is the primary
    secret_ciphertext bytea NOT NULL,                      -- nonce || AES-GCM(secret), the key as additional data
    secret_key_id     text NOT NULL,                       -- which master key sealed it
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_used_at      timestamptz,
    revoked_at        timestamptz
);
CREATE INDEX app_keys_app_id ON app_keys (app_id, ord);
CREATE INDEX app_keys_secret_key_id ON app_keys (secret_key_id);

-- +goose Down
DROP TABLE app_keys;
DROP TABLE app_webhooks;
DROP TABLE apps;
DROP SEQUENCE app_number_seq;
