package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-rt/switchboard/tenants"
)

// appSelect reads an app with what makes it effective: its tenant's
// status and plan.
const appSelect = `SELECT a.id, a.tenant_id, a.name, a.enabled, a.enable_client_messages, a.enable_user_authentication,
	a.enable_subscription_count, a.batch_webhooks, a.max_connections, a.max_client_events_per_second,
	a.max_backend_events_per_second, a.max_read_requests_per_second, a.max_presence_members_per_channel,
	a.max_presence_member_size_in_kb, a.max_channel_name_length, a.max_event_channels_at_once, a.max_event_name_length,
	a.max_event_payload_in_kb, a.max_event_batch_size, a.user_authentication_timeout, a.allowed_origins,
	a.history_max_events, a.history_max_age_seconds,
	t.status, p.id, p.name, p.max_apps, p.max_connections, p.max_messages_per_day, p.max_presence_members, p.max_payload_kb,
	p.max_history_events, p.max_history_age_seconds
FROM apps a JOIN tenants t ON t.id = a.tenant_id JOIN plans p ON p.id = t.plan_id `

// loadApps reads the apps matching where (sorted by id), with their
// active keys (secrets opened) and webhooks.
func (s *Store) loadApps(ctx context.Context, q querier, where string, args ...any) ([]*tenants.App, error) {
	return s.load(ctx, q, true, where, args...)
}

// load reads apps; effective applies the plan's caps and the tenant's
// status, else the apps are as stored.
func (s *Store) load(ctx context.Context, q querier, effective bool, where string, args ...any) ([]*tenants.App, error) {
	rows, err := q.Query(ctx, appSelect+where+` ORDER BY a.id`, args...)
	if err != nil {
		return nil, err
	}
	var apps []*tenants.App
	byID := map[string]*tenants.App{}
	for rows.Next() {
		a := &tenants.App{}
		var status string
		var p tenants.Plan
		l := &a.Limits
		if err := rows.Scan(&a.ID, &a.TenantID, &a.Name, &a.Enabled, &a.EnableClientMessages, &a.EnableUserAuthentication,
			&a.EnableSubscriptionCount, &a.BatchWebhooks, &l.MaxConnections, &l.MaxClientEventsPerSecond,
			&l.MaxBackendEventsPerSecond, &l.MaxReadRequestsPerSecond, &l.MaxPresenceMembersPerChannel,
			&l.MaxPresenceMemberSizeInKB, &l.MaxChannelNameLength, &l.MaxEventChannelsAtOnce, &l.MaxEventNameLength,
			&l.MaxEventPayloadInKB, &l.MaxEventBatchSize, &l.UserAuthenticationTimeout, &a.AllowedOrigins,
			&l.HistoryMaxEvents, &l.HistoryMaxAgeSeconds,
			&status, &p.ID, &p.Name, &p.MaxApps, &p.MaxConnections, &p.MaxMessagesPerDay, &p.MaxPresenceMembers, &p.MaxPayloadKB,
			&p.MaxHistoryEvents, &p.MaxHistoryAgeSeconds); err != nil {
			rows.Close()
			return nil, err
		}
		if len(a.AllowedOrigins) == 0 {
			a.AllowedOrigins = nil
		}
		if effective {
			a.Limits = p.Cap(a.Limits)
			if tenants.TenantStatus(status) == tenants.TenantSuspended {
				a.Enabled, a.Suspended = false, true
			}
		}
		apps = append(apps, a)
		byID[a.ID] = a
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(apps) == 0 {
		return nil, nil
	}
	ids := make([]string, len(apps))
	for i, a := range apps {
		ids[i] = a.ID
	}
	rows, err = q.Query(ctx, `SELECT app_id, key, secret_ciphertext, secret_key_id FROM app_keys
		WHERE app_id = ANY($1) AND status = 'active' ORDER BY ord`, ids)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var appID, key, keyID string
		var sealed []byte
		if err := rows.Scan(&appID, &key, &sealed, &keyID); err != nil {
			rows.Close()
			return nil, err
		}
		secret, err := s.keys.Open(key, sealed, keyID)
		if err != nil {
			rows.Close()
			return nil, err
		}
		a := byID[appID]
		a.Keys = append(a.Keys, tenants.Key{Key: key, Secret: secret})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.Query(ctx, `SELECT app_id, url, event_types, channel_name_starts_with, channel_name_ends_with
		FROM app_webhooks WHERE app_id = ANY($1) ORDER BY app_id, position`, ids)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var appID, starts, ends string
		var w tenants.Webhook
		if err := rows.Scan(&appID, &w.URL, &w.EventTypes, &starts, &ends); err != nil {
			rows.Close()
			return nil, err
		}
		if starts != "" || ends != "" {
			w.Filter = &tenants.WebhookFilter{ChannelNameStartsWith: starts, ChannelNameEndsWith: ends}
		}
		a := byID[appID]
		a.Webhooks = append(a.Webhooks, w)
	}
	return apps, rows.Err()
}

