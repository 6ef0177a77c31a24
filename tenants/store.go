package tenants

import (
	"context"
	"time"
)

// Store keeps the control plane: tenants, plans, apps, keys, management
// tokens and the audit log. The MemoryStore is the embedded default; the
// PostgreSQL one lives in tenants/pgstore. Both pass tenants/storetest.
//
// Apps handed out (AppByID, AppByKey, Apps, TenantApp, TenantApps) carry
// their EFFECTIVE limits — the app's own settings capped by its tenant's
// plan (Plan.Cap) — and Enabled=false while the tenant is suspended.
// App.Keys holds the active keys only, Keys[0] (the primary) first.
type Store interface {
	// AppByID and AppByKey are the hot-path lookups (read through the
	// Directory); a revoked key finds nothing.
	AppByID(ctx context.Context, id string) (*App, error)
	AppByKey(ctx context.Context, key string) (*App, error)
	// Apps lists every app of every tenant, sorted by id.
	Apps(ctx context.Context) ([]*App, error)
	// PutApp creates or replaces an app with exactly the given keys, in
	// order (operator and apps-file use; no plan limit). app.TenantID ""
	// means DefaultTenantID; a key of another app is ErrConflict.
	PutApp(ctx context.Context, app *App) error
	// CreateAppIfAbsent adds app unless an app with its id or one of its
	// keys (even a revoked one) exists; it reports whether it added it.
	CreateAppIfAbsent(ctx context.Context, app *App) (bool, error)
	// DeleteApp removes an app and its keys.
	DeleteApp(ctx context.Context, id string) error

	// CreateTenant adds an active tenant on planID (FreePlanID when "").
	CreateTenant(ctx context.Context, name, planID, actor string) (*Tenant, error)
	Tenant(ctx context.Context, id string) (*Tenant, error)
	// Tenants lists every tenant, oldest first.
	Tenants(ctx context.Context) ([]*Tenant, error)
	SetTenantStatus(ctx context.Context, id string, status TenantStatus, actor string) error
	SetTenantPlan(ctx context.Context, id, planID, actor string) error
	// PutPlan creates or replaces a plan.
	PutPlan(ctx context.Context, p *Plan, actor string) error
	Plan(ctx context.Context, id string) (*Plan, error)
	// Plans lists every plan sorted by id.
	Plans(ctx context.Context) ([]*Plan, error)

	// CreateApp adds an app to a tenant: a numeric id (as Pusher's) when
	// spec.ID is empty, and a first key whose secret it returns — the only
	// time besides CreateKey that a secret is shown. Only spec's settings
	// are used (name, enabled, switches, limits, origins, webhooks); zero
	// Limits mean DefaultLimits(). Past the plan's MaxApps: ErrPlanLimit.
	CreateApp(ctx context.Context, tenantID string, spec *App, actor string) (*App, Key, error)
	// TenantApps lists a tenant's apps sorted by id.
	TenantApps(ctx context.Context, tenantID string) ([]*App, error)
	// TenantApp finds one of the tenant's apps; another tenant's app is
	// ErrNotFound, as is an unknown one.
	TenantApp(ctx context.Context, tenantID, appID string) (*App, error)
	// AppSettings is one of the tenant's apps as stored: its own settings
	// (the per-app overrides, Enabled as set), before the plan's caps and
	// the tenant's status apply. Read-modify-write updates start here, so
	// that a plan's cap is never written back as the app's own limit.
	AppSettings(ctx context.Context, tenantID, appID string) (*App, error)
	// UpdateApp replaces the settings of an existing app; keys untouched.
	UpdateApp(ctx context.Context, tenantID string, app *App, actor string) (*App, error)
	RemoveApp(ctx context.Context, tenantID, appID, actor string) error

	// Keys lists an app's keys, active and revoked, oldest first.
	Keys(ctx context.Context, tenantID, appID string) ([]KeyInfo, error)
	// CreateKey adds an active key and returns it with its secret, once.
	CreateKey(ctx context.Context, tenantID, appID, actor string) (Key, error)
	// RevokeKey revokes an active key; ErrLastKey for the only one.
	RevokeKey(ctx context.Context, tenantID, appID, key, actor string) error
	// MarkKeysUsed records last use, batched by the caller (the Directory
	// flushes every 30 s), never per request. Unknown keys are ignored.
	MarkKeysUsed(ctx context.Context, used map[string]time.Time) error

	// CreateToken makes a management-API token and returns it, in plain
	// text (prefixed TokenPrefix), this once; only its hash is kept.
	CreateToken(ctx context.Context, tenantID, name, actor string) (APIToken, string, error)
	// TenantByToken authenticates a token: ErrNotFound when unknown or
	// revoked.
	TenantByToken(ctx context.Context, token string) (*Tenant, *APIToken, error)
	// Tokens lists a tenant's tokens that are not revoked, oldest first.
	Tokens(ctx context.Context, tenantID string) ([]APIToken, error)
	RevokeToken(ctx context.Context, tenantID, tokenID, actor string) error

	// Audit returns a tenant's audit entries, newest first, at most limit
	// (every tenant's when tenantID is "", for operators).
	Audit(ctx context.Context, tenantID string, limit int) ([]AuditEntry, error)
}
