package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/billing/pgusage"
	"github.com/switchboard-rt/switchboard/billing/redisusage"
	"github.com/switchboard-rt/switchboard/billing/stripebilling"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/tenants/pgstore"
)

// StripeWebhookPath is where Stripe posts its events (with
// --stripe-key and --stripe-webhook-secret).
const StripeWebhookPath = "/billing/stripe/webhook"

// meterQuotas is what the surfaces meter through and ask the daily
// message quota of: edge.Usage, restapi.Usage and webhooks.CallMeter in
// one value. The meter's methods are promoted, so the fan-out's
// Delivered is one interface call and one atomic add.
type meterQuotas struct {
	*billing.Meter
	quotas *billing.Quotas
}

// AllowMessages asks the quotas (atomics only).
func (m meterQuotas) AllowMessages(appID string, n int64) error {
	return m.quotas.AllowMessages(appID, n)
}

// usageReader is where rolled-up usage is read: billing/pgusage with a
// database, memoryUsage otherwise. It is also the Stripe reporter's
// source, so what is billed is what the API shows.
type usageReader interface {
	AppUsage(ctx context.Context, appID string, from, to time.Time, g billing.Granularity) ([]billing.Row, error)
	TenantUsage(ctx context.Context, tenantID string, from, to time.Time, g billing.Granularity) ([]billing.Row, error)
}

// notificationLister lists a tenant's quota warnings, newest first.
type notificationLister interface {
	Notifications(ctx context.Context, tenantID string, limit int) ([]billing.Notification, error)
}

// billingStack is the node's metering, quotas, rollup and (with a Stripe
// key) Stripe billing, built by openBilling and run by start.
type billingStack struct {
	cfg      billingConfig
	log      *slog.Logger
	store    tenants.Store
	plans    map[string]billing.PlanBilling
	meter    *billing.Meter
	usage    meterQuotas
	counters billing.Counters
	flusher  *billing.Flusher
	quotas   *billing.Quotas
	roller   *pgusage.Roller // nil without a database
	reader   usageReader
	notes    notificationLister
	accounts billing.Accounts
	contacts *contactNotifier

	stripe   *stripebilling.Billing // nil without --stripe-key
	reporter *stripebilling.Reporter
}

// openBilling builds the billing stack on the node's store and bus, and
// writes the configured plans into the store. It starts nothing.
func openBilling(ctx context.Context, cfg serveConfig, cp *controlPlane, bb *busBackend, node string, log *slog.Logger) (*billingStack, error) {
	bc := cfg.Billing
	log = log.With("component", "billing")
	plans, err := applyPlans(ctx, bc, cp.store, log)
	if err != nil {
		return nil, err
	}
	b := &billingStack{cfg: bc, log: log, store: cp.store, plans: plans, meter: billing.NewMeter()}
	if bb.rdb != nil {
		b.counters = redisusage.New(bb.rdb, redisusage.Options{Prefix: cfg.RedisPrefix})
	} else {
		b.counters = billing.NewMemoryCounters()
	}
	var notifier billing.Notifier
	var contacts contactStore
	if ps, ok := cp.store.(*pgstore.Store); ok {
		pg := pgusage.New(ps.Pool())
		b.reader, b.notes, b.accounts, notifier, contacts = pg, pg, pg, pg, pg
		b.roller = pgusage.NewRoller(pg, b.counters, pgusage.RollerOptions{Interval: bc.RollupInterval, Log: log})
	} else {
		mem := &billing.MemoryNotifications{}
		mc := &memoryContacts{}
		b.reader = &memoryUsage{counters: b.counters, store: cp.store}
		b.notes, b.accounts, notifier, contacts = mem, &billing.MemoryAccounts{}, mem, mc
	}
	b.contacts = newContactNotifier(notifier, contacts, cfg.WebhooksAllowPrivate, log)
	b.flusher = billing.NewFlusher(node, b.meter, b.counters, billing.FlusherOptions{Interval: bc.FlushInterval, Log: log})
	b.quotas = billing.NewQuotas(b.meter, b.counters, cp.store, b.contacts,
		billing.QuotaOptions{Interval: bc.QuotaRefresh, Plans: plans, Log: log})
	b.usage = meterQuotas{Meter: b.meter, quotas: b.quotas}
	if bc.StripeKey != "" {
		b.stripe = stripebilling.New(cp.store, b.accounts, stripebilling.Options{
			Key: bc.StripeKey, URL: bc.StripeAPIBase, WebhookSecret: bc.StripeWebhookSecret,
			MeterEventName: bc.StripeMeterEvent, Plans: plans, GracePeriod: bc.GracePeriod,
			CheckInterval: checkInterval(bc.GracePeriod), Log: log,
		})
		b.reporter = stripebilling.NewReporter(b.stripe, b.reader, stripebilling.ReporterOptions{
			Interval: bc.ReportInterval, Settle: bc.ReportSettle})
		log.Info("billing on Stripe", "api", orDefault(bc.StripeAPIBase, "https://api.stripe.com"),
			"webhook", map[bool]string{true: StripeWebhookPath, false: "off (no --stripe-webhook-secret)"}[bc.StripeWebhookSecret != ""],
			"grace_period", bc.GracePeriod)
	} else {
		log.Info("billing off (no --stripe-key): plans still limit usage")
	}
	return b, nil
}

