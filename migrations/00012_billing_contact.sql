-- A tenant's billing contact: the URL its quota warnings (80 % and 100 %
-- of a plan limit) are POSTed to, signed with HMAC-SHA256 under secret.
-- Numbered 12: 11 is taken by a migration written at the same time.

-- +goose Up
CREATE TABLE billing_contacts (
    tenant_id  text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    url        text NOT NULL,
    secret     text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE billing_contacts;
