package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// More sentinel errors of the control plane; see ErrNotFound.
var (
	// ErrPlanLimit is CreateApp past the tenant plan's MaxApps.
	ErrPlanLimit = errors.New("plan limit reached")
	// ErrLastKey refuses to revoke an app's only active key.
	ErrLastKey = errors.New("cannot revoke the last active key")
	// ErrInvalid is bad input; it wraps a *FieldError naming the field.
	ErrInvalid = errors.New("invalid")
)

// TenantStatus is where a tenant stands with billing.
type TenantStatus string

const (
	TenantActive TenantStatus = "active"
	// TenantSuspended: the tenant's apps behave as disabled (4003 on
	// connect, 403 from the HTTP API) while it is suspended.
	TenantSuspended TenantStatus = "suspended"
	// TenantPastDue keeps working during billing's grace period.
	TenantPastDue TenantStatus = "past_due"
)

// Valid reports whether s is one of the known statuses.
func (s TenantStatus) Valid() bool {
	return s == TenantActive || s == TenantSuspended || s == TenantPastDue
}

// DefaultTenantID owns the apps of the apps file (and apps put without a
// tenant). Stores create it, on DefaultPlanID, when they are opened.
const DefaultTenantID = "default"

// DefaultPlanID is the plan whose every limit is Unlimited.
const DefaultPlanID = "unlimited"

// FreePlanID is the plan CreateTenant uses when given none.
const FreePlanID = "free"

// Tenant is one customer of the service; it owns apps.
type Tenant struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Status    TenantStatus `json:"status"`
	PlanID    string       `json:"plan_id"`
	CreatedAt time.Time    `json:"created_at"`
}

// Plan limits cap every app of a tenant on the plan. Unlimited (-1) is not
// capped.
type Plan struct {
	ID                 string  `json:"id"`
	Name               string  `json:"name"`
	MaxApps            int     `json:"max_apps"`
	MaxConnections     int     `json:"max_connections"`      // per app
	MaxMessagesPerDay  int64   `json:"max_messages_per_day"` // enforced by billing (issue 7/10)
	MaxPresenceMembers int     `json:"max_presence_members"` // per channel
	MaxPayloadKB       float64 `json:"max_payload_kb"`
	// MaxHistoryEvents and MaxHistoryAgeSeconds cap the history an app
	// keeps per channel (its history_max_events and
	// history_max_age_seconds); 0 events: the plan has no history.
	MaxHistoryEvents     int `json:"max_history_events"`
	MaxHistoryAgeSeconds int `json:"max_history_age_seconds"`
}

// SeedPlans are the plans every store starts with: the unlimited plan of
// the default tenant and two examples operators are expected to edit.
func SeedPlans() []*Plan {
	return []*Plan{
		{ID: DefaultPlanID, Name: "Unlimited", MaxApps: Unlimited, MaxConnections: Unlimited, MaxMessagesPerDay: Unlimited, MaxPresenceMembers: Unlimited, MaxPayloadKB: Unlimited,
			MaxHistoryEvents: Unlimited, MaxHistoryAgeSeconds: Unlimited},
		{ID: FreePlanID, Name: "Free", MaxApps: 3, MaxConnections: 100, MaxMessagesPerDay: 200_000, MaxPresenceMembers: 100, MaxPayloadKB: 10,
			MaxHistoryEvents: 100, MaxHistoryAgeSeconds: 3600},
		{ID: "pro", Name: "Pro", MaxApps: 20, MaxConnections: 10_000, MaxMessagesPerDay: 10_000_000, MaxPresenceMembers: 100, MaxPayloadKB: 100,
			MaxHistoryEvents: 10_000, MaxHistoryAgeSeconds: 24 * 3600},
	}
}

// Cap returns l with the plan's limits applied: the smaller of the two,
// Unlimited meaning none.
func (p *Plan) Cap(l Limits) Limits {
	if p == nil {
		return l
	}
	l.MaxConnections = capInt(l.MaxConnections, p.MaxConnections)
	l.MaxPresenceMembersPerChannel = capInt(l.MaxPresenceMembersPerChannel, p.MaxPresenceMembers)
	if p.MaxPayloadKB > 0 && (l.MaxEventPayloadInKB <= 0 || l.MaxEventPayloadInKB > p.MaxPayloadKB) {
		l.MaxEventPayloadInKB = p.MaxPayloadKB
	}
	l.HistoryMaxEvents = capInt(l.HistoryMaxEvents, p.MaxHistoryEvents)
	l.HistoryMaxAgeSeconds = capInt(l.HistoryMaxAgeSeconds, p.MaxHistoryAgeSeconds)
	return l
}

func capInt(v, limit int) int {
	if limit == Unlimited || limit < 0 {
		return v
	}
	if v == Unlimited || v > limit {
		return limit
	}
	return v
}

