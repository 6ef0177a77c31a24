package pgusage_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/billing/pgusage"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/tenants/pgstore"
	"github.com/switchboard-rt/switchboard/tenants/pgstore/pgtest"
)

func open(t *testing.T) (*pgusage.Store, *pgxpool.Pool) {
	t.Helper()
	store, dbURL := pgtest.Open(t)
	ctx := context.Background()
	tn, err := store.CreateTenant(ctx, "Acme", tenants.FreePlanID, tenants.ActorCLI)
	if err != nil {
		t.Fatal(err)
	}
	a := tenants.NewApp("app1", "key1", "secret1")
	a.TenantID = tn.ID
	if err := store.PutApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pgusage.New(pool), pool
}

func TestRollupTwiceCountsOnce(t *testing.T) {
	ctx := context.Background()
	s, pool := open(t)
	c := billing.NewMemoryCounters()
	h := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	add := func(node string, seq int64, hour time.Time, app string, u billing.Usage) {
		t.Helper()
		if err := c.Add(ctx, billing.Batch{Node: node, Seq: seq, Hour: hour, Deltas: []billing.Delta{{AppID: app, Usage: u}}}); err != nil {
			t.Fatal(err)
		}
	}
	add("n1", 1, h, "app1", billing.Usage{Published: 10, Delivered: 100, PeakConnections: 5, ConnectionSeconds: 600})
	add("n2", 1, h, "app1", billing.Usage{Published: 1, Delivered: 50, PeakConnections: 7})
	add("n1", 2, h.Add(time.Hour), "app1", billing.Usage{Published: 2, Delivered: 20, PeakConnections: 3})
	hours := []time.Time{h, h.Add(time.Hour)}
	for range 2 {
		ran, err := s.Rollup(ctx, c, hours)
		if err != nil || !ran {
			t.Fatalf("rollup: %v %v", ran, err)
		}
	}
	// A node flushes more into the same hour: the next rollup overwrites.
	add("n1", 3, h, "app1", billing.Usage{Delivered: 9})
	if _, err := s.Rollup(ctx, c, hours); err != nil {
		t.Fatal(err)
	}

	rows, err := s.AppUsage(ctx, "app1", h, h.Add(2*time.Hour), billing.ByHour)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Messages != 170 || rows[0].PeakConnections != 12 || rows[0].ConnectionSeconds != 600 ||
		rows[1].Messages != 22 || !rows[0].Start.Equal(h) {
		t.Fatalf("hourly: %+v", rows)
	}
	days, err := s.AppUsage(ctx, "app1", billing.DayOf(h), billing.DayOf(h).Add(24*time.Hour), billing.ByDay)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 1 || days[0].Messages != 192 || days[0].PeakConnections != 12 || !days[0].Start.Equal(billing.DayOf(h)) {
		t.Fatalf("daily: %+v", days)
	}
	var tenantID string
	if err := pool.QueryRow(ctx, `SELECT tenant_id FROM apps WHERE id = 'app1'`).Scan(&tenantID); err != nil {
		t.Fatal(err)
	}
	trows, err := s.TenantUsage(ctx, tenantID, billing.DayOf(h), billing.DayOf(h).Add(24*time.Hour), billing.ByDay)
	if err != nil || len(trows) != 1 || trows[0].Messages != 192 {
		t.Fatalf("tenant daily: %+v %v", trows, err)
	}
	arows, err := s.TenantAppUsage(ctx, tenantID, h, h.Add(2*time.Hour), billing.ByHour)
	if err != nil || len(arows) != 2 || arows[0].AppID != "app1" {
		t.Fatalf("tenant per app: %+v %v", arows, err)
	}
	period, err := s.CurrentPeriod(ctx, tenantID, 150, true, h.Add(30*time.Minute))
	if err != nil || len(period) != 1 || period[0].Messages != 192 || period[0].Overage != 42 || !period[0].End.Equal(billing.DayOf(h).Add(24*time.Hour)) {
		t.Fatalf("current period: %+v %v", period, err)
	}
	var buf bytes.Buffer
	if err := billing.WriteCSV(&buf, arows); err != nil {
		t.Fatal(err)
	}
	if want := "2026-11-25T08:00:00Z,app1,170,11,159,0,0,10,12\n"; !strings.Contains(buf.String(), want) {
		t.Errorf("CSV:\n%s\nwant a line %q", buf.String(), want)
	}
}

func TestRollupSkipsWhileAnotherNodeHoldsTheLock(t *testing.T) {
	ctx := context.Background()
	s, pool := open(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var got bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, int64(0x5357_4254_4c52)).Scan(&got); err != nil || !got {
		t.Fatalf("take lock: %v %v", got, err)
	}
	ran, err := s.Rollup(ctx, billing.NewMemoryCounters(), []time.Time{time.Now()})
	if err != nil || ran {
		t.Fatalf("rollup under another's lock: ran=%v err=%v", ran, err)
	}
	tx.Rollback(ctx)
	if ran, err := s.Rollup(ctx, billing.NewMemoryCounters(), []time.Time{time.Now()}); err != nil || !ran {
		t.Fatalf("rollup after release: ran=%v err=%v", ran, err)
	}
}

func TestNotifyOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	n := billing.Notification{TenantID: "t1", AppID: "app1", Quota: billing.QuotaMessagesPerDay, Period: day, Percent: 80, Used: 80, Limit: 100, At: day.Add(time.Hour)}
	for i, want := range []bool{true, false} {
		if isNew, err := s.Notify(ctx, n); err != nil || isNew != want {
			t.Fatalf("notify %d: new=%v err=%v", i, isNew, err)
		}
	}
	n.Percent = 100
	if _, err := s.Notify(ctx, n); err != nil {
		t.Fatal(err)
	}
	list, err := s.Notifications(ctx, "t1", 10)
	if err != nil || len(list) != 2 || !list[1].Period.Equal(day) || list[0].Percent != 100 {
		t.Fatalf("notifications: %+v %v", list, err)
	}
}

func TestAccounts(t *testing.T) {
	ctx := context.Background()
	s, pool := open(t)
	var tenantID string
	if err := pool.QueryRow(ctx, `SELECT tenant_id FROM apps WHERE id = 'app1'`).Scan(&tenantID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account(ctx, tenantID); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("no account: %v", err)
	}
	a := billing.Account{TenantID: tenantID, CustomerID: "cus_1", SubscriptionID: "sub_1", PlanID: "pro"}
	if err := s.PutAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Account(ctx, tenantID); err != nil || got != a {
		t.Fatalf("account: %+v %v, want %+v", got, err, a)
	}
	if due, _ := s.PastDue(ctx); len(due) != 0 {
		t.Fatalf("past due: %+v", due)
	}
	a.PastDueSince = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if err := s.PutAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.AccountByCustomer(ctx, "cus_1")
	if err != nil || got != a {
		t.Fatalf("by customer: %+v %v, want %+v", got, err, a)
	}
	if due, _ := s.PastDue(ctx); len(due) != 1 || due[0] != a {
		t.Fatalf("past due: %+v", due)
	}
	if all, _ := s.All(ctx); len(all) != 1 || all[0] != a {
		t.Fatalf("all: %+v", all)
	}
	// A plan sync changes the subscription and plan only: the grace
	// period a webhook started stays.
	if err := s.SetSubscription(ctx, tenantID, "sub_2", "team"); err != nil {
		t.Fatal(err)
	}
	a.SubscriptionID, a.PlanID = "sub_2", "team"
	if got, err := s.Account(ctx, tenantID); err != nil || got != a {
		t.Fatalf("after SetSubscription: %+v %v, want %+v", got, err, a)
	}
	if err := s.SetSubscription(ctx, "nobody", "sub_3", "pro"); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("SetSubscription of no account: %v", err)
	}
}

// TestAccountPlanBackfill: migration 00013 gives existing accounts their
// tenant's current plan.
func TestAccountPlanBackfill(t *testing.T) {
	ctx := context.Background()
	store, dbURL := pgtest.Open(t)
	tn, err := store.CreateTenant(ctx, "Acme", tenants.FreePlanID, tenants.ActorCLI)
	if err != nil {
		t.Fatal(err)
	}
	m, err := pgstore.NewMigrator(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.DownTo(ctx, 12); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `INSERT INTO billing_accounts (tenant_id, customer_id, subscription_id) VALUES ($1, 'cus_1', 'sub_1')`, tn.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := pgusage.New(pool).Account(ctx, tn.ID)
	if err != nil || a.PlanID != tenants.FreePlanID || a.SubscriptionID != "sub_1" {
		t.Fatalf("after the migration: %+v %v", a, err)
	}
}

func TestBillingContact(t *testing.T) {
	ctx := context.Background()
	s, pool := open(t)
	var tenantID string
	if err := pool.QueryRow(ctx, `SELECT tenant_id FROM apps WHERE id = 'app1'`).Scan(&tenantID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.BillingContact(ctx, tenantID); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("none set: %v", err)
	}
	for _, url := range []string{"https://a.example/1", "https://a.example/2"} {
		if err := s.SetBillingContact(ctx, tenantID, url, "bcs_"+url[len(url)-1:]); err != nil {
			t.Fatal(err)
		}
		if u, sec, err := s.BillingContact(ctx, tenantID); err != nil || u != url || sec != "bcs_"+url[len(url)-1:] {
			t.Fatalf("after set %s: %q %q %v", url, u, sec, err)
		}
	}
	if err := s.SetBillingContact(ctx, tenantID, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.BillingContact(ctx, tenantID); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("removed: %v", err)
	}
}
