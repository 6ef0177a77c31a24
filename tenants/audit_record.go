package tenants

import (
	"context"
	"encoding/json"
	"slices"
)

// RecordAudit appends an audit entry for a change kept outside the store
// (the dashboard's team members live in package accounts), so that a
// tenant's history stays in one log. It is deliberately not part of
// Store: only the dashboard writes such entries, through an interface of
// its own.
func (s *MemoryStore) RecordAudit(_ context.Context, tenantID, actor, action, target string, detail json.RawMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auditLocked(tenantID, actor, action, target, slices.Clone(detail))
	return nil
}
