package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
)

// fakeUsage holds hourly rows per app, as cmd's adapter over billing's
// stores would answer; tenant figures sum the tenant's apps.
type fakeUsage struct {
	mu    sync.Mutex
	store tenants.Store
	rows  map[string][]dashboard.UsageRow
}

func (u *fakeUsage) add(appID string, r dashboard.UsageRow) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r.AppID = appID
	u.rows[appID] = append(u.rows[appID], r)
}

func (u *fakeUsage) AppUsage(_ context.Context, appID string, from, to time.Time, byDay bool) ([]dashboard.UsageRow, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []dashboard.UsageRow
	for _, r := range u.rows[appID] {
		if !r.Start.Before(from) && r.Start.Before(to) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (u *fakeUsage) TenantUsage(ctx context.Context, tenantID string, from, to time.Time, byDay bool) ([]dashboard.UsageRow, error) {
	apps, err := u.store.TenantApps(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	var sum dashboard.UsageRow
	for _, a := range apps {
		rs, _ := u.AppUsage(ctx, a.ID, from, to, byDay)
		for _, r := range rs {
			sum.Start = r.Start
			sum.Messages += r.Messages
			sum.Published += r.Published
		}
	}
	if sum.Messages == 0 {
		return nil, nil
	}
	return []dashboard.UsageRow{sum}, nil
}

func (u *fakeUsage) CurrentPeriod(ctx context.Context, tenantID string, now time.Time) ([]dashboard.PeriodUsage, error) {
	apps, err := u.store.TenantApps(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	var out []dashboard.PeriodUsage
	for _, a := range apps {
		rs, _ := u.AppUsage(ctx, a.ID, now.Add(-24*time.Hour), now.Add(time.Hour), true)
		p := dashboard.PeriodUsage{AppID: a.ID, MessageLimit: 200_000}
		for _, r := range rs {
			p.Messages += r.Messages
		}
		out = append(out, p)
	}
	return out, nil
}

func (u *fakeUsage) Billing(ctx context.Context, tenantID string) (dashboard.BillingState, error) {
	t, err := u.store.Tenant(ctx, tenantID)
	if err != nil {
		return dashboard.BillingState{}, err
	}
	return dashboard.BillingState{PlanID: t.PlanID, Status: string(t.Status)}, nil
}

type fakeContacts struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *fakeContacts) SetBillingContact(_ context.Context, tenantID, url string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]string{}
	}
	c.m[tenantID] = url
	return "bcs_test", nil
}

func (c *fakeContacts) BillingContact(_ context.Context, tenantID string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[tenantID], nil
}

func TestUsageRoutes(t *testing.T) { eachStore(t, testUsageRoutes) }

func testUsageRoutes(t *testing.T, f *fixture) {
	id, _, _ := f.app("metered")
	hour := time.Now().UTC().Truncate(time.Hour)
	f.usage.add(id, dashboard.UsageRow{Start: hour.Add(-time.Hour), Messages: 101, Published: 1, Delivered: 100})
	f.usage.add(id, dashboard.UsageRow{Start: hour, Messages: 11, Published: 1, Delivered: 10})

	got := f.do(f.tokenA, "GET", "/api/v1/apps/"+id+"/usage", "")
	f.want(got, 200, "")
	var u struct {
		AppID       string `json:"app_id"`
		Granularity string
		Usage       []dashboard.UsageRow
	}
	if err := json.Unmarshal([]byte(got.raw), &u); err != nil {
		t.Fatal(err)
	}
	if u.AppID != id || u.Granularity != "hour" || len(u.Usage) != 2 || u.Usage[0].Messages != 101 || u.Usage[1].Delivered != 10 {
		t.Fatalf("app usage: %s", got.raw)
	}
	// A range that holds only the current hour.
	from := hour.Format(time.RFC3339)
	got = f.do(f.tokenA, "GET", "/api/v1/apps/"+id+"/usage?from="+from, "")
	if !strings.Contains(got.raw, `"messages":11`) || strings.Contains(got.raw, `"messages":101`) {
		t.Fatalf("from=%s: %s", from, got.raw)
	}
	got = f.do(f.tokenA, "GET", "/api/v1/usage", "")
	f.want(got, 200, "")
	if !strings.Contains(got.raw, `"messages":112`) || strings.Contains(got.raw, `"app_id"`) {
		t.Fatalf("tenant usage: %s", got.raw)
	}
	// CSV: a header and one line per app and hour.
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/usage?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokenA)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	buf := string(body)
	lines := strings.Split(strings.TrimSpace(buf), "\n")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") || len(lines) != 3 ||
		!strings.HasPrefix(lines[0], "start,app_id,messages,") || !strings.Contains(lines[1], ","+id+",101,1,100,") {
		t.Fatalf("csv %d %s:\n%s", res.StatusCode, res.Header.Get("Content-Type"), buf)
	}
	got = f.do(f.tokenA, "GET", "/api/v1/usage/current", "")
	f.want(got, 200, "")
	if !strings.Contains(got.raw, `"app_id":"`+id+`"`) || !strings.Contains(got.raw, `"message_limit":200000`) {
		t.Fatalf("current: %s", got.raw)
	}
	got = f.do(f.tokenA, "GET", "/api/v1/billing", "")
	f.want(got, 200, "")
	if got.body["plan_id"] != "free" || got.body["status"] != "active" || got.raw == "" || !strings.Contains(got.raw, `"notifications":[]`) {
		t.Fatalf("billing: %s", got.raw)
	}
	got = f.do(f.tokenA, "PUT", "/api/v1/billing/contact", `{"url":"https://a.example/billing"}`)
	f.want(got, 200, "")
	if got.body["secret"] != "bcs_test" {
		t.Fatalf("contact: %s", got.raw)
	}
	if got = f.do(f.tokenA, "GET", "/api/v1/billing", ""); got.body["contact_url"] != "https://a.example/billing" {
		t.Fatalf("billing after contact: %s", got.raw)
	}

	for _, bad := range []string{"granularity=minute", "format=xml", "from=yesterday", "from=2026-01-02&to=2026-01-01",
		"granularity=hour&from=2025-01-01&to=2026-01-01"} {
		f.want(f.do(f.tokenA, "GET", "/api/v1/usage?"+bad, ""), 400, "invalid_query")
	}
	f.want(f.do(f.tokenA, "GET", "/api/v1/apps/nope/usage", ""), 404, "not_found")
	f.want(f.do(f.tokenA, "PUT", "/api/v1/billing/contact", `{}`), 400, "invalid_field")
}