// ValidatePlan checks a plan's id and limits.
func ValidatePlan(p *Plan) error {
	bad := func(field, problem string) error {
		return fmt.Errorf("%w: %w", ErrInvalid, &FieldError{field, problem})
	}
	if strings.TrimSpace(p.ID) == "" || strings.ContainsAny(p.ID, "/?#% ") {
		return bad("id", "must be non-empty, without '/', '?', '#', '%' or spaces")
	}
	if strings.TrimSpace(p.Name) == "" {
		return bad("name", "must not be empty")
	}
	for _, c := range []struct {
		field string
		v     int64
	}{
		{"max_apps", int64(p.MaxApps)}, {"max_connections", int64(p.MaxConnections)},
		{"max_messages_per_day", p.MaxMessagesPerDay}, {"max_presence_members", int64(p.MaxPresenceMembers)},
		{"max_history_events", int64(p.MaxHistoryEvents)}, {"max_history_age_seconds", int64(p.MaxHistoryAgeSeconds)},
	} {
		if c.v < Unlimited {
			return bad(c.field, fmt.Sprintf("must be -1 (unlimited) or at least 0, got %d", c.v))
		}
	}
	if p.MaxPayloadKB != Unlimited && (p.MaxPayloadKB <= 0 || p.MaxPayloadKB > 1024) {
		return bad("max_payload_kb", fmt.Sprintf("must be -1 (unlimited) or more than 0 and at most 1024, got %g", p.MaxPayloadKB))
	}
	return nil
}

// KeyStatus is whether a key still opens its app.
type KeyStatus string

const (
	KeyActive  KeyStatus = "active"
	KeyRevoked KeyStatus = "revoked"
)

// KeyInfo describes a key without its secret.
type KeyInfo struct {
	Key        string     `json:"key"`
	Status     KeyStatus  `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// APIToken is a tenant's management-API token; stores keep only a hash of
// the token itself.
type APIToken struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant_id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// TokenPrefix starts every management API token, so leaked ones are easy
// to recognise (and to scan for).
const TokenPrefix = "sbt_"

// AuditEntry is one change: who, what, when. Detail never holds a secret
// or token.
type AuditEntry struct {
	ID       int64           `json:"id"`
	TenantID string          `json:"tenant_id"`
	Actor    string          `json:"actor"`  // "cli", "token:<token id>", "system", "apps-file"
	Action   string          `json:"action"` // see the Action* constants
	Target   string          `json:"target"` // app id, key, token id, plan id, tenant id
	Detail   json.RawMessage `json:"detail,omitempty"`
	At       time.Time       `json:"at"`
}

// Audit actions.
const (
	ActionTenantCreate = "tenant.create"
	ActionTenantStatus = "tenant.status"
	ActionTenantPlan   = "tenant.plan"
	ActionPlanPut      = "plan.put"
	ActionAppCreate    = "app.create"
	ActionAppUpdate    = "app.update"
	ActionAppDelete    = "app.delete"
	ActionKeyCreate    = "key.create"
	ActionKeyRevoke    = "key.revoke"
	ActionTokenCreate  = "token.create"
	ActionTokenRevoke  = "token.revoke"
)

// Actors that are not a token.
const (
	ActorSystem   = "system"
	ActorAppsFile = "apps-file"
	ActorCLI      = "cli"
)

// AppDetail is the audit detail of an app: its settings and public keys,
// never a secret.
func AppDetail(a *App) json.RawMessage {
	keys := make([]string, len(a.Keys))
	for i, k := range a.Keys {
		keys[i] = k.Key
	}
	c := *a
	c.Keys = nil
	b, _ := json.Marshal(struct {
		*App
		Keys []string `json:"keys"`
	}{&c, keys})
	return b
}

// Detail marshals an audit detail from a map or struct without secrets.
func Detail(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// ValidateSettings checks what CreateApp and UpdateApp take from a spec:
// the name and every setting (the keys are the store's business).
func ValidateSettings(a *App) error {
	if strings.TrimSpace(a.Name) == "" {
		return fmt.Errorf("%w: %w", ErrInvalid, &FieldError{"name", "must not be empty"})
	}
	if len(a.Name) > 200 {
		return fmt.Errorf("%w: %w", ErrInvalid, &FieldError{"name", "must be at most 200 bytes"})
	}
	c := *a
	c.Keys = []Key{{Key: "k", Secret: "s"}}
	if c.ID == "" {
		c.ID = "0"
	}
	if err := Validate(&c); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Change names what a committed store change touched, so caches drop it.
type Change struct {
	AppIDs []string `json:"app_ids,omitempty"`
	// All is set for plan and tenant changes and for a feed that
	// (re)started: drop everything.
	All bool `json:"all,omitempty"`
}

// Touches reports whether the change concerns app id.
func (c Change) Touches(id string) bool {
	if c.All {
		return true
	}
	for _, a := range c.AppIDs {
		if a == id {
			return true
		}
	}
	return false
}

// ChangeFeed delivers changes committed by any node: the MemoryStore's
// in process, tenants/pgstore's by LISTEN/NOTIFY. Watch calls f for each
// change, in commit order, until ctx ends; it returns an error if the
// feed broke (the caller then drops everything and watches again).
type ChangeFeed interface {
	Watch(ctx context.Context, f func(Change)) error
}
