package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/internal/periodic"
	"github.com/switchboard-rt/switchboard/tenants"
)

// ErrOverQuota is a request refused by a plan's hard cap; it is wrapped
// by a *QuotaError naming the quota.
var ErrOverQuota = errors.New("over quota")

// Quota names, as they appear in errors, notifications and API bodies.
const (
	QuotaMessagesPerDay = "max_messages_per_day"
)

// QuotaError is a refusal by a plan's quota. errors.Is(err, ErrOverQuota).
type QuotaError struct {
	Quota string // e.g. QuotaMessagesPerDay
	AppID string
	Limit int64
	Used  int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("app %s is over its %s quota (%d of %d)", e.AppID, e.Quota, e.Used, e.Limit)
}

func (e *QuotaError) Unwrap() error { return ErrOverQuota }

// QuotaName names the quota, for API bodies ({"code": "max_messages_per_day"}).
func (e *QuotaError) QuotaName() string { return e.Quota }

// Notification is a quota warning for a tenant: one app reached Percent
// (80 or 100) of a quota in a period.
type Notification struct {
	TenantID string    `json:"tenant_id"`
	AppID    string    `json:"app_id"`
	Quota    string    `json:"quota"`
	Period   time.Time `json:"period"` // the UTC day
	Percent  int       `json:"percent"`
	Used     int64     `json:"used"`
	Limit    int64     `json:"limit"`
	At       time.Time `json:"at"`
}

// Notifier records notifications, each (app, quota, period, percent)
// once; Notify reports whether n was new (the caller then tells the
// tenant, e.g. by the billing contact webhook).
type Notifier interface {
	Notify(ctx context.Context, n Notification) (bool, error)
}

// planSource is what Quotas read plans through: tenants.Store or
// tenants.Directory's store.
type planSource interface {
	AppByID(ctx context.Context, id string) (*tenants.App, error)
	Tenant(ctx context.Context, id string) (*tenants.Tenant, error)
	Plan(ctx context.Context, id string) (*tenants.Plan, error)
}

// QuotaOptions configure Quotas; the zero value works.
type QuotaOptions struct {
	// Interval between refreshes of the shared view; default 5s. A plan
	// change is enforced within one Interval.
	Interval time.Duration
	// Plans adds billing settings to plans, by plan id.
	Plans map[string]PlanBilling
	Log   *slog.Logger
}

// Quotas answer "may app X publish n more messages today?" without I/O:
// from the day's shared count, refreshed every Interval by Run, plus
// this node's unflushed count from the Meter.
type Quotas struct {
	meter    *Meter
	counters Counters
	plans    planSource
	notifier Notifier
	opts     QuotaOptions
	now      func() time.Time

	mu    sync.Mutex // serialises writers of state
	state atomic.Pointer[map[string]*appQuota]
}

// appQuota is one app's view, replaced or updated by Refresh.
type appQuota struct {
	tenantID string
	day      atomic.Int64 // unix seconds of the UTC day shared was read for
	shared   atomic.Int64 // the day's messages in the shared counters
	limit    atomic.Int64 // tenants.Unlimited for none
	soft     atomic.Bool
}

// NewQuotas returns Quotas; Run keeps them fresh.
func NewQuotas(meter *Meter, counters Counters, plans planSource, notifier Notifier, opts QuotaOptions) *Quotas {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	q := &Quotas{meter: meter, counters: counters, plans: plans, notifier: notifier, opts: opts, now: time.Now}
	empty := map[string]*appQuota{}
	q.state.Store(&empty)
	return q
}

// AllowMessages reports whether app may publish n more messages today:
// nil, or a *QuotaError when the plan's hard cap would be passed. Soft
// caps always allow (the excess is overage). An app not seen by a
// refresh yet is allowed: new apps run unchecked for at most Interval.
func (q *Quotas) AllowMessages(appID string, n int64) error {
	a, ok := (*q.state.Load())[appID]
	if !ok {
		return nil
	}
	limit := a.limit.Load()
	if limit == tenants.Unlimited || a.soft.Load() {
		return nil
	}
	used := q.meter.local(appID)
	if a.day.Load() == DayOf(q.now()).Unix() {
		used += a.shared.Load()
	}
	if used+n > limit {
		return &QuotaError{Quota: QuotaMessagesPerDay, AppID: appID, Limit: limit, Used: used}
	}
	return nil
}

