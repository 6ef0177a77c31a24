package billing

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/tenants"
)

func quotaSetup(t *testing.T, opts QuotaOptions) (*Quotas, *Meter, *Flusher, *MemoryNotifications, *tenants.MemoryStore, *tenants.Tenant) {
	t.Helper()
	ctx := context.Background()
	s := tenants.NewMemoryStore()
	p := &tenants.Plan{ID: "tiny", Name: "Tiny", MaxApps: 1, MaxConnections: 10, MaxMessagesPerDay: 100, MaxPresenceMembers: 10, MaxPayloadKB: 10}
	if err := s.PutPlan(ctx, p, tenants.ActorCLI); err != nil {
		t.Fatal(err)
	}
	tn, err := s.CreateTenant(ctx, "Acme", "tiny", tenants.ActorCLI)
	if err != nil {
		t.Fatal(err)
	}
	a := tenants.NewApp("a", "k", "s")
	a.TenantID = tn.ID
	if err := s.PutApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	m := NewMeter()
	c := NewMemoryCounters()
	n := &MemoryNotifications{}
	return NewQuotas(m, c, s, n, opts), m, NewFlusher("n1", m, c, FlusherOptions{}), n, s, tn
}

func TestQuotasHardCap(t *testing.T) {
	ctx := context.Background()
	q, m, f, notes, s, tn := quotaSetup(t, QuotaOptions{})
	m.Published("a", 30)
	m.Delivered("a", 60)
	if err := q.AllowMessages("a", 1000); err != nil {
		t.Fatalf("before the first refresh an app runs unchecked: %v", err)
	}
	for range 2 {
		if err := q.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if err := q.AllowMessages("a", 10); err != nil {
			t.Fatalf("90+10 of 100: %v", err)
		}
		err := q.AllowMessages("a", 11)
		var qe *QuotaError
		if !errors.Is(err, ErrOverQuota) || !errors.As(err, &qe) || qe.Quota != QuotaMessagesPerDay || qe.Used != 90 || qe.Limit != 100 {
			t.Fatalf("90+11 of 100: %v", err)
		}
		// The same count, now from the shared counters.
		if err := f.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := notes.Notifications(ctx, tn.ID, 10)
	if len(list) != 1 || list[0].Percent != 80 || list[0].Used != 90 {
		t.Fatalf("notifications: %+v", list)
	}
	m.Delivered("a", 10)
	if err := q.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if list, _ := notes.Notifications(ctx, tn.ID, 10); len(list) != 2 || list[0].Percent != 100 {
		t.Fatalf("notifications at 100%%: %+v", list)
	}

	// A plan change is enforced at the next refresh.
	if err := s.SetTenantPlan(ctx, tn.ID, "pro", tenants.ActorCLI); err != nil {
		t.Fatal(err)
	}
	if err := q.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.AllowMessages("a", 1000); err != nil {
		t.Fatalf("after the upgrade: %v", err)
	}
}

func TestQuotasResetAtUTCDay(t *testing.T) {
	ctx := context.Background()
	q, m, f, _, _, _ := quotaSetup(t, QuotaOptions{})
	now := time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC)
	q.now = func() time.Time { return now }
	f.now = q.now
	m.Published("a", 100)
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.AllowMessages("a", 1); err == nil {
		t.Fatal("101 of 100 allowed")
	}
	now = now.Add(2 * time.Minute)
	if err := q.AllowMessages("a", 100); err != nil {
		t.Fatalf("a new UTC day, before a refresh: %v", err)
	}
	if err := q.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if used, limit := q.Used("a"); used != 0 || limit != 100 {
		t.Fatalf("new day: used %d of %d", used, limit)
	}
}

func TestQuotasSoftCap(t *testing.T) {
	ctx := context.Background()
	q, m, _, notes, _, tn := quotaSetup(t, QuotaOptions{Plans: map[string]PlanBilling{"tiny": {SoftCap: true}}})
	m.Published("a", 150)
	if err := q.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.AllowMessages("a", 1); err != nil {
		t.Fatalf("soft cap refused: %v", err)
	}
	if list, _ := notes.Notifications(ctx, tn.ID, 10); len(list) != 2 {
		t.Fatalf("soft cap still warns: %+v", list)
	}
}

func BenchmarkQuotasAllowMessages(b *testing.B) {
	ctx := context.Background()
	s := tenants.NewMemoryStore()
	tn, _ := s.CreateTenant(ctx, "Acme", tenants.FreePlanID, tenants.ActorCLI)
	a := tenants.NewApp("a", "k", "s")
	a.TenantID = tn.ID
	_ = s.PutApp(ctx, a)
	m := NewMeter()
	m.Published("a", 1)
	q := NewQuotas(m, NewMemoryCounters(), s, nil, QuotaOptions{})
	if err := q.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := q.AllowMessages("a", 1); err != nil {
			b.Fatal(err)
		}
	}
}

// TestQuotasSeeAFlushBeforeTheNextRefresh: a batch the flusher hands to
// the shared counters between two refreshes is still counted: neither
// the meter's unflushed count nor the last refresh holds it, and the
// check used to let up to a refresh interval of traffic past the cap.
func TestQuotasSeeAFlushBeforeTheNextRefresh(t *testing.T) {
	ctx := context.Background()
	q, m, f, _, _, _ := quotaSetup(t, QuotaOptions{})
	m.Published("a", 1)
	if err := q.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	m.Delivered("a", 99)
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.AllowMessages("a", 1); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("100 of 100 flushed after the refresh, 1 more: %v", err)
	}
	// The refresh reads them from the shared counters instead, once.
	if err := q.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if used, _ := q.Used("a"); used != 100 {
		t.Fatalf("used %d after the refresh, want 100", used)
	}
}
