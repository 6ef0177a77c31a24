// Package pgusage keeps billing's durable figures in PostgreSQL: the
// rollup of the shared counters per app per hour and per day (run by one
// node at a time), the usage queries of the management API and the
// quota notifications.
//
// It imports billing and pgx only; the schema is migrations/00004.
package pgusage

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/internal/periodic"
)

// rollupLock is the pg_try_advisory_xact_lock key that elects the node
// doing a rollup: the one whose transaction holds it. Another node that
// finds it taken skips its turn.
const rollupLock int64 = 0x5357_4254_4c52 // "SWBTLR"

// Store reads and writes billing's tables.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store on pool (migrated with migrations/00004 or later).
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Rollup copies the shared counters of the given UTC hours into
// usage_node_hourly (overwriting each (app, hour, node) row with the
// counters' absolute totals) and recomputes usage_daily for the days
// touched. It reports false, without error, when another node holds the
// rollup lock. Running it any number of times gives the same rows.
func (s *Store) Rollup(ctx context.Context, c billing.Counters, hours []time.Time) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("pgusage: rollup: %w", err)
	}
	defer tx.Rollback(ctx)
	var got bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, rollupLock).Scan(&got); err != nil {
		return false, fmt.Errorf("pgusage: rollup lock: %w", err)
	}
	if !got {
		return false, nil
	}
	days := map[time.Time][]string{}
	for _, h := range hours {
		h = billing.HourOf(h)
		rows, err := c.Hour(ctx, h)
		if err != nil {
			return false, fmt.Errorf("pgusage: rollup %s: %w", h, err)
		}
		if len(rows) == 0 {
			continue
		}
		var b pgx.Batch
		for _, r := range rows {
			b.Queue(`INSERT INTO usage_node_hourly (app_id, hour, node, tenant_id, published, delivered,
				api_requests, webhook_calls, connection_seconds, peak_connections)
			VALUES ($1, $2, $3, (SELECT tenant_id FROM apps WHERE id = $1), $4, $5, $6, $7, $8, $9)
			ON CONFLICT (app_id, hour, node) DO UPDATE SET
				tenant_id = COALESCE(EXCLUDED.tenant_id, usage_node_hourly.tenant_id),
				published = EXCLUDED.published, delivered = EXCLUDED.delivered,
				api_requests = EXCLUDED.api_requests, webhook_calls = EXCLUDED.webhook_calls,
				connection_seconds = EXCLUDED.connection_seconds, peak_connections = EXCLUDED.peak_connections,
				updated_at = now()`,
				r.AppID, h, r.Node, r.Published, r.Delivered, r.APIRequests, r.WebhookCalls, r.ConnectionSeconds, r.PeakConnections)
			d := billing.DayOf(h)
			days[d] = append(days[d], r.AppID)
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return false, fmt.Errorf("pgusage: rollup %s: %w", h, err)
		}
	}
	for d, apps := range days {
		if _, err := tx.Exec(ctx, `INSERT INTO usage_daily (app_id, day, tenant_id, published, delivered,
				api_requests, webhook_calls, connection_seconds, peak_connections)
			SELECT app_id, ($2::timestamptz AT TIME ZONE 'UTC')::date, max(tenant_id), sum(published), sum(delivered),
				sum(api_requests), sum(webhook_calls), sum(connection_seconds), max(peak)
			FROM (SELECT app_id, hour, max(tenant_id) AS tenant_id, sum(published) AS published,
					sum(delivered) AS delivered, sum(api_requests) AS api_requests,
					sum(webhook_calls) AS webhook_calls, sum(connection_seconds) AS connection_seconds,
					sum(peak_connections) AS peak
				FROM usage_node_hourly
				WHERE app_id = ANY($1) AND hour >= $2 AND hour < $2::timestamptz + interval '1 day'
				GROUP BY app_id, hour) h
			GROUP BY app_id
			ON CONFLICT (app_id, day) DO UPDATE SET
				tenant_id = EXCLUDED.tenant_id, published = EXCLUDED.published, delivered = EXCLUDED.delivered,
				api_requests = EXCLUDED.api_requests, webhook_calls = EXCLUDED.webhook_calls,
				connection_seconds = EXCLUDED.connection_seconds, peak_connections = EXCLUDED.peak_connections,
				updated_at = now()`, apps, d); err != nil {
			return false, fmt.Errorf("pgusage: rollup day %s: %w", d.Format(time.DateOnly), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("pgusage: rollup commit: %w", err)
	}
	return true, nil
}

// RollerOptions configure a Roller; the zero value works.
type RollerOptions struct {
	// Interval between rollups; default 1m.
	Interval time.Duration
	// Lookback is how many past hours each rollup copies again besides
	// the current one; default 2, so that the last flushes of an hour
	// (and a rollup missed while no node was elected) are caught.
	Lookback int
	Log      *slog.Logger
}

// Roller runs Rollup every Interval on every node; the advisory lock
// makes one of them do the work each time.
type Roller struct {
	store    *Store
	counters billing.Counters
	opts     RollerOptions
	now      func() time.Time
}

// NewRoller returns a Roller; Run starts it.
func NewRoller(store *Store, counters billing.Counters, opts RollerOptions) *Roller {
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Lookback <= 0 {
		opts.Lookback = 2
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Roller{store: store, counters: counters, opts: opts, now: time.Now}
}

// Run rolls up every Interval until ctx ends.
func (r *Roller) Run(ctx context.Context) error {
	periodic.Every(ctx, r.opts.Interval, func(ctx context.Context) {
		if _, err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.opts.Log.Error("billing: rollup", "err", err)
		}
	})
	return nil
}

// Once rolls up the current hour and the Lookback hours before it.
func (r *Roller) Once(ctx context.Context) (bool, error) {
	h := billing.HourOf(r.now())
	hours := make([]time.Time, 0, r.opts.Lookback+1)
	for i := r.opts.Lookback; i >= 0; i-- {
		hours = append(hours, h.Add(-time.Duration(i)*time.Hour))
	}
	return r.store.Rollup(ctx, r.counters, hours)
}
