package dashboard_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/activity"
	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
)

// wantExtras, put in UIOptions.Usage by withExtras, asks newUIFixture to
// wire every optional part (usage, deliveries, test webhooks, the live
// feed and the event creator) with the fakes below, on the fixture's
// store, so the route walks read and render every page whole.
var wantExtras dashboard.Usage = &storeUsage{}

func withExtras(o dashboard.UIOptions) dashboard.UIOptions {
	o.Usage = wantExtras
	return o
}

type extras struct {
	usage      *storeUsage
	deliveries fakeDeliveries
	tester     *fakeTester
	feed       *activity.Feed
	bus        *bus.Memory
	publisher  *bus.Publisher
	count      *atomic.Int64 // events that reached the bus
}

func (e *extras) published() int64 { return e.count.Load() }

type countingHandler struct{ n *atomic.Int64 }

func (h countingHandler) Deliver(m *bus.Message) {
	if m.Kind == bus.KindEvent {
		h.n.Add(1)
	}
}

func newExtras(t *testing.T, store tenants.Store) *extras {
	m := bus.NewMemory()
	e := &extras{usage: &storeUsage{store: store, now: time.Now().UTC()}, tester: &fakeTester{}, bus: m,
		publisher: &bus.Publisher{Bus: m, State: bus.NewMemoryState()}, count: &atomic.Int64{}}
	e.feed = activity.New(activity.Options{Bus: m, Node: "test-node"})
	t.Cleanup(m.Attach(e.feed))
	t.Cleanup(m.Attach(countingHandler{e.count}))
	t.Cleanup(e.feed.Close)
	return e
}

// storeUsage is a small dashboard.Usage over the store's apps: every app
// has 10 messages and 2 peak connections in each of the last hours and
// days, and its tenant's billing state names its apps, so a page that
// showed another tenant's usage would show its app ids.
type storeUsage struct {
	store tenants.Store
	now   time.Time
	fail  bool
}

func (s *storeUsage) rows(appID string, from, to time.Time, byDay bool) []dashboard.UsageRow {
	step := time.Hour
	if byDay {
		step = 24 * time.Hour
	}
	var out []dashboard.UsageRow
	for at := from; at.Before(to) && at.Before(s.now); at = at.Add(step) {
		out = append(out, dashboard.UsageRow{AppID: appID, Start: at, Messages: 10, Published: 4, Delivered: 6, PeakConnections: 2})
	}
	return out
}

func (s *storeUsage) AppUsage(_ context.Context, appID string, from, to time.Time, byDay bool) ([]dashboard.UsageRow, error) {
	if s.fail {
		return nil, context.DeadlineExceeded
	}
	return s.rows(appID, from, to, byDay), nil
}

func (s *storeUsage) TenantUsage(ctx context.Context, tenantID string, from, to time.Time, byDay bool) ([]dashboard.UsageRow, error) {
	apps, err := s.store.TenantApps(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	sum := map[time.Time]dashboard.UsageRow{}
	var order []time.Time
	for _, a := range apps {
		for _, r := range s.rows(a.ID, from, to, byDay) {
			x, ok := sum[r.Start]
			if !ok {
				order = append(order, r.Start)
			}
			x.Start, x.Messages, x.PeakConnections = r.Start, x.Messages+r.Messages, x.PeakConnections+r.PeakConnections
			sum[r.Start] = x
		}
	}
	out := make([]dashboard.UsageRow, 0, len(order))
	for _, at := range order {
		out = append(out, sum[at])
	}
	return out, nil
}

func (s *storeUsage) CurrentPeriod(ctx context.Context, tenantID string, now time.Time) ([]dashboard.PeriodUsage, error) {
	apps, err := s.store.TenantApps(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	day := now.UTC().Truncate(24 * time.Hour)
	var out []dashboard.PeriodUsage
	for _, a := range apps {
		out = append(out, dashboard.PeriodUsage{AppID: a.ID, PeriodStart: day, PeriodEnd: day.Add(24 * time.Hour),
			Messages: 170_000, MessageLimit: 200_000, PeakConnections: 5, ConnectionLimit: -1})
	}
	return out, nil
}

func (s *storeUsage) Billing(ctx context.Context, tenantID string) (dashboard.BillingState, error) {
	t, err := s.store.Tenant(ctx, tenantID)
	if err != nil {
		return dashboard.BillingState{}, err
	}
	apps, _ := s.store.TenantApps(ctx, tenantID)
	b := dashboard.BillingState{PlanID: t.PlanID, Enabled: true, Status: "past_due", PortalURL: "https://billing.stripe.test/p/session/" + tenantID}
	grace := s.now.Add(72 * time.Hour)
	b.GraceEnds = &grace
	for _, a := range apps {
		b.Notifications = append(b.Notifications, dashboard.UsageNotification{Time: s.now, AppID: a.ID, Quota: "max_messages_per_day", Percent: 80, Used: 160_000, Limit: 200_000})
	}
	return b, nil
}

// fakeDeliveries names the app in each delivery's URL.
type fakeDeliveries struct{}

func (fakeDeliveries) WebhookDeliveries(_ context.Context, appID string, limit int) ([]dashboard.WebhookDelivery, []dashboard.WebhookEndpoint, error) {
	url := "https://hooks.example/" + appID
	return []dashboard.WebhookDelivery{
			{Time: time.Now(), URL: url, Attempt: 1, Status: 200, LatencyMS: 12.5, Events: []string{"channel_occupied"}},
			{Time: time.Now(), URL: url, Attempt: 2, Status: 0, LatencyMS: 10000, Error: "timeout awaiting headers", Events: []string{"channel_vacated"}},
		}, []dashboard.WebhookEndpoint{{URL: url, Failing: true, ConsecutiveFailures: 5, LastError: "timeout awaiting headers"},
			{URL: "https://a.example/hook", Failing: true, ConsecutiveFailures: 5, LastError: "timeout awaiting headers"}},
		nil
}

// fakeTester records which app and URL it was asked to test.
type fakeTester struct {
	mu     sync.Mutex
	tested []string
}

func (f *fakeTester) TestWebhook(_ context.Context, appID, url string) (dashboard.WebhookDelivery, error) {
	f.mu.Lock()
	f.tested = append(f.tested, appID+" "+url)
	f.mu.Unlock()
	return dashboard.WebhookDelivery{Time: time.Now(), URL: url, Attempt: 1, Status: 204, LatencyMS: 3.2, Events: []string{"channel_occupied"}}, nil
}

func (f *fakeTester) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tested...)
}