// checkInterval is how often past_due tenants are checked: every
// minute, or more often for a grace period shorter than a few minutes
// (tests), so that suspension lands within a quarter of it.
func checkInterval(grace time.Duration) time.Duration {
	return max(min(time.Minute, grace/4), 50*time.Millisecond)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// applyPlans writes the plans of --plans-file into the store (they win
// over what the store holds), or adds the default plans that are
// missing; it returns the billing settings by plan id.
func applyPlans(ctx context.Context, bc billingConfig, store tenants.Store, log *slog.Logger) (map[string]billing.PlanBilling, error) {
	out := map[string]billing.PlanBilling{}
	if bc.PlansFile != "" {
		plans, err := loadPlansFile(bc.PlansFile)
		if err != nil {
			return nil, err
		}
		for _, p := range plans {
			if err := store.PutPlan(ctx, p.Plan, tenants.ActorSystem); err != nil {
				return nil, fmt.Errorf("--plans-file: plan %q: %w", p.Plan.ID, err)
			}
			out[p.Plan.ID] = p.Billing
		}
		log.Info("plans loaded", "file", bc.PlansFile, "plans", len(plans))
		return out, nil
	}
	for _, p := range defaultPlans() {
		out[p.Plan.ID] = p.Billing
		if _, err := store.Plan(ctx, p.Plan.ID); err == nil {
			continue
		} else if !errors.Is(err, tenants.ErrNotFound) {
			return nil, fmt.Errorf("plans: %w", err)
		}
		if err := store.PutPlan(ctx, p.Plan, tenants.ActorSystem); err != nil {
			return nil, fmt.Errorf("plans: default plan %q: %w", p.Plan.ID, err)
		}
	}
	return out, nil
}

// webhookHandler is the Stripe endpoint, or nil when it is not mounted.
func (b *billingStack) webhookHandler() http.Handler {
	if b.stripe == nil || b.cfg.StripeWebhookSecret == "" {
		return nil
	}
	return b.stripe.WebhookHandler()
}

// start runs the stack in g. Metering keeps counting until stop, which
// the drain calls once the edge has drained (its last deliveries are
// usage): the flusher then flushes once more, a database rollup copies
// it, and everything else ends. Every node meters and checks quotas; the
// rollup and the Stripe jobs run on control nodes only.
func (b *billingStack) start(g *errgroup.Group, control bool) (stop func(ctx context.Context)) {
	roller := b.roller
	if !control {
		roller = nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	fctx, stopFlusher := context.WithCancel(context.Background())
	flushed := make(chan struct{})
	g.Go(func() error {
		defer close(flushed)
		if err := b.flusher.Run(fctx); err != nil {
			b.log.Warn("billing: last flush failed; this node's usage since the previous flush is lost", "err", err)
		}
		return nil
	})
	g.Go(func() error { return b.quotas.Run(ctx) })
	g.Go(func() error { return b.contacts.Run(ctx) })
	if roller != nil {
		g.Go(func() error { return roller.Run(ctx) })
	}
	if b.stripe != nil && control {
		g.Go(func() error { return b.stripe.Run(ctx) })
		g.Go(func() error { return b.reporter.Run(ctx) })
	}
	return func(dctx context.Context) {
		stopFlusher()
		<-flushed
		if roller != nil {
			if _, err := roller.Once(dctx); err != nil {
				b.log.Warn("billing: last rollup failed; the next node's rollup copies it", "err", err)
			}
		}
		cancel()
	}
}

// usageView is the management API's dashboard.Usage over the stack.
type usageView struct{ b *billingStack }

var _ dashboard.Usage = usageView{}

func granularity(byDay bool) billing.Granularity {
	if byDay {
		return billing.ByDay
	}
	return billing.ByHour
}

func toRows(rs []billing.Row) []dashboard.UsageRow {
	out := make([]dashboard.UsageRow, len(rs))
	for i, r := range rs {
		out[i] = dashboard.UsageRow{AppID: r.AppID, Start: r.Start, Messages: r.Usage.Messages(), Published: r.Published,
			Delivered: r.Delivered, APIRequests: r.APIRequests, WebhookCalls: r.WebhookCalls,
			ConnectionMinutes: r.ConnectionSeconds / 60, PeakConnections: r.PeakConnections}
	}
	return out
}

func (v usageView) AppUsage(ctx context.Context, appID string, from, to time.Time, byDay bool) ([]dashboard.UsageRow, error) {
	rs, err := v.b.reader.AppUsage(ctx, appID, from, to, granularity(byDay))
	return toRows(rs), err
}

func (v usageView) TenantUsage(ctx context.Context, tenantID string, from, to time.Time, byDay bool) ([]dashboard.UsageRow, error) {
	rs, err := v.b.reader.TenantUsage(ctx, tenantID, from, to, granularity(byDay))
	for i := range rs {
		rs[i].AppID = ""
	}
	return toRows(rs), err
}

// CurrentPeriod lists every app of the tenant, with or without usage
// today, against its plan, from the rolled-up day (it trails the live
// count by a flush and a rollup interval).
func (v usageView) CurrentPeriod(ctx context.Context, tenantID string, now time.Time) ([]dashboard.PeriodUsage, error) {
	t, err := v.b.store.Tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	plan, err := v.b.store.Plan(ctx, t.PlanID)
	if err != nil {
		return nil, err
	}
	apps, err := v.b.store.TenantApps(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	day := billing.DayOf(now)
	soft := v.b.plans[plan.ID].SoftCap
	out := make([]dashboard.PeriodUsage, 0, len(apps))
	for _, a := range apps {
		rs, err := v.b.reader.AppUsage(ctx, a.ID, day, day.Add(24*time.Hour), billing.ByDay)
		if err != nil {
			return nil, err
		}
		row := billing.Row{AppID: a.ID, Start: day}
		if len(rs) > 0 {
			row.Usage = rs[0].Usage
		}
		p := billing.NewPeriodUsage(row, plan.MaxMessagesPerDay, soft)
		out = append(out, dashboard.PeriodUsage{AppID: a.ID, PeriodStart: p.Start, PeriodEnd: p.End, Messages: p.Messages,
			MessageLimit: p.Limit, Overage: p.Overage, SoftCap: soft, PeakConnections: p.PeakConnections,
			ConnectionLimit: int64(plan.MaxConnections)})
	}
	return out, nil
}

func (v usageView) Billing(ctx context.Context, tenantID string) (dashboard.BillingState, error) {
	t, err := v.b.store.Tenant(ctx, tenantID)
	if err != nil {
		return dashboard.BillingState{}, err
	}
	st := dashboard.BillingState{PlanID: t.PlanID, Enabled: v.b.stripe != nil, Status: string(t.Status),
		Notifications: []dashboard.UsageNotification{}}
	if a, err := v.b.accounts.Account(ctx, tenantID); err == nil && !a.PastDueSince.IsZero() && t.Status == tenants.TenantPastDue {
		ends := a.PastDueSince.Add(v.b.cfg.GracePeriod).UTC()
		st.GraceEnds = &ends
	} else if err != nil && !errors.Is(err, tenants.ErrNotFound) {
		return st, err
	}
	if v.b.stripe != nil {
		// A fresh session per request (Stripe's are short-lived); Stripe
		// slow or down leaves the link out rather than failing the answer.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		u, err := v.b.stripe.PortalURL(pctx, tenantID)
		cancel()
		if err == nil {
			st.PortalURL = u
		} else if !errors.Is(err, tenants.ErrNotFound) {
			v.b.log.Warn("billing: Stripe portal link", "tenant_id", tenantID, "err", err)
		}
	}
	ns, err := v.b.notes.Notifications(ctx, tenantID, 50)
	if err != nil {
		return st, err
	}
	for _, n := range ns {
		st.Notifications = append(st.Notifications, dashboard.UsageNotification{Time: n.At, AppID: n.AppID, Quota: n.Quota,
			Percent: n.Percent, Used: n.Used, Limit: n.Limit})
	}
	return st, nil
}
