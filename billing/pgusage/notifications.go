package pgusage

import (
	"context"
	"fmt"

	"github.com/switchboard-rt/switchboard/billing"
)

var _ billing.Notifier = (*Store)(nil)

// Notify implements billing.Notifier: the unique key (app, quota,
// period, percent) keeps one row however many nodes notice.
func (s *Store) Notify(ctx context.Context, n billing.Notification) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO billing_notifications (tenant_id, app_id, quota, period, percent, used, lim, created_at)
		VALUES ($1, $2, $3, ($4::timestamptz AT TIME ZONE 'UTC')::date, $5, $6, $7, $8)
		ON CONFLICT (app_id, quota, period, percent) DO NOTHING`,
		n.TenantID, n.AppID, n.Quota, n.Period, n.Percent, n.Used, n.Limit, n.At)
	if err != nil {
		return false, fmt.Errorf("pgusage: notify %s: %w", n.AppID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Notifications returns a tenant's notifications, newest first.
func (s *Store) Notifications(ctx context.Context, tenantID string, limit int) ([]billing.Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant_id, app_id, quota, period::timestamp AT TIME ZONE 'UTC', percent, used, lim, created_at
		FROM billing_notifications WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("pgusage: notifications of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []billing.Notification
	for rows.Next() {
		var n billing.Notification
		if err := rows.Scan(&n.TenantID, &n.AppID, &n.Quota, &n.Period, &n.Percent, &n.Used, &n.Limit, &n.At); err != nil {
			return nil, fmt.Errorf("pgusage: notifications: %w", err)
		}
		n.Period, n.At = n.Period.UTC(), n.At.UTC()
		out = append(out, n)
	}
	return out, rows.Err()
}
