package pgusage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/tenants"
)

var _ billing.Accounts = (*Store)(nil)

// PutAccount implements billing.Accounts.
func (s *Store) PutAccount(ctx context.Context, a billing.Account) error {
	var since *time.Time
	if !a.PastDueSince.IsZero() {
		since = &a.PastDueSince
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO billing_accounts (tenant_id, customer_id, subscription_id, plan_id, past_due_since)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id) DO UPDATE SET customer_id = EXCLUDED.customer_id,
			subscription_id = EXCLUDED.subscription_id, plan_id = EXCLUDED.plan_id,
			past_due_since = EXCLUDED.past_due_since, updated_at = now()`,
		a.TenantID, a.CustomerID, a.SubscriptionID, a.PlanID, since)
	if err != nil {
		return fmt.Errorf("pgusage: put account %s: %w", a.TenantID, err)
	}
	return nil
}

// SetSubscription implements billing.Accounts.
func (s *Store) SetSubscription(ctx context.Context, tenantID, subscriptionID, planID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE billing_accounts SET subscription_id = $2, plan_id = $3, updated_at = now()
		WHERE tenant_id = $1`, tenantID, subscriptionID, planID)
	if err != nil {
		return fmt.Errorf("pgusage: set subscription of %s: %w", tenantID, err)
	}
	if tag.RowsAffected() == 0 {
		return tenants.ErrNotFound
	}
	return nil
}

const accountCols = `tenant_id, customer_id, subscription_id, plan_id, past_due_since`

func scanAccount(row pgx.Row) (billing.Account, error) {
	var a billing.Account
	var since *time.Time
	if err := row.Scan(&a.TenantID, &a.CustomerID, &a.SubscriptionID, &a.PlanID, &since); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return a, tenants.ErrNotFound
		}
		return a, fmt.Errorf("pgusage: account: %w", err)
	}
	if since != nil {
		a.PastDueSince = since.UTC()
	}
	return a, nil
}

// Account implements billing.Accounts.
func (s *Store) Account(ctx context.Context, tenantID string) (billing.Account, error) {
	return scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM billing_accounts WHERE tenant_id = $1`, tenantID))
}

// AccountByCustomer implements billing.Accounts.
func (s *Store) AccountByCustomer(ctx context.Context, customerID string) (billing.Account, error) {
	return scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM billing_accounts WHERE customer_id = $1`, customerID))
}

// PastDue implements billing.Accounts.
func (s *Store) PastDue(ctx context.Context) ([]billing.Account, error) {
	return s.accounts(ctx, `WHERE past_due_since IS NOT NULL`)
}

// All implements billing.Accounts.
func (s *Store) All(ctx context.Context) ([]billing.Account, error) {
	return s.accounts(ctx, ``)
}

func (s *Store) accounts(ctx context.Context, where string) ([]billing.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountCols+` FROM billing_accounts `+where+` ORDER BY tenant_id`)
	if err != nil {
		return nil, fmt.Errorf("pgusage: accounts: %w", err)
	}
	defer rows.Close()
	var out []billing.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
