package dashboard

import (
	"context"
	"time"
)

// Usage reads metered usage and the billing state (issue 7/10) for the
// management API's usage routes and the UI's charts; cmd/switchboard
// adapts billing's stores to it (PostgreSQL rollups with --database-url,
// the in-memory counters otherwise). The figures are the ones billed.
type Usage interface {
	// AppUsage is one app's usage per hour or day (byDay) over [from, to),
	// oldest first; buckets without traffic may be missing.
	AppUsage(ctx context.Context, appID string, from, to time.Time, byDay bool) ([]UsageRow, error)
	// TenantUsage is the sum over all the tenant's apps (AppID "").
	TenantUsage(ctx context.Context, tenantID string, from, to time.Time, byDay bool) ([]UsageRow, error)
	// CurrentPeriod is each of the tenant's apps' usage in the current
	// plan period (the UTC day of now) against the plan's limits.
	CurrentPeriod(ctx context.Context, tenantID string, now time.Time) ([]PeriodUsage, error)
	// Billing is the tenant's plan and billing state.
	Billing(ctx context.Context, tenantID string) (BillingState, error)
}

// UsageRow is the usage of one app (or, AppID "", a tenant) over one hour
// or day.
type UsageRow struct {
	AppID             string    `json:"app_id,omitempty"`
	Start             time.Time `json:"start"`
	Messages          int64     `json:"messages"` // published + delivered: what is billed and limited
	Published         int64     `json:"published"`
	Delivered         int64     `json:"delivered"`
	APIRequests       int64     `json:"api_requests"`
	WebhookCalls      int64     `json:"webhook_calls"`
	ConnectionMinutes int64     `json:"connection_minutes"`
	PeakConnections   int64     `json:"peak_connections"`
}

// PeriodUsage is one app's usage in the current period against its plan.
type PeriodUsage struct {
	AppID       string    `json:"app_id"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Messages    int64     `json:"messages"`
	// MessageLimit is the plan's max_messages_per_day; -1 is unlimited.
	MessageLimit int64 `json:"message_limit"`
	// Overage is the messages past the limit, billed on soft-cap plans.
	Overage         int64 `json:"overage"`
	SoftCap         bool  `json:"soft_cap"`
	PeakConnections int64 `json:"peak_connections"`
	// ConnectionLimit is the plan's max_connections per app; -1 is unlimited.
	ConnectionLimit int64 `json:"connection_limit"`
}

// BillingState is a tenant's plan and where its billing stands.
type BillingState struct {
	PlanID string `json:"plan_id"`
	// Enabled is false in the self-hosted mode (no Stripe key): plans
	// still limit usage but nothing is billed.
	Enabled bool `json:"billing_enabled"`
	// Status is the tenant's status: active, past_due or suspended.
	Status string `json:"status"`
	// GraceEnds is when a past_due tenant is suspended.
	GraceEnds *time.Time `json:"grace_ends,omitempty"`
	// PortalURL opens Stripe's customer portal for the tenant's customer;
	// empty when billing is off or the tenant has no customer yet.
	PortalURL string `json:"portal_url,omitempty"`
	// Notifications are the latest quota warnings (80 % and 100 %).
	Notifications []UsageNotification `json:"notifications"`
	// ContactURL is where quota warnings are POSTed as signed JSON
	// (PUT /api/v1/billing/contact); empty when none is set.
	ContactURL string `json:"contact_url,omitempty"`
}

// UsageNotification is a quota warning recorded for the tenant.
type UsageNotification struct {
	Time    time.Time `json:"time"`
	AppID   string    `json:"app_id"`
	Quota   string    `json:"quota"`   // e.g. max_messages_per_day
	Percent int       `json:"percent"` // 80 or 100
	Used    int64     `json:"used"`
	Limit   int64     `json:"limit"`
}