func (s *Store) loadOne(ctx context.Context, q querier, where string, args ...any) (*tenants.App, error) {
	apps, err := s.loadApps(ctx, q, where, args...)
	if err != nil {
		return nil, fmt.Errorf("pgstore: load app: %w", err)
	}
	if len(apps) == 0 {
		return nil, tenants.ErrNotFound
	}
	return apps[0], nil
}

func (s *Store) AppByID(ctx context.Context, id string) (*tenants.App, error) {
	return s.loadOne(ctx, s.pool, `WHERE a.id = $1`, id)
}

func (s *Store) AppByKey(ctx context.Context, key string) (*tenants.App, error) {
	return s.loadOne(ctx, s.pool, `WHERE a.id = (SELECT app_id FROM app_keys WHERE key = $1 AND status = 'active')`, key)
}

func (s *Store) Apps(ctx context.Context) ([]*tenants.App, error) {
	apps, err := s.loadApps(ctx, s.pool, ``)
	if err != nil {
		return nil, fmt.Errorf("pgstore: apps: %w", err)
	}
	return apps, nil
}

func (s *Store) TenantApps(ctx context.Context, tenantID string) ([]*tenants.App, error) {
	if _, err := s.Tenant(ctx, tenantID); err != nil {
		return nil, err
	}
	apps, err := s.loadApps(ctx, s.pool, `WHERE a.tenant_id = $1`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: apps of %s: %w", tenantID, err)
	}
	return apps, nil
}

func (s *Store) TenantApp(ctx context.Context, tenantID, appID string) (*tenants.App, error) {
	return s.loadOne(ctx, s.pool, `WHERE a.id = $1 AND a.tenant_id = $2`, appID, tenantID)
}

func (s *Store) AppSettings(ctx context.Context, tenantID, appID string) (*tenants.App, error) {
	apps, err := s.load(ctx, s.pool, false, `WHERE a.id = $1 AND a.tenant_id = $2`, appID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: load app: %w", err)
	}
	if len(apps) == 0 {
		return nil, tenants.ErrNotFound
	}
	return apps[0], nil
}

// writeSettings inserts or updates an app's settings row and replaces its
// webhooks; it reports whether the row is new.
func writeSettings(ctx context.Context, tx pgx.Tx, a *tenants.App, tenant string) (bool, error) {
	return writeSettingsMode(ctx, tx, a, tenant, true)
}

// insertSettings inserts a new app's settings; an existing id is
// ErrConflict (never an update: that could move another tenant's app).
func insertSettings(ctx context.Context, tx pgx.Tx, a *tenants.App, tenant string) error {
	_, err := writeSettingsMode(ctx, tx, a, tenant, false)
	return translate(err)
}

