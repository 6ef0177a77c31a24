-- Billing: usage rolled up from the shared counters, quota notifications
-- and the Stripe side of tenants. Usage rows keep app_id and tenant_id
-- without foreign keys: usage outlives a deleted app, and is billed.

-- +goose Up
-- One row per node, app and UTC hour, holding that node's ABSOLUTE totals
-- as the shared counters hold them: the rollup overwrites, never adds,
-- so running it twice (or on two nodes) never double counts.
CREATE TABLE usage_node_hourly (
    app_id             text NOT NULL,
    hour               timestamptz NOT NULL,
    node               text NOT NULL,
    tenant_id          text,
    published          bigint NOT NULL,
    delivered          bigint NOT NULL,
    api_requests       bigint NOT NULL,
    webhook_calls      bigint NOT NULL,
    connection_seconds bigint NOT NULL,
    peak_connections   bigint NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, hour, node)
);
CREATE INDEX usage_node_hourly_tenant ON usage_node_hourly (tenant_id, hour);

-- Per app per UTC day, recomputed from usage_node_hourly by the rollup.
-- peak_connections is the largest hourly sum of the nodes' peaks.
CREATE TABLE usage_daily (
    app_id             text NOT NULL,
    day                date NOT NULL,
    tenant_id          text,
    published          bigint NOT NULL,
    delivered          bigint NOT NULL,
    api_requests       bigint NOT NULL,
    webhook_calls      bigint NOT NULL,
    connection_seconds bigint NOT NULL,
    peak_connections   bigint NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, day)
);
CREATE INDEX usage_daily_tenant ON usage_daily (tenant_id, day);

-- Quota warnings (80 % and 100 %), once per app, quota, period and level.
CREATE TABLE billing_notifications (
    id         bigserial PRIMARY KEY,
    tenant_id  text NOT NULL,
    app_id     text NOT NULL,
    quota      text NOT NULL,
    period     date NOT NULL,
    percent    integer NOT NULL,
    used       bigint NOT NULL,
    lim        bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, quota, period, percent)
);
CREATE INDEX billing_notifications_tenant ON billing_notifications (tenant_id, created_at DESC);

-- A tenant's Stripe customer and subscription; past_due_since starts
-- the grace period before suspension.
CREATE TABLE billing_accounts (
    tenant_id       text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id     text NOT NULL UNIQUE,
    subscription_id text NOT NULL DEFAULT '',
    past_due_since  timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE billing_accounts;
DROP TABLE billing_notifications;
DROP TABLE usage_daily;
DROP TABLE usage_node_hourly;
