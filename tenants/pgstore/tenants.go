package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-rt/switchboard/tenants"
)

func (s *Store) CreateTenant(ctx context.Context, name, planID, actor string) (*tenants.Tenant, error) {
	if len(name) == 0 || len(name) > 200 || name[0] == ' ' {
		return nil, fmt.Errorf("%w: %w", tenants.ErrInvalid, &tenants.FieldError{Field: "name", Problem: "must be 1 to 200 bytes, not starting with a space"})
	}
	if planID == "" {
		planID = tenants.FreePlanID
	}
	t := &tenants.Tenant{ID: tenants.NewTenantID(), Name: name, Status: tenants.TenantActive, PlanID: planID}
	err := s.inTx(ctx, "create tenant", func(tx pgx.Tx) error {
		if _, err := s.planIn(ctx, tx, planID); err != nil {
			return fmt.Errorf("plan %s: %w", planID, err)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO tenants (id, name, plan_id) VALUES ($1, $2, $3) RETURNING created_at`,
			t.ID, name, planID).Scan(&t.CreatedAt); err != nil {
			return err
		}
		return audit(ctx, tx, t.ID, actor, tenants.ActionTenantCreate, t.ID, tenants.Detail(map[string]string{"name": name, "plan_id": planID}))
	})
	if err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

const tenantSelect = `SELECT id, name, status, plan_id, created_at FROM tenants `

func scanTenant(row pgx.Row) (*tenants.Tenant, error) {
	t := &tenants.Tenant{}
	var status string
	if err := row.Scan(&t.ID, &t.Name, &status, &t.PlanID, &t.CreatedAt); err != nil {
		return nil, err
	}
	t.Status, t.CreatedAt = tenants.TenantStatus(status), t.CreatedAt.UTC()
	return t, nil
}

func (s *Store) Tenant(ctx context.Context, id string) (*tenants.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, tenantSelect+`WHERE id = $1`, id))
	if err != nil {
		if err = translate(err); err == tenants.ErrNotFound {
			return nil, err
		}
		return nil, fmt.Errorf("pgstore: tenant %s: %w", id, err)
	}
	return t, nil
}

func (s *Store) Tenants(ctx context.Context) ([]*tenants.Tenant, error) {
	rows, err := s.pool.Query(ctx, tenantSelect+`ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: tenants: %w", err)
	}
	defer rows.Close()
	var out []*tenants.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("pgstore: tenants: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Store) SetTenantStatus(ctx context.Context, id string, status tenants.TenantStatus, actor string) error {
	if !status.Valid() {
		return fmt.Errorf("%w: %w", tenants.ErrInvalid, &tenants.FieldError{Field: "status", Problem: fmt.Sprintf("%q is not active, suspended or past_due", status)})
	}
	return s.inTx(ctx, "tenant status", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tenants SET status = $2, updated_at = now() WHERE id = $1`, id, string(status))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tenants.ErrNotFound
		}
		if err := audit(ctx, tx, id, actor, tenants.ActionTenantStatus, id, tenants.Detail(map[string]string{"status": string(status)})); err != nil {
			return err
		}
		return notify(ctx, tx, tenants.Change{All: true})
	})
}

func (s *Store) SetTenantPlan(ctx context.Context, id, planID, actor string) error {
	return s.inTx(ctx, "tenant plan", func(tx pgx.Tx) error {
		if err := tenantExists(ctx, tx, id); err != nil {
			return err
		}
		if _, err := s.planIn(ctx, tx, planID); err != nil {
			return fmt.Errorf("plan %s: %w", planID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE tenants SET plan_id = $2, updated_at = now() WHERE id = $1`, id, planID); err != nil {
			return err
		}
		if err := audit(ctx, tx, id, actor, tenants.ActionTenantPlan, id, tenants.Detail(map[string]string{"plan_id": planID})); err != nil {
			return err
		}
		return notify(ctx, tx, tenants.Change{All: true})
	})
}

func (s *Store) PutPlan(ctx context.Context, p *tenants.Plan, actor string) error {
	if err := tenants.ValidatePlan(p); err != nil {
		return err
	}
	return s.inTx(ctx, "put plan "+p.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO plans (id, name, max_apps, max_connections, max_messages_per_day, max_presence_members, max_payload_kb,
				max_history_events, max_history_age_seconds)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (id) DO UPDATE SET name = $2, max_apps = $3, max_connections = $4, max_messages_per_day = $5,
				max_presence_members = $6, max_payload_kb = $7, max_history_events = $8, max_history_age_seconds = $9, updated_at = now()`,
			p.ID, p.Name, p.MaxApps, p.MaxConnections, p.MaxMessagesPerDay, p.MaxPresenceMembers, p.MaxPayloadKB,
			p.MaxHistoryEvents, p.MaxHistoryAgeSeconds)
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, "", actor, tenants.ActionPlanPut, p.ID, tenants.Detail(p)); err != nil {
			return err
		}
		return notify(ctx, tx, tenants.Change{All: true})
	})
}

const planSelect = `SELECT id, name, max_apps, max_connections, max_messages_per_day, max_presence_members, max_payload_kb,
	max_history_events, max_history_age_seconds FROM plans `

func scanPlan(row pgx.Row) (*tenants.Plan, error) {
	p := &tenants.Plan{}
	err := row.Scan(&p.ID, &p.Name, &p.MaxApps, &p.MaxConnections, &p.MaxMessagesPerDay, &p.MaxPresenceMembers, &p.MaxPayloadKB,
		&p.MaxHistoryEvents, &p.MaxHistoryAgeSeconds)
	return p, err
}

func (s *Store) planIn(ctx context.Context, q querier, id string) (*tenants.Plan, error) {
	p, err := scanPlan(q.QueryRow(ctx, planSelect+`WHERE id = $1`, id))
	if err != nil {
		return nil, translate(err)
	}
	return p, nil
}

func (s *Store) Plan(ctx context.Context, id string) (*tenants.Plan, error) {
	return s.planIn(ctx, s.pool, id)
}

func (s *Store) Plans(ctx context.Context) ([]*tenants.Plan, error) {
	rows, err := s.pool.Query(ctx, planSelect+`ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: plans: %w", err)
	}
	defer rows.Close()
	var out []*tenants.Plan
	for rows.Next() {
		p, err := scanPlan(rows)
		if err != nil {
			return nil, fmt.Errorf("pgstore: plans: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Tokens.

func (s *Store) CreateToken(ctx context.Context, tenantID, name, actor string) (tenants.APIToken, string, error) {
	if len(name) == 0 || len(name) > 200 || name[0] == ' ' {
		return tenants.APIToken{}, "", fmt.Errorf("%w: %w", tenants.ErrInvalid, &tenants.FieldError{Field: "name", Problem: "must be 1 to 200 bytes, not starting with a space"})
	}
	plain, hash := tenants.NewToken()
	t := tenants.APIToken{ID: tenants.NewTokenID(), TenantID: tenantID, Name: name}
	err := s.inTx(ctx, "create token", func(tx pgx.Tx) error {
		if err := tenantExists(ctx, tx, tenantID); err != nil {
			return tenants.ErrNotFound
		}
		if err := tx.QueryRow(ctx, `INSERT INTO api_tokens (id, tenant_id, name, token_hash) VALUES ($1, $2, $3, $4) RETURNING created_at`,
			t.ID, tenantID, name, hash).Scan(&t.CreatedAt); err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, actor, tenants.ActionTokenCreate, t.ID, tenants.Detail(map[string]string{"name": name}))
	})
	if err != nil {
		return tenants.APIToken{}, "", err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, plain, nil
}

func (s *Store) TenantByToken(ctx context.Context, token string) (*tenants.Tenant, *tenants.APIToken, error) {
	var t tenants.Tenant
	var tok tenants.APIToken
	var status string
	err := s.pool.QueryRow(ctx, `SELECT t.id, t.name, t.status, t.plan_id, t.created_at, k.id, k.name, k.created_at, k.last_used_at
		FROM api_tokens k JOIN tenants t ON t.id = k.tenant_id WHERE k.token_hash = $1 AND k.revoked_at IS NULL`,
		tenants.HashToken(token)).Scan(&t.ID, &t.Name, &status, &t.PlanID, &t.CreatedAt, &tok.ID, &tok.Name, &tok.CreatedAt, &tok.LastUsedAt)
	if err != nil {
		if err = translate(err); err == tenants.ErrNotFound {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("pgstore: token: %w", err)
	}
	t.Status, t.CreatedAt = tenants.TenantStatus(status), t.CreatedAt.UTC()
	tok.TenantID, tok.CreatedAt, tok.LastUsedAt = t.ID, tok.CreatedAt.UTC(), utc(tok.LastUsedAt)
	// Last use to the minute: one write per token per minute at most.
	now := time.Now().UTC()
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) > time.Minute {
		if _, err := s.pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1`, tok.ID, now); err == nil {
			tok.LastUsedAt = &now
		}
	}
	return &t, &tok, nil
}

func (s *Store) Tokens(ctx context.Context, tenantID string) ([]tenants.APIToken, error) {
	if _, err := s.Tenant(ctx, tenantID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at, last_used_at FROM api_tokens
		WHERE tenant_id = $1 AND revoked_at IS NULL ORDER BY created_at, id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: tokens: %w", err)
	}
	defer rows.Close()
	var out []tenants.APIToken
	for rows.Next() {
		t := tenants.APIToken{TenantID: tenantID}
		if err := rows.Scan(&t.ID, &t.Name, &t.CreatedAt, &t.LastUsedAt); err != nil {
			return nil, fmt.Errorf("pgstore: tokens: %w", err)
		}
		t.CreatedAt, t.LastUsedAt = t.CreatedAt.UTC(), utc(t.LastUsedAt)
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Store) RevokeToken(ctx context.Context, tenantID, tokenID, actor string) error {
	return s.inTx(ctx, "revoke token", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL`, tokenID, tenantID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tenants.ErrNotFound
		}
		return audit(ctx, tx, tenantID, actor, tenants.ActionTokenRevoke, tokenID, nil)
	})
}

func (s *Store) Audit(ctx context.Context, tenantID string, limit int) ([]tenants.AuditEntry, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, tenant_id, actor, action, target, detail, at FROM audit_log
		WHERE $1 = '' OR tenant_id = $1 ORDER BY id DESC LIMIT $2`, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: audit: %w", err)
	}
	defer rows.Close()
	var out []tenants.AuditEntry
	for rows.Next() {
		var e tenants.AuditEntry
		var detail []byte
		if err := rows.Scan(&e.ID, &e.TenantID, &e.Actor, &e.Action, &e.Target, &detail, &e.At); err != nil {
			return nil, fmt.Errorf("pgstore: audit: %w", err)
		}
		e.Detail, e.At = detail, e.At.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
