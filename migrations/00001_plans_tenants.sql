-- Plans and tenants. A plan's limits cap every app of the tenants on it;
-- -1 means unlimited (tenants.Unlimited).

-- +goose Up
CREATE TABLE plans (
    id                   text PRIMARY KEY,
    name                 text NOT NULL,
    max_apps             integer NOT NULL CHECK (max_apps >= -1),
    max_connections      integer NOT NULL CHECK (max_connections >= -1),     -- per app
    max_messages_per_day bigint NOT NULL CHECK (max_messages_per_day >= -1),
    max_presence_members integer NOT NULL CHECK (max_presence_members >= -1), -- per channel
    max_payload_kb       double precision NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- The unlimited plan of the default tenant, and two examples to edit
-- (tenants.SeedPlans holds the same rows for the memory store).
INSERT INTO plans (id, name, max_apps, max_connections, max_messages_per_day, max_presence_members, max_payload_kb) VALUES
    ('unlimited', 'Unlimited', -1, -1, -1, -1, -1),
    ('free', 'Free', 3, 100, 200000, 100, 10),
    ('pro', 'Pro', 20, 10000, 10000000, 100, 100);

CREATE TABLE tenants (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'past_due')),
    plan_id    text NOT NULL REFERENCES plans (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_plan_id ON tenants (plan_id);

-- The owner of the apps file's apps.
INSERT INTO tenants (id, name, plan_id) VALUES ('default', 'Default', 'unlimited');

-- +goose Down
DROP TABLE tenants;
DROP TABLE plans;
