package pgusage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-rt/switchboard/tenants"
)

// BillingContact returns the URL a tenant's quota warnings are POSTed
// to and the secret that signs them; tenants.ErrNotFound when none is
// set (migrations/00012).
func (s *Store) BillingContact(ctx context.Context, tenantID string) (url, secret string, err error) {
	err = s.pool.QueryRow(ctx, `SELECT url, secret FROM billing_contacts WHERE tenant_id = $1`, tenantID).Scan(&url, &secret)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", tenants.ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("pgusage: billing contact of %s: %w", tenantID, err)
	}
	return url, secret, nil
}

// SetBillingContact sets (url "" removes) a tenant's billing contact.
func (s *Store) SetBillingContact(ctx context.Context, tenantID, url, secret string) error {
	var err error
	if url == "" {
		_, err = s.pool.Exec(ctx, `DELETE FROM billing_contacts WHERE tenant_id = $1`, tenantID)
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO billing_contacts (tenant_id, url, secret) VALUES ($1, $2, $3)
			ON CONFLICT (tenant_id) DO UPDATE SET url = EXCLUDED.url, secret = EXCLUDED.secret, updated_at = now()`,
			tenantID, url, secret)
	}
	if err != nil {
		return fmt.Errorf("pgusage: set billing contact of %s: %w", tenantID, err)
	}
	return nil
}
