-- The plan a tenant's Stripe subscription was last set for
-- (billing.Account.PlanID): stripebilling pushes a tenant plan that
-- differs from it to Stripe, and applies a Stripe price that differs from
-- it to the tenant. Nothing recorded it before, so existing rows take the
-- tenant's current plan: the upgrade itself changes no subscription. One
-- already out of step (a plan changed with the CLI before this) is
-- corrected by setting its plan_id to '' (unknown): the next sync then
-- compares the subscription's prices with the tenant's plan.

-- +goose Up
ALTER TABLE billing_accounts ADD COLUMN plan_id text NOT NULL DEFAULT '';
UPDATE billing_accounts a SET plan_id = t.plan_id FROM tenants t WHERE t.id = a.tenant_id;

-- +goose Down
ALTER TABLE billing_accounts DROP COLUMN plan_id;
