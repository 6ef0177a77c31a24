package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
)

// RecordAudit appends an audit entry for a change kept outside the store
// (the dashboard's team members, in the users table); see
// tenants.MemoryStore.RecordAudit.
func (s *Store) RecordAudit(ctx context.Context, tenantID, actor, action, target string, detail json.RawMessage) error {
	var d any
	if len(detail) > 0 {
		d = string(detail)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_log (tenant_id, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5::jsonb)`,
		tenantID, actor, action, target, d)
	if err != nil {
		return fmt.Errorf("pgstore: record audit: %w", err)
	}
	return nil
}
