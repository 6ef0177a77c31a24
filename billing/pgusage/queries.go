package pgusage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-rt/switchboard/billing"
)

// sums is the select list shared by the usage queries.
const sums = `sum(published), sum(delivered), sum(api_requests), sum(webhook_calls),
	sum(connection_seconds), sum(peak_connections)`

// AppUsage returns an app's usage per hour or day starting in [from, to),
// oldest first; periods without usage are absent.
func (s *Store) AppUsage(ctx context.Context, appID string, from, to time.Time, g billing.Granularity) ([]billing.Row, error) {
	return s.usage(ctx, "app_id", appID, from, to, g)
}

// TenantUsage returns the usage of all a tenant's apps together, per hour
// or day. Peaks add up over apps and nodes: an upper bound.
func (s *Store) TenantUsage(ctx context.Context, tenantID string, from, to time.Time, g billing.Granularity) ([]billing.Row, error) {
	return s.usage(ctx, "tenant_id", tenantID, from, to, g)
}

// TenantAppUsage returns a tenant's usage per app and per hour or day,
// by app then time: the rows of the CSV export.
func (s *Store) TenantAppUsage(ctx context.Context, tenantID string, from, to time.Time, g billing.Granularity) ([]billing.Row, error) {
	q := `SELECT app_id, hour, ` + sums + ` FROM usage_node_hourly
		WHERE tenant_id = $1 AND hour >= $2 AND hour < $3 GROUP BY app_id, hour ORDER BY app_id, hour`
	if g == billing.ByDay {
		q = `SELECT app_id, day::timestamp AT TIME ZONE 'UTC', ` + sums + ` FROM usage_daily
		WHERE tenant_id = $1 AND day >= ($2::timestamptz AT TIME ZONE 'UTC')::date AND day < ($3::timestamptz AT TIME ZONE 'UTC')::date
		GROUP BY app_id, day ORDER BY app_id, day`
	}
	rows, err := s.pool.Query(ctx, q, tenantID, from, to)
	if err != nil {
		return nil, fmt.Errorf("pgusage: usage of tenant %s: %w", tenantID, err)
	}
	return scan(rows, true)
}

func (s *Store) usage(ctx context.Context, col, id string, from, to time.Time, g billing.Granularity) ([]billing.Row, error) {
	if !g.Valid() {
		return nil, fmt.Errorf("pgusage: granularity %q", g)
	}
	q := `SELECT hour, ` + sums + ` FROM usage_node_hourly
		WHERE ` + col + ` = $1 AND hour >= $2 AND hour < $3 GROUP BY hour ORDER BY hour`
	if g == billing.ByDay {
		q = `SELECT day::timestamp AT TIME ZONE 'UTC', ` + sums + ` FROM usage_daily
		WHERE ` + col + ` = $1 AND day >= ($2::timestamptz AT TIME ZONE 'UTC')::date AND day < ($3::timestamptz AT TIME ZONE 'UTC')::date
		GROUP BY day ORDER BY day`
	}
	rows, err := s.pool.Query(ctx, q, id, from, to)
	if err != nil {
		return nil, fmt.Errorf("pgusage: usage of %s %s: %w", col, id, err)
	}
	out, err := scan(rows, false)
	if col == "app_id" {
		for i := range out {
			out[i].AppID = id
		}
	}
	return out, err
}

func scan(rows pgx.Rows, withApp bool) ([]billing.Row, error) {
	defer rows.Close()
	var out []billing.Row
	for rows.Next() {
		var r billing.Row
		dest := []any{&r.Start, &r.Published, &r.Delivered, &r.APIRequests, &r.WebhookCalls, &r.ConnectionSeconds, &r.PeakConnections}
		if withApp {
			dest = append([]any{&r.AppID}, dest...)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("pgusage: scan usage: %w", err)
		}
		r.Start = r.Start.UTC()
		r.Messages = r.Usage.Messages()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgusage: usage: %w", err)
	}
	return out, nil
}

// CurrentPeriod returns each of the tenant's apps' usage in the UTC day
// of now against maxPerDay (the tenant's plan's MaxMessagesPerDay), as
// rolled up: it trails the live count by at most one flush and one
// rollup interval. Apps without usage today are absent.
func (s *Store) CurrentPeriod(ctx context.Context, tenantID string, maxPerDay int64, softCap bool, now time.Time) ([]billing.PeriodUsage, error) {
	day := billing.DayOf(now)
	rows, err := s.TenantAppUsage(ctx, tenantID, day, day.Add(24*time.Hour), billing.ByDay)
	if err != nil {
		return nil, err
	}
	out := make([]billing.PeriodUsage, len(rows))
	for i, r := range rows {
		out[i] = billing.NewPeriodUsage(r, maxPerDay, softCap)
	}
	return out, nil
}
