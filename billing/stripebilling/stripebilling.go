// Package stripebilling connects billing to Stripe with stripe-go: a
// customer and subscription per tenant, usage reported as Billing Meter
// events, and the webhook endpoint that moves tenants between active,
// past_due and suspended and applies plan changes.
//
// It imports billing, tenants and stripe-go; nothing imports it but cmd.
package stripebilling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/internal/periodic"
	"github.com/switchboard-rt/switchboard/tenants"
)

// Options configure the Stripe side. Without Key billing is off.
type Options struct {
	// Key is the Stripe secret key.
	Key string
	// URL replaces Stripe's API address (stripe-mock in tests).
	URL string
	// WebhookSecret verifies the Stripe-Signature of webhook requests.
	WebhookSecret string
	// MeterEventName is the event_name of the Billing Meter that messages
	// are reported to; default "switchboard_messages".
	MeterEventName string
	// Plans maps plan ids to their Stripe prices.
	Plans map[string]billing.PlanBilling
	// GracePeriod is how long a past_due tenant keeps working before it
	// is suspended; default 7 days.
	GracePeriod time.Duration
	// CheckInterval is how often Run looks for tenants past their grace
	// period, for tenants without a subscription and for plan changes to
	// push to Stripe; default 1m.
	CheckInterval time.Duration
	Log           *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MeterEventName == "" {
		o.MeterEventName = "switchboard_messages"
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = 7 * 24 * time.Hour
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// tenantStore is the part of tenants.Store billing changes.
type tenantStore interface {
	Tenant(ctx context.Context, id string) (*tenants.Tenant, error)
	SetTenantStatus(ctx context.Context, id string, status tenants.TenantStatus, actor string) error
	SetTenantPlan(ctx context.Context, id, planID, actor string) error
}

// Billing talks to Stripe for the tenants in its store.
type Billing struct {
	api      *client.API
	tenants  tenantStore
	accounts billing.Accounts
	opts     Options
	now      func() time.Time
}

// New returns a Billing; it starts nothing.
func New(tenants tenantStore, accounts billing.Accounts, opts Options) *Billing {
	opts = opts.withDefaults()
	var backends *stripe.Backends
	if opts.URL != "" {
		cfg := &stripe.BackendConfig{URL: stripe.String(opts.URL), MaxNetworkRetries: stripe.Int64(2)}
		backends = &stripe.Backends{
			API:     stripe.GetBackendWithConfig(stripe.APIBackend, cfg),
			Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, cfg),
			Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, cfg),
		}
	}
	return &Billing{api: client.New(opts.Key, backends), tenants: tenants, accounts: accounts, opts: opts, now: time.Now}
}

// Subscribe creates the tenant's Stripe customer and its subscription to
// the tenant's plan (flat price plus metered price when configured), and
// stores the link. Idempotency keys derived from the tenant make a retry
// return the same customer and subscription instead of new ones.
func (b *Billing) Subscribe(ctx context.Context, tenantID string) (billing.Account, error) {
	t, err := b.tenants.Tenant(ctx, tenantID)
	if err != nil {
		return billing.Account{}, err
	}
	pb, ok := b.opts.Plans[t.PlanID]
	if !ok || pb.StripePriceID == "" {
		return billing.Account{}, fmt.Errorf("stripebilling: plan %s has no Stripe price", t.PlanID)
	}
	cp := &stripe.CustomerParams{Name: stripe.String(t.Name)}
	cp.Context = ctx
	cp.AddMetadata("tenant_id", t.ID)
	cp.SetIdempotencyKey("switchboard-customer-" + t.ID)
	cus, err := b.api.Customers.New(cp)
	if err != nil {
		return billing.Account{}, fmt.Errorf("stripebilling: customer for %s: %w", t.ID, err)
	}
	sp := &stripe.SubscriptionParams{Customer: stripe.String(cus.ID), Items: newItems(pb)}
	sp.Context = ctx
	sp.AddMetadata("tenant_id", t.ID)
	sp.SetIdempotencyKey("switchboard-subscription-" + t.ID + "-" + t.PlanID)
	sub, err := b.api.Subscriptions.New(sp)
	if err != nil {
		return billing.Account{}, fmt.Errorf("stripebilling: subscription for %s: %w", t.ID, err)
	}
	// Another node may have subscribed the tenant meanwhile (and a
	// webhook may have marked it past_due since): keep what is stored.
	if existing, err := b.accounts.Account(ctx, t.ID); err == nil {
		return existing, nil
	}
	a := billing.Account{TenantID: t.ID, CustomerID: cus.ID, SubscriptionID: sub.ID, PlanID: t.PlanID}
	if err := b.accounts.PutAccount(ctx, a); err != nil {
		return billing.Account{}, err
	}
	return a, nil
}