func writeSettingsMode(ctx context.Context, tx pgx.Tx, a *tenants.App, tenant string, upsert bool) (bool, error) {
	l := a.Limits
	origins := a.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	var inserted bool
	q := `INSERT INTO apps (id, tenant_id, name, enabled, enable_client_messages, enable_user_authentication,
		enable_subscription_count, batch_webhooks, max_connections, max_client_events_per_second,
		max_backend_events_per_second, max_read_requests_per_second, max_presence_members_per_channel,
		max_presence_member_size_in_kb, max_channel_name_length, max_event_channels_at_once, max_event_name_length,
		max_event_payload_in_kb, max_event_batch_size, user_authentication_timeout, allowed_origins,
		history_max_events, history_max_age_seconds)
	VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23) `
	if upsert {
		q += `ON CONFLICT (id) DO UPDATE SET tenant_id = $2, name = $3, enabled = $4, enable_client_messages = $5,
		enable_user_authentication = $6, enable_subscription_count = $7, batch_webhooks = $8, max_connections = $9,
		max_client_events_per_second = $10, max_backend_events_per_second = $11, max_read_requests_per_second = $12,
		max_presence_members_per_channel = $13, max_presence_member_size_in_kb = $14, max_channel_name_length = $15,
		max_event_channels_at_once = $16, max_event_name_length = $17, max_event_payload_in_kb = $18,
		max_event_batch_size = $19, user_authentication_timeout = $20, allowed_origins = $21,
		history_max_events = $22, history_max_age_seconds = $23, updated_at = now() `
	}
	err := tx.QueryRow(ctx, q+`RETURNING (xmax = 0)`,
		a.ID, tenant, a.Name, a.Enabled, a.EnableClientMessages, a.EnableUserAuthentication, a.EnableSubscriptionCount,
		a.BatchWebhooks, l.MaxConnections, l.MaxClientEventsPerSecond, l.MaxBackendEventsPerSecond, l.MaxReadRequestsPerSecond,
		l.MaxPresenceMembersPerChannel, l.MaxPresenceMemberSizeInKB, l.MaxChannelNameLength, l.MaxEventChannelsAtOnce,
		l.MaxEventNameLength, l.MaxEventPayloadInKB, l.MaxEventBatchSize, l.UserAuthenticationTimeout, origins,
		l.HistoryMaxEvents, l.HistoryMaxAgeSeconds).Scan(&inserted)
	if err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM app_webhooks WHERE app_id = $1`, a.ID); err != nil {
		return false, err
	}
	for i, w := range a.Webhooks {
		var starts, ends string
		if w.Filter != nil {
			starts, ends = w.Filter.ChannelNameStartsWith, w.Filter.ChannelNameEndsWith
		}
		types := w.EventTypes
		if types == nil {
			types = []string{}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO app_webhooks (app_id, position, url, event_types, channel_name_starts_with, channel_name_ends_with)
			VALUES ($1, $2, $3, $4, $5, $6)`, a.ID, i, w.URL, types, starts, ends); err != nil {
			return false, err
		}
	}
	return inserted, nil
}

// insertKey seals and inserts one active key.
func (s *Store) insertKey(ctx context.Context, tx pgx.Tx, appID string, k tenants.Key, createdAt, lastUsed *time.Time) error {
	sealed, keyID := s.keys.Seal(k.Key, k.Secret)
	_, err := tx.Exec(ctx, `INSERT INTO app_keys (key, app_id, secret_ciphertext, secret_key_id, created_at, last_used_at)
		VALUES ($1, $2, $3, $4, coalesce($5, now()), $6)`, k.Key, appID, sealed, keyID, createdAt, lastUsed)
	return err
}

func tenantExists(ctx context.Context, q querier, id string) error {
	var one int
	if err := q.QueryRow(ctx, `SELECT 1 FROM tenants WHERE id = $1`, id).Scan(&one); err != nil {
		return fmt.Errorf("tenant %s: %w", id, translate(err))
	}
	return nil
}

func tenantOrDefault(id string) string {
	if id == "" {
		return tenants.DefaultTenantID
	}
	return id
}

