-- Per-app history retention (docs/history.md): what each channel of an
-- app keeps for gap-fill and the history API, capped by the plan. Opt-in:
-- existing apps keep none until they set history_max_events, and plans
-- other than the seeded ones allow none until an operator says how much.
-- Numbered 11: 12 and 13 are taken by migrations written at the same time.

-- +goose Up
ALTER TABLE apps
    ADD COLUMN history_max_events      integer NOT NULL DEFAULT 0
        CHECK (history_max_events >= 0),
    ADD COLUMN history_max_age_seconds integer NOT NULL DEFAULT 300
        CHECK (history_max_age_seconds >= -1);

ALTER TABLE plans
    ADD COLUMN max_history_events      integer NOT NULL DEFAULT 0
        CHECK (max_history_events >= -1),
    ADD COLUMN max_history_age_seconds integer NOT NULL DEFAULT 0
        CHECK (max_history_age_seconds >= -1);

-- The seeded plans (tenants.SeedPlans holds the same values).
UPDATE plans SET max_history_events = -1, max_history_age_seconds = -1 WHERE id = 'unlimited';
UPDATE plans SET max_history_events = 100, max_history_age_seconds = 3600 WHERE id = 'free';
UPDATE plans SET max_history_events = 10000, max_history_age_seconds = 86400 WHERE id = 'pro';

-- +goose Down
ALTER TABLE plans DROP COLUMN max_history_age_seconds, DROP COLUMN max_history_events;
ALTER TABLE apps DROP COLUMN history_max_age_seconds, DROP COLUMN history_max_events;
