package restapi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/switchboard-rt/switchboard/restapi"
	"github.com/switchboard-rt/switchboard/tenants"
)

// quotaErr is an over-quota error naming its quota, as billing.QuotaError.
type quotaErr struct{}

func (quotaErr) Error() string     { return "app 1 is over its max_messages_per_day quota (10 of 10)" }
func (quotaErr) QuotaName() string { return "max_messages_per_day" }

// meter records what the API meters and refuses past limit messages.
type meter struct {
	mu                  sync.Mutex
	requests, published int
	limit               int64
}

func (m *meter) APIRequest(string) { m.mu.Lock(); m.requests++; m.mu.Unlock() }
func (m *meter) Published(_ string, n int) {
	m.mu.Lock()
	m.published += n
	m.mu.Unlock()
}
func (m *meter) AllowMessages(_ string, n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if int64(m.published)+n > m.limit {
		return fmt.Errorf("refused: %w", quotaErr{})
	}
	return nil
}

func (m *meter) get() (int, int) { m.mu.Lock(); defer m.mu.Unlock(); return m.requests, m.published }

func TestUsageMeteringAndQuota(t *testing.T) {
	m := &meter{limit: 4}
	f := newFixture(t, nil, func(o *restapi.Options) { o.Usage = m })
	// 3 channels: 3 published.
	f.expect(f.do("POST", "/apps/1/events", nil, `{"name":"e","channels":["a","b","c"],"data":"x"}`), 200, "")
	if req, pub := m.get(); req != 1 || pub != 3 {
		t.Fatalf("requests %d published %d, want 1 and 3", req, pub)
	}
	// 2 more would pass the limit of 4: 403 naming the quota, nothing published.
	r := f.do("POST", "/apps/1/batch_events", nil, `{"batch":[{"name":"e","channel":"a","data":"x"},{"name":"e","channel":"b","data":"x"}]}`)
	f.expect(r, 403, "max_messages_per_day")
	if len(f.rec.take()) != 3 {
		t.Fatal("an event over quota reached the bus")
	}
	if req, pub := m.get(); req != 2 || pub != 3 {
		t.Fatalf("requests %d published %d, want 2 and 3", req, pub)
	}
	// Reads are metered as requests, not as messages.
	f.expect(f.do("GET", "/apps/1/channels", nil, ""), 200, "")
	if req, pub := m.get(); req != 3 || pub != 3 {
		t.Fatalf("requests %d published %d, want 3 and 3", req, pub)
	}
	// A bad signature is not an authenticated request.
	f.expect(f.doAs(key, "wrong", "GET", "/apps/1/channels", nil, "", f.unix()), 401, "invalid_signature")
	if req, _ := m.get(); req != 3 {
		t.Fatalf("unauthenticated request metered: %d", req)
	}
}

func TestSuspendedTenant(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	tn, err := f.store.CreateTenant(ctx, "Acme", "", tenants.ActorCLI)
	if err != nil {
		t.Fatal(err)
	}
	a := tenants.NewApp("2", "key-2", "secret-2")
	a.TenantID = tn.ID
	f.putApp(a)
	f.expect(f.doAs("key-2", "secret-2", "POST", "/apps/2/events", nil, `{"name":"e","channel":"a","data":"x"}`, f.unix()), 200, "")
	if err := f.store.SetTenantStatus(ctx, tn.ID, tenants.TenantSuspended, tenants.ActorSystem); err != nil {
		t.Fatal(err)
	}
	f.expect(f.doAs("key-2", "secret-2", "POST", "/apps/2/events", nil, `{"name":"e","channel":"a","data":"x"}`, f.unix()), 403, "tenant_suspended")
	if err := f.store.SetTenantStatus(ctx, tn.ID, tenants.TenantActive, tenants.ActorSystem); err != nil {
		t.Fatal(err)
	}
	f.expect(f.doAs("key-2", "secret-2", "POST", "/apps/2/events", nil, `{"name":"e","channel":"a","data":"x"}`, f.unix()), 200, "")
	// A disabled app of an active tenant stays app_disabled.
	a.Enabled = false
	f.putApp(a)
	f.expect(f.doAs("key-2", "secret-2", "POST", "/apps/2/events", nil, `{"name":"e","channel":"a","data":"x"}`, f.unix()), 403, "app_disabled")
}