func (s *Store) PutApp(ctx context.Context, app *tenants.App) error {
	tenant := tenantOrDefault(app.TenantID)
	return s.inTx(ctx, "put app "+app.ID, func(tx pgx.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		type hist struct{ created, used *time.Time }
		old := map[string]hist{}
		rows, err := tx.Query(ctx, `SELECT key, created_at, last_used_at FROM app_keys WHERE app_id = $1 FOR UPDATE`, app.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			var h hist
			if err := rows.Scan(&k, &h.created, &h.used); err != nil {
				rows.Close()
				return err
			}
			old[k] = h
		}
		if err := rows.Err(); err != nil {
			return err
		}
		inserted, err := writeSettings(ctx, tx, app, tenant)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM app_keys WHERE app_id = $1`, app.ID); err != nil {
			return err
		}
		for _, k := range app.Keys {
			h := old[k.Key]
			if err := s.insertKey(ctx, tx, app.ID, k, h.created, h.used); err != nil {
				return translate(err)
			}
		}
		action := tenants.ActionAppUpdate
		if inserted {
			action = tenants.ActionAppCreate
		}
		if err := audit(ctx, tx, tenant, tenants.ActorSystem, action, app.ID, tenants.AppDetail(app)); err != nil {
			return err
		}
		return notify(ctx, tx, tenants.Change{AppIDs: []string{app.ID}})
	})
}

func (s *Store) CreateAppIfAbsent(ctx context.Context, app *tenants.App) (bool, error) {
	tenant := tenantOrDefault(app.TenantID)
	added := false
	err := s.inTx(ctx, "create app "+app.ID, func(tx pgx.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM app_keys WHERE key = ANY($1)`, keyNames(app)).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		var id string
		err := tx.QueryRow(ctx, `INSERT INTO apps (id, tenant_id, name, enabled, enable_client_messages, enable_user_authentication,
			enable_subscription_count, batch_webhooks, max_connections, max_client_events_per_second,
			max_backend_events_per_second, max_read_requests_per_second, max_presence_members_per_channel,
			max_presence_member_size_in_kb, max_channel_name_length, max_event_channels_at_once, max_event_name_length,
			max_event_payload_in_kb, max_event_batch_size, user_authentication_timeout)
			VALUES ($1, $2, '', false, false, false, false, false, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
			ON CONFLICT (id) DO NOTHING RETURNING id`, app.ID, tenant).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the id exists
		}
		if err != nil {
			return err
		}
		if _, err := writeSettings(ctx, tx, app, tenant); err != nil {
			return err
		}
		for _, k := range app.Keys {
			if err := s.insertKey(ctx, tx, app.ID, k, nil, nil); err != nil {
				return translate(err)
			}
		}
		if err := audit(ctx, tx, tenant, tenants.ActorAppsFile, tenants.ActionAppCreate, app.ID, tenants.AppDetail(app)); err != nil {
			return err
		}
		added = true
		return notify(ctx, tx, tenants.Change{AppIDs: []string{app.ID}})
	})
	if added && err == nil {
		return true, nil
	}
	if errors.Is(err, tenants.ErrConflict) {
		return false, nil // a key taken by a concurrent create
	}
	return false, err
}

func keyNames(a *tenants.App) []string {
	ks := make([]string, len(a.Keys))
	for i, k := range a.Keys {
		ks[i] = k.Key
	}
	return ks
}

func (s *Store) DeleteApp(ctx context.Context, id string) error {
	return s.inTx(ctx, "delete app "+id, func(tx pgx.Tx) error {
		var tenant string
		if err := tx.QueryRow(ctx, `DELETE FROM apps WHERE id = $1 RETURNING tenant_id`, id).Scan(&tenant); err != nil {
			return translate(err)
		}
		if err := audit(ctx, tx, tenant, tenants.ActorSystem, tenants.ActionAppDelete, id, nil); err != nil {
			return err
		}
		return notify(ctx, tx, tenants.Change{AppIDs: []string{id}})
	})
}