// Used returns the app's messages today as Quotas see them, and its limit.
func (q *Quotas) Used(appID string) (used, limit int64) {
	a, ok := (*q.state.Load())[appID]
	if !ok {
		return q.meter.local(appID), tenants.Unlimited
	}
	used = q.meter.local(appID)
	if a.day.Load() == DayOf(q.now()).Unix() {
		used += a.shared.Load()
	}
	return used, a.limit.Load()
}

// Run refreshes every Interval until ctx ends.
func (q *Quotas) Run(ctx context.Context) error {
	periodic.NowAndEvery(ctx, q.opts.Interval, func(ctx context.Context) {
		if err := q.Refresh(ctx); err != nil && ctx.Err() == nil {
			q.opts.Log.Error("billing: refresh quotas", "err", err)
		}
	})
	return nil
}

// Refresh reloads the plan and the day's shared count of every app this
// node has metered, and records 80 % and 100 % warnings.
func (q *Quotas) Refresh(ctx context.Context) error {
	now := q.now()
	day := DayOf(now)
	var errs []error
	plans := map[string]*tenants.Plan{}
	tenantsSeen := map[string]*tenants.Tenant{}
	for appID := range *q.meter.apps.Load() {
		app, err := q.plans.AppByID(ctx, appID)
		if errors.Is(err, tenants.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t, ok := tenantsSeen[app.TenantID]
		if !ok {
			if t, err = q.plans.Tenant(ctx, app.TenantID); err != nil {
				errs = append(errs, err)
				continue
			}
			tenantsSeen[app.TenantID] = t
		}
		p, ok := plans[t.PlanID]
		if !ok {
			if p, err = q.plans.Plan(ctx, t.PlanID); err != nil {
				errs = append(errs, err)
				continue
			}
			plans[t.PlanID] = p
		}
		// Batches settled from here on are counted by the meter until the
		// next refresh; those settled before are in what is read next.
		q.meter.resetSettled(appID)
		shared, err := q.counters.Messages(ctx, appID, day, day.Add(24*time.Hour))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a := q.app(appID, t.ID)
		a.limit.Store(p.MaxMessagesPerDay)
		a.soft.Store(q.opts.Plans[p.ID].SoftCap)
		a.shared.Store(shared)
		a.day.Store(day.Unix())
		if err := q.warn(ctx, a, appID, day, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (q *Quotas) app(appID, tenantID string) *appQuota {
	if a, ok := (*q.state.Load())[appID]; ok && a.tenantID == tenantID {
		return a
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	old := *q.state.Load()
	next := make(map[string]*appQuota, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	a := &appQuota{tenantID: tenantID}
	next[appID] = a
	q.state.Store(&next)
	return a
}

func (q *Quotas) warn(ctx context.Context, a *appQuota, appID string, day, now time.Time) error {
	limit := a.limit.Load()
	if limit <= 0 || q.notifier == nil {
		return nil
	}
	used := a.shared.Load() + q.meter.local(appID)
	for _, pct := range []int{80, 100} {
		if used*100 < limit*int64(pct) {
			break
		}
		n := Notification{TenantID: a.tenantID, AppID: appID, Quota: QuotaMessagesPerDay, Period: day,
			Percent: pct, Used: used, Limit: limit, At: now}
		if _, err := q.notifier.Notify(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// MemoryNotifications is a Notifier in process.
type MemoryNotifications struct {
	mu   sync.Mutex
	list []Notification
}

var _ Notifier = (*MemoryNotifications)(nil)

// Notify implements Notifier.
func (m *MemoryNotifications) Notify(_ context.Context, n Notification) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.list {
		if o.AppID == n.AppID && o.Quota == n.Quota && o.Period.Equal(n.Period) && o.Percent == n.Percent {
			return false, nil
		}
	}
	m.list = append(m.list, n)
	return true, nil
}

// Notifications returns a tenant's notifications, newest first.
func (m *MemoryNotifications) Notifications(_ context.Context, tenantID string, limit int) ([]Notification, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Notification
	for i := len(m.list) - 1; i >= 0 && len(out) < limit; i-- {
		if m.list[i].TenantID == tenantID {
			out = append(out, m.list[i])
		}
	}
	return out, nil
}