// MeterEventIdentifier is the identifier of the meter event for a
// tenant's usage in the interval starting at start: the same for every
// retry, so Stripe (which enforces uniqueness over 24 hours) bills it once.
func MeterEventIdentifier(tenantID string, start time.Time) string {
	return "sb-" + tenantID + "-" + strconv.FormatInt(start.Unix(), 10)
}

// ReportUsage sends one Billing Meter event: the tenant's messages in
// the interval starting at start.
func (b *Billing) ReportUsage(ctx context.Context, tenantID string, start time.Time, messages int64) error {
	a, err := b.accounts.Account(ctx, tenantID)
	if err != nil {
		return fmt.Errorf("stripebilling: report usage of %s: %w", tenantID, err)
	}
	p := &stripe.BillingMeterEventParams{
		EventName:  stripe.String(b.opts.MeterEventName),
		Identifier: stripe.String(MeterEventIdentifier(tenantID, start)),
		Timestamp:  stripe.Int64(start.Unix()),
		Payload: map[string]string{
			"stripe_customer_id": a.CustomerID,
			"value":              strconv.FormatInt(messages, 10),
		},
	}
	p.Context = ctx
	if _, err := b.api.BillingMeterEvents.New(p); err != nil {
		return fmt.Errorf("stripebilling: meter event for %s at %s: %w", tenantID, start.Format(time.RFC3339), err)
	}
	return nil
}

// SuspendOverdue suspends every past_due tenant whose grace period is
// over; it returns how many it suspended.
func (b *Billing) SuspendOverdue(ctx context.Context) (int, error) {
	due, err := b.accounts.PastDue(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	now := b.now()
	for _, a := range due {
		if now.Sub(a.PastDueSince) < b.opts.GracePeriod {
			continue
		}
		t, err := b.tenants.Tenant(ctx, a.TenantID)
		if err != nil {
			return n, err
		}
		if t.Status != tenants.TenantPastDue {
			continue
		}
		if err := b.tenants.SetTenantStatus(ctx, a.TenantID, tenants.TenantSuspended, tenants.ActorSystem); err != nil {
			return n, err
		}
		b.opts.Log.Info("billing: tenant suspended after its grace period", "tenant_id", a.TenantID)
		n++
	}
	return n, nil
}

// Run, every CheckInterval until ctx ends, subscribes tenants that have
// no Stripe account yet (SubscribeAll), pushes plan changes to Stripe
// (SyncPlans) and suspends overdue tenants.
func (b *Billing) Run(ctx context.Context) error {
	periodic.NowAndEvery(ctx, b.opts.CheckInterval, func(ctx context.Context) {
		if _, err := b.SubscribeAll(ctx); err != nil && ctx.Err() == nil {
			b.opts.Log.Error("billing: subscribe tenants", "err", err)
		}
		if _, err := b.SyncPlans(ctx); err != nil && ctx.Err() == nil {
			b.opts.Log.Error("billing: push plan changes to Stripe", "err", err)
		}
		if _, err := b.SuspendOverdue(ctx); err != nil && ctx.Err() == nil {
			b.opts.Log.Error("billing: suspend overdue tenants", "err", err)
		}
	})
	return nil
}

// tenantLister lists tenants, for SubscribeAll; tenants.Store has it.
type tenantLister interface {
	Tenants(ctx context.Context) ([]*tenants.Tenant, error)
}

// SubscribeAll gives every tenant without a Stripe account, whose plan
// has a Stripe price, its customer and subscription (tenants made by
// sign-up or the CLI after start). It returns how many it subscribed.
// Several nodes may race: the idempotency keys of Subscribe make them
// get the same customer and subscription.
func (b *Billing) SubscribeAll(ctx context.Context) (int, error) {
	tl, ok := b.tenants.(tenantLister)
	if !ok {
		return 0, nil
	}
	all, err := tl.Tenants(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, t := range all {
		if b.opts.Plans[t.PlanID].StripePriceID == "" {
			continue
		}
		if _, err := b.accounts.Account(ctx, t.ID); err == nil {
			continue
		} else if !errors.Is(err, tenants.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		if _, err := b.Subscribe(ctx, t.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		b.opts.Log.Info("billing: tenant subscribed in Stripe", "tenant_id", t.ID, "plan", t.PlanID)
		n++
	}
	return n, errors.Join(errs...)
}

// PortalURL opens a Stripe customer-portal session for the tenant's
// customer and returns its short-lived URL; tenants.ErrNotFound when the
// tenant has no Stripe customer.
func (b *Billing) PortalURL(ctx context.Context, tenantID string) (string, error) {
	a, err := b.accounts.Account(ctx, tenantID)
	if err != nil {
		return "", err
	}
	p := &stripe.BillingPortalSessionParams{Customer: stripe.String(a.CustomerID)}
	p.Context = ctx
	s, err := b.api.BillingPortalSessions.New(p)
	if err != nil {
		return "", fmt.Errorf("stripebilling: portal session for %s: %w", tenantID, err)
	}
	return s.URL, nil
}