func (s *Store) CreateApp(ctx context.Context, tenantID string, spec *tenants.App, actor string) (*tenants.App, tenants.Key, error) {
	a, err := tenants.PrepareSpec(spec, tenantID)
	if err != nil {
		return nil, tenants.Key{}, err
	}
	k := tenants.NewKey()
	err = s.inTx(ctx, "create app", func(tx pgx.Tx) error {
		// Lock the tenant so concurrent creates count one after another.
		var planID string
		var maxApps int
		err := tx.QueryRow(ctx, `SELECT t.plan_id, p.max_apps FROM tenants t JOIN plans p ON p.id = t.plan_id
			WHERE t.id = $1 FOR UPDATE OF t`, tenantID).Scan(&planID, &maxApps)
		if err != nil {
			return translate(err)
		}
		if maxApps != tenants.Unlimited {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM apps WHERE tenant_id = $1`, tenantID).Scan(&n); err != nil {
				return err
			}
			if n >= maxApps {
				return fmt.Errorf("%w: plan %s allows %d apps", tenants.ErrPlanLimit, planID, maxApps)
			}
		}
		if a.ID == "" {
			for {
				var n int64
				var taken bool
				if err := tx.QueryRow(ctx, `SELECT nextval('app_number_seq')`).Scan(&n); err != nil {
					return err
				}
				a.ID = strconv.FormatInt(n, 10)
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM apps WHERE id = $1)`, a.ID).Scan(&taken); err != nil {
					return err
				}
				if !taken {
					break
				}
			}
		}
		if err := insertSettings(ctx, tx, a, tenantID); err != nil {
			return err
		}
		if err := s.insertKey(ctx, tx, a.ID, k, nil, nil); err != nil {
			return translate(err)
		}
		d := *a
		d.Keys = []tenants.Key{k}
		if err := audit(ctx, tx, tenantID, actor, tenants.ActionAppCreate, a.ID, tenants.AppDetail(&d)); err != nil {
			return err
		}
		return notify(ctx, tx, tenants.Change{AppIDs: []string{a.ID}})
	})
	if err != nil {
		return nil, tenants.Key{}, err
	}
	got, err := s.TenantApp(ctx, tenantID, a.ID)
	if err != nil {
		return nil, tenants.Key{}, err
	}
	return got, k, nil
}

// lockApp locks one of the tenant's apps for the rest of tx.
func lockApp(ctx context.Context, tx pgx.Tx, tenantID, appID string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM apps WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, appID, tenantID).Scan(&one)
	return translate(err)
}

func (s *Store) UpdateApp(ctx context.Context, tenantID string, app *tenants.App, actor string) (*tenants.App, error) {
	a := *app
	a.TenantID = tenantID
	if err := tenants.ValidateSettings(&a); err != nil {
		return nil, err
	}
	err := s.inTx(ctx, "update app "+app.ID, func(tx pgx.Tx) error {
		if err := lockApp(ctx, tx, tenantID, app.ID); err != nil {
			return err
		}
		if _, err := writeSettings(ctx, tx, &a, tenantID); err != nil {
			return err
		}
		d := a
		d.Keys = nil
		if err := audit(ctx, tx, tenantID, actor, tenants.ActionAppUpdate, app.ID, tenants.AppDetail(&d)); err != nil {
			return err
		}
		return notify(ctx, tx, tenants.Change{AppIDs: []string{app.ID}})
	})
	if err != nil {
		return nil, err
	}
	return s.TenantApp(ctx, tenantID, app.ID)
}

func (s *Store) RemoveApp(ctx context.Context, tenantID, appID, actor string) error {
	return s.inTx(ctx, "remove app "+appID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM apps WHERE id = $1 AND tenant_id = $2`, appID, tenantID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tenants.ErrNotFound
		}
		if err := audit(ctx, tx, tenantID, actor, tenants.ActionAppDelete, appID, nil); err != nil {
			return err
		}
		return notify(ctx, tx, tenants.Change{AppIDs: []string{appID}})
	})
}
