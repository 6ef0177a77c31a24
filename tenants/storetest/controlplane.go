package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/tenants"
)

// The control-plane part of the suite: tenants, plans, tenant-scoped apps,
// keys, tokens, the audit log and the change feed.

func (f *store) tenant(plan string) *tenants.Tenant {
	f.t.Helper()
	tn, err := f.s.CreateTenant(f.ctx, "Tenant "+f.run, plan, "test")
	if err != nil {
		f.t.Fatalf("CreateTenant(%q): %v", plan, err)
	}
	return tn
}

// plan puts a plan unique to this subtest.
func (f *store) plan(name string, maxApps, maxConns int) *tenants.Plan {
	f.t.Helper()
	p := &tenants.Plan{ID: "plan-" + name + "-" + f.run, Name: name, MaxApps: maxApps, MaxConnections: maxConns,
		MaxMessagesPerDay: 1000, MaxPresenceMembers: tenants.Unlimited, MaxPayloadKB: tenants.Unlimited}
	if err := f.s.PutPlan(f.ctx, p, "test"); err != nil {
		f.t.Fatalf("PutPlan: %v", err)
	}
	return p
}

func (f *store) createApp(tenant string, name string) (*tenants.App, tenants.Key) {
	f.t.Helper()
	a, k, err := f.s.CreateApp(f.ctx, tenant, &tenants.App{Name: name, Enabled: true, Limits: tenants.DefaultLimits()}, "test")
	if err != nil {
		f.t.Fatalf("CreateApp(%s, %s): %v", tenant, name, err)
	}
	return a, k
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

func testDefaultTenantAndPlans(t *testing.T, f *store) {
	d, err := f.s.Tenant(f.ctx, tenants.DefaultTenantID)
	if err != nil {
		t.Fatalf("the default tenant: %v", err)
	}
	if d.PlanID != tenants.DefaultPlanID || d.Status != tenants.TenantActive {
		t.Fatalf("default tenant %+v", d)
	}
	p, err := f.s.Plan(f.ctx, tenants.DefaultPlanID)
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxApps != tenants.Unlimited || p.MaxConnections != tenants.Unlimited || p.MaxMessagesPerDay != tenants.Unlimited ||
		p.MaxPresenceMembers != tenants.Unlimited || p.MaxPayloadKB != tenants.Unlimited ||
		p.MaxHistoryEvents != tenants.Unlimited || p.MaxHistoryAgeSeconds != tenants.Unlimited {
		t.Fatalf("unlimited plan has limits: %+v", p)
	}
	for _, id := range []string{tenants.FreePlanID, "pro"} {
		p, err := f.s.Plan(f.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.MaxHistoryEvents <= 0 || p.MaxHistoryAgeSeconds <= 0 {
			t.Fatalf("seeded plan %s keeps no history: %+v", id, p)
		}
	}
	plans, err := f.s.Plans(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range plans {
		ids = append(ids, p.ID)
	}
	for _, want := range []string{tenants.DefaultPlanID, tenants.FreePlanID, "pro"} {
		if !slices.Contains(ids, want) {
			t.Errorf("plan %s missing from %v", want, ids)
		}
	}
	if !slices.IsSorted(ids) {
		t.Errorf("plans not sorted: %v", ids)
	}
	_, err = f.s.Plan(f.ctx, "plan-none-"+f.run)
	wantErr(t, "unknown plan", err, tenants.ErrNotFound)
	err = f.s.PutPlan(f.ctx, &tenants.Plan{ID: "plan-bad-" + f.run, Name: "bad", MaxApps: -2}, "test")
	wantErr(t, "plan with max_apps -2", err, tenants.ErrInvalid)
}

func testTenants(t *testing.T, f *store) {
	a := f.tenant("")
	if a.PlanID != tenants.FreePlanID || a.Status != tenants.TenantActive || a.ID == "" || a.CreatedAt.IsZero() {
		t.Fatalf("new tenant %+v", a)
	}
	b := f.tenant("pro")
	got, err := f.s.Tenant(f.ctx, b.ID)
	if err != nil || got.PlanID != "pro" || got.Name != b.Name || got.ID != b.ID {
		t.Fatalf("Tenant(%s) = %+v, %v", b.ID, got, err)
	}
	all, err := f.s.Tenants(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ia := slices.IndexFunc(all, func(x *tenants.Tenant) bool { return x.ID == a.ID })
	ib := slices.IndexFunc(all, func(x *tenants.Tenant) bool { return x.ID == b.ID })
	if ia < 0 || ib < 0 || ia > ib {
		t.Fatalf("Tenants: %d %d (want both, oldest first)", ia, ib)
	}
	_, err = f.s.CreateTenant(f.ctx, "x", "plan-none-"+f.run, "test")
	wantErr(t, "tenant on an unknown plan", err, tenants.ErrNotFound)
	_, err = f.s.CreateTenant(f.ctx, "", "", "test")
	wantErr(t, "tenant without a name", err, tenants.ErrInvalid)
	_, err = f.s.Tenant(f.ctx, "tn_none"+f.run)
	wantErr(t, "unknown tenant", err, tenants.ErrNotFound)
	wantErr(t, "unknown tenant's plan", f.s.SetTenantPlan(f.ctx, "tn_none"+f.run, "pro", "test"), tenants.ErrNotFound)
	wantErr(t, "unknown plan for a tenant", f.s.SetTenantPlan(f.ctx, a.ID, "plan-none-"+f.run, "test"), tenants.ErrNotFound)
	if err := f.s.SetTenantPlan(f.ctx, a.ID, "pro", "test"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.s.Tenant(f.ctx, a.ID); got.PlanID != "pro" {
		t.Fatalf("plan not changed: %+v", got)
	}
}

func testCreateApp(t *testing.T, f *store) {
	tn := f.tenant(tenants.DefaultPlanID)
	a, k := f.createApp(tn.ID, "My app")
	if _, err := strconv.ParseUint(a.ID, 10, 64); err != nil {
		t.Fatalf("app id %q is not numeric", a.ID)
	}
	if a.TenantID != tn.ID || a.Name != "My app" || !a.Enabled || len(a.Keys) != 1 || a.Keys[0] != k {
		t.Fatalf("created %+v with key %+v", a, k)
	}
	if k.Key == "" || k.Secret == "" || k.Key == k.Secret {
		t.Fatalf("key %+v", k)
	}
	got := f.byKey(k.Key)
	if got.ID != a.ID || got.TenantID != tn.ID {
		t.Fatalf("AppByKey finds %+v", got)
	}
	if s, ok := got.SecretFor(k.Key); !ok || s != k.Secret {
		t.Fatal("the returned secret does not open the app")
	}
	if got.Limits != tenants.DefaultLimits() {
		t.Fatalf("limits %+v", got.Limits)
	}
	b, _ := f.createApp(tn.ID, "Second")
	if b.ID == a.ID {
		t.Fatal("two apps got one id")
	}
	// A given id is kept; a taken one conflicts.
	c, _, err := f.s.CreateApp(f.ctx, tn.ID, &tenants.App{ID: "id-given-" + f.run, Name: "given"}, "test")
	if err != nil || c.ID != "id-given-"+f.run || c.Limits != tenants.DefaultLimits() {
		t.Fatalf("CreateApp with an id: %+v, %v (zero limits must mean the defaults)", c, err)
	}
	_, _, err = f.s.CreateApp(f.ctx, tn.ID, &tenants.App{ID: c.ID, Name: "again"}, "test")
	wantErr(t, "CreateApp with a taken id", err, tenants.ErrConflict)
	// The spec's keys and tenant are ignored.
	d, dk, err := f.s.CreateApp(f.ctx, tn.ID, &tenants.App{Name: "spec keys", TenantID: "other", Keys: []tenants.Key{{Key: "key-spec-" + f.run, Secret: "s"}}}, "test")
	if err != nil || d.TenantID != tn.ID || dk.Key == "key-spec-"+f.run {
		t.Fatalf("CreateApp used the spec's keys or tenant: %+v %v", d, err)
	}
	f.wantNoKey("key-spec-" + f.run)
	_, _, err = f.s.CreateApp(f.ctx, "tn_none"+f.run, &tenants.App{Name: "x"}, "test")
	wantErr(t, "CreateApp for an unknown tenant", err, tenants.ErrNotFound)
	apps, err := f.s.TenantApps(f.ctx, tn.ID)
	if err != nil || len(apps) != 4 || !slices.IsSortedFunc(apps, func(x, y *tenants.App) int { return strings.Compare(x.ID, y.ID) }) {
		t.Fatalf("TenantApps: %d apps, %v", len(apps), err)
	}
}

func testCreateAppInvalid(t *testing.T, f *store) {
	tn := f.tenant(tenants.DefaultPlanID)
	for name, spec := range map[string]*tenants.App{
		"no name":     {Name: "", Limits: tenants.DefaultLimits()},
		"bad limit":   {Name: "x", Limits: func() tenants.Limits { l := tenants.DefaultLimits(); l.MaxConnections = -5; return l }()},
		"bad webhook": {Name: "x", Limits: tenants.DefaultLimits(), Webhooks: []tenants.Webhook{{URL: "ftp://x", EventTypes: []string{"channel_occupied"}}}},
		"bad id":      {ID: "a/b", Name: "x"},
	} {
		_, _, err := f.s.CreateApp(f.ctx, tn.ID, spec, "test")
		wantErr(t, name, err, tenants.ErrInvalid)
		var fe *tenants.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v does not name the field", name, err)
		}
	}
	if apps, _ := f.s.TenantApps(f.ctx, tn.ID); len(apps) != 0 {
		t.Fatalf("invalid specs created %d apps", len(apps))
	}
}

func testPlanLimitApps(t *testing.T, f *store) {
	p := f.plan("two", 2, tenants.Unlimited)
	tn := f.tenant(p.ID)
	f.createApp(tn.ID, "one")
	f.createApp(tn.ID, "two")
	_, _, err := f.s.CreateApp(f.ctx, tn.ID, &tenants.App{Name: "three"}, "test")
	wantErr(t, "a third app on a plan of two", err, tenants.ErrPlanLimit)
	if apps, _ := f.s.TenantApps(f.ctx, tn.ID); len(apps) != 2 {
		t.Fatalf("%d apps after the refused create", len(apps))
	}
	// Another tenant on the same plan has its own count.
	other := f.tenant(p.ID)
	f.createApp(other.ID, "one")
	if err := f.s.SetTenantPlan(f.ctx, tn.ID, tenants.DefaultPlanID, "test"); err != nil {
		t.Fatal(err)
	}
	f.createApp(tn.ID, "three")
	// Concurrent creates never pass the limit.
	p1 := f.plan("one", 1, tenants.Unlimited)
	race := f.tenant(p1.ID)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, _, err := f.s.CreateApp(f.ctx, race.ID, &tenants.App{Name: fmt.Sprint("race ", i)}, "test")
			if err != nil && !errors.Is(err, tenants.ErrPlanLimit) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if apps, _ := f.s.TenantApps(f.ctx, race.ID); len(apps) != 1 {
		t.Fatalf("%d apps on a plan of one after concurrent creates", len(apps))
	}
}

func testPlanCapsLimits(t *testing.T, f *store) {
	p := f.plan("ten", tenants.Unlimited, 10)
	p.MaxPresenceMembers, p.MaxPayloadKB = 50, 4
	if err := f.s.PutPlan(f.ctx, p, "test"); err != nil {
		t.Fatal(err)
	}
	tn := f.tenant(p.ID)
	a, k := f.createApp(tn.ID, "capped") // default limits: unlimited connections
	spec := &tenants.App{Name: "small", Limits: tenants.DefaultLimits()}
	spec.MaxConnections, spec.MaxEventPayloadInKB = 5, 2
	b, _, err := f.s.CreateApp(f.ctx, tn.ID, spec, "test")
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, id string, conns, members int, kb float64) {
		t.Helper()
		for how, got := range map[string]*tenants.App{"by id": f.byID(id), "tenant app": must(f.s.TenantApp(f.ctx, tn.ID, id))} {
			if got.MaxConnections != conns || got.MaxPresenceMembersPerChannel != members || got.MaxEventPayloadInKB != kb {
				t.Fatalf("%s, %s: app %s limits %d conns, %d members, %g KB; want %d, %d, %g", when, how, id, got.MaxConnections,
					got.MaxPresenceMembersPerChannel, got.MaxEventPayloadInKB, conns, members, kb)
			}
		}
	}
	check("plan of 10", a.ID, 10, 50, 4)
	check("plan of 10", b.ID, 5, 50, 2)
	if got := f.byKey(k.Key); got.MaxConnections != 10 {
		t.Fatalf("by key: %d connections", got.MaxConnections)
	}
	p.MaxConnections, p.MaxPresenceMembers, p.MaxPayloadKB = 3, tenants.Unlimited, tenants.Unlimited
	if err := f.s.PutPlan(f.ctx, p, "test"); err != nil {
		t.Fatal(err)
	}
	check("plan of 3", a.ID, 3, tenants.DefaultLimits().MaxPresenceMembersPerChannel, tenants.DefaultLimits().MaxEventPayloadInKB)
	check("plan of 3", b.ID, 3, tenants.DefaultLimits().MaxPresenceMembersPerChannel, 2)
	// AppSettings shows the app's own limits, and an update starting from
	// it does not write the cap back.
	raw, err := f.s.AppSettings(f.ctx, tn.ID, a.ID)
	if err != nil || raw.MaxConnections != tenants.Unlimited || raw.TenantID != tn.ID || raw.Key() != k.Key {
		t.Fatalf("AppSettings: %+v, %v", raw, err)
	}
	raw.Name = "renamed"
	if _, err := f.s.UpdateApp(f.ctx, tn.ID, raw, "test"); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.AppSettings(f.ctx, "tn_none"+f.run, a.ID)
	wantErr(t, "AppSettings of another tenant", err, tenants.ErrNotFound)
	if err := f.s.SetTenantPlan(f.ctx, tn.ID, tenants.DefaultPlanID, "test"); err != nil {
		t.Fatal(err)
	}
	check("unlimited", a.ID, tenants.Unlimited, tenants.DefaultLimits().MaxPresenceMembersPerChannel, tenants.DefaultLimits().MaxEventPayloadInKB)
	check("unlimited", b.ID, 5, tenants.DefaultLimits().MaxPresenceMembersPerChannel, 2)
}

func testPlanCapsHistory(t *testing.T, f *store) {
	p := f.plan("history", tenants.Unlimited, tenants.Unlimited)
	p.MaxHistoryEvents, p.MaxHistoryAgeSeconds = 50, 120
	if err := f.s.PutPlan(f.ctx, p, "test"); err != nil {
		t.Fatal(err)
	}
	if got := must(f.s.Plan(f.ctx, p.ID)); got.MaxHistoryEvents != 50 || got.MaxHistoryAgeSeconds != 120 {
		t.Fatalf("plan as read back: %+v", got)
	}
	tn := f.tenant(p.ID)
	off, _ := f.createApp(tn.ID, "off") // default: no history
	spec := &tenants.App{Name: "keeps", Limits: tenants.DefaultLimits()}
	spec.HistoryMaxEvents, spec.HistoryMaxAgeSeconds = 1000, tenants.Unlimited
	on, _, err := f.s.CreateApp(f.ctx, tn.ID, spec, "test")
	if err != nil {
		t.Fatal(err)
	}
	small := &tenants.App{Name: "small", Limits: tenants.DefaultLimits()}
	small.HistoryMaxEvents, small.HistoryMaxAgeSeconds = 10, 30
	sm, _, err := f.s.CreateApp(f.ctx, tn.ID, small, "test")
	if err != nil {
		t.Fatal(err)
	}
	check := func(when, id string, events, age int) {
		t.Helper()
		for how, got := range map[string]*tenants.App{"by id": f.byID(id), "tenant app": must(f.s.TenantApp(f.ctx, tn.ID, id))} {
			if got.HistoryMaxEvents != events || got.HistoryMaxAgeSeconds != age {
				t.Fatalf("%s, %s: app %s history %d events, %d s; want %d, %d", when, how, id,
					got.HistoryMaxEvents, got.HistoryMaxAgeSeconds, events, age)
			}
		}
	}
	check("plan of 50/120s", off.ID, 0, 120)
	check("plan of 50/120s", on.ID, 50, 120)
	check("plan of 50/120s", sm.ID, 10, 30)
	raw, err := f.s.AppSettings(f.ctx, tn.ID, on.ID)
	if err != nil || raw.HistoryMaxEvents != 1000 || raw.HistoryMaxAgeSeconds != tenants.Unlimited {
		t.Fatalf("AppSettings keeps the app's own history settings: %+v, %v", raw, err)
	}
	// A plan without history turns it off for every app.
	p.MaxHistoryEvents = 0
	if err := f.s.PutPlan(f.ctx, p, "test"); err != nil {
		t.Fatal(err)
	}
	check("plan without history", on.ID, 0, 120)
	check("plan without history", sm.ID, 0, 30)
	if err := f.s.SetTenantPlan(f.ctx, tn.ID, tenants.DefaultPlanID, "test"); err != nil {
		t.Fatal(err)
	}
	check("unlimited", on.ID, 1000, tenants.Unlimited)
	// Turning history off is an update like any other.
	raw.HistoryMaxEvents = 0
	if _, err := f.s.UpdateApp(f.ctx, tn.ID, raw, "test"); err != nil {
		t.Fatal(err)
	}
	check("switched off", on.ID, 0, tenants.Unlimited)
	bad := *raw
	bad.HistoryMaxEvents = -1
	_, err = f.s.UpdateApp(f.ctx, tn.ID, &bad, "test")
	wantErr(t, "history_max_events -1", err, tenants.ErrInvalid)
	err = f.s.PutPlan(f.ctx, &tenants.Plan{ID: "plan-badhist-" + f.run, Name: "bad", MaxPayloadKB: -1, MaxHistoryAgeSeconds: -5}, "test")
	wantErr(t, "plan with max_history_age_seconds -5", err, tenants.ErrInvalid)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func testSuspendedTenant(t *testing.T, f *store) {
	tn := f.tenant(tenants.DefaultPlanID)
	a, k := f.createApp(tn.ID, "app")
	other := f.tenant(tenants.DefaultPlanID)
	o, _ := f.createApp(other.ID, "other")
	for _, c := range []struct {
		status  tenants.TenantStatus
		enabled bool
	}{{tenants.TenantSuspended, false}, {tenants.TenantPastDue, true}, {tenants.TenantSuspended, false}, {tenants.TenantActive, true}} {
		if err := f.s.SetTenantStatus(f.ctx, tn.ID, c.status, "test"); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.s.Tenant(f.ctx, tn.ID); got.Status != c.status {
			t.Fatalf("status %s, want %s", got.Status, c.status)
		}
		for how, got := range map[string]*tenants.App{"by id": f.byID(a.ID), "by key": f.byKey(k.Key), "tenant app": must(f.s.TenantApp(f.ctx, tn.ID, a.ID))} {
			if got.Enabled != c.enabled {
				t.Fatalf("%s: %s tenant's app enabled=%v", how, c.status, got.Enabled)
			}
		}
		if !f.byID(o.ID).Enabled {
			t.Fatalf("another tenant's app disabled by %s", c.status)
		}
	}
	wantErr(t, "bad status", f.s.SetTenantStatus(f.ctx, tn.ID, "gone", "test"), tenants.ErrInvalid)
	wantErr(t, "unknown tenant", f.s.SetTenantStatus(f.ctx, "tn_none"+f.run, tenants.TenantActive, "test"), tenants.ErrNotFound)
	// Suspension does not change the app's own setting.
	if err := f.s.SetTenantStatus(f.ctx, tn.ID, tenants.TenantSuspended, "test"); err != nil {
		t.Fatal(err)
	}
	got := must(f.s.TenantApp(f.ctx, tn.ID, a.ID))
	upd := *got
	upd.Name = "renamed"
	upd.Enabled = true
	if _, err := f.s.UpdateApp(f.ctx, tn.ID, &upd, "test"); err != nil {
		t.Fatal(err)
	}
	if f.byID(a.ID).Enabled {
		t.Fatal("suspended tenant's app enabled by an update")
	}
	if raw, err := f.s.AppSettings(f.ctx, tn.ID, a.ID); err != nil || !raw.Enabled {
		t.Fatalf("AppSettings of a suspended tenant's enabled app: %+v, %v", raw, err)
	}
	if err := f.s.SetTenantStatus(f.ctx, tn.ID, tenants.TenantActive, "test"); err != nil {
		t.Fatal(err)
	}
	if !f.byID(a.ID).Enabled {
		t.Fatal("app not enabled after the tenant is active again")
	}
}

// testTenantIsolation checks that no tenant-scoped method lets one tenant
// see or touch another's app, key or token: each answers ErrNotFound, the
// same as for an app that does not exist.
func testTenantIsolation(t *testing.T, f *store) {
	ta, tb := f.tenant(tenants.DefaultPlanID), f.tenant(tenants.DefaultPlanID)
	a, ka := f.createApp(ta.ID, "a")
	b, _ := f.createApp(tb.ID, "b")
	tokA, _, err := f.s.CreateToken(f.ctx, ta.ID, "ci", "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a.ID, "id-none-" + f.run} {
		_, err := f.s.TenantApp(f.ctx, tb.ID, id)
		wantErr(t, "TenantApp", err, tenants.ErrNotFound)
		upd := *a
		upd.ID, upd.Name = id, "stolen"
		_, err = f.s.UpdateApp(f.ctx, tb.ID, &upd, "test")
		wantErr(t, "UpdateApp", err, tenants.ErrNotFound)
		wantErr(t, "RemoveApp", f.s.RemoveApp(f.ctx, tb.ID, id, "test"), tenants.ErrNotFound)
		_, err = f.s.Keys(f.ctx, tb.ID, id)
		wantErr(t, "Keys", err, tenants.ErrNotFound)
		_, err = f.s.CreateKey(f.ctx, tb.ID, id, "test")
		wantErr(t, "CreateKey", err, tenants.ErrNotFound)
		wantErr(t, "RevokeKey", f.s.RevokeKey(f.ctx, tb.ID, id, ka.Key, "test"), tenants.ErrNotFound)
	}
	// Tenant b's own app with tenant a's key.
	wantErr(t, "RevokeKey of another app's key", f.s.RevokeKey(f.ctx, tb.ID, b.ID, ka.Key, "test"), tenants.ErrNotFound)
	wantErr(t, "RevokeToken", f.s.RevokeToken(f.ctx, tb.ID, tokA.ID, "test"), tenants.ErrNotFound)
	apps, _ := f.s.TenantApps(f.ctx, tb.ID)
	if len(apps) != 1 || apps[0].ID != b.ID {
		t.Fatalf("tenant b lists %d apps", len(apps))
	}
	toks, _ := f.s.Tokens(f.ctx, tb.ID)
	if len(toks) != 0 {
		t.Fatalf("tenant b lists %d tokens", len(toks))
	}
	audit, _ := f.s.Audit(f.ctx, tb.ID, 100)
	for _, e := range audit {
		if e.TenantID != tb.ID || e.Target == a.ID || e.Target == tokA.ID {
			t.Fatalf("tenant b's audit log holds %+v", e)
		}
	}
	// Nothing changed for a.
	got := f.byID(a.ID)
	if got.Name != "a" || len(got.Keys) != 1 || got.Keys[0] != ka {
		t.Fatalf("tenant a's app changed: %+v", got)
	}
	if ks, _ := f.s.Keys(f.ctx, ta.ID, a.ID); len(ks) != 1 {
		t.Fatalf("tenant a's app has %d keys", len(ks))
	}
	if _, _, err := f.s.TenantByToken(f.ctx, "sbt_none"+f.run); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatal(err)
	}
	_, err = f.s.TenantApps(f.ctx, "tn_none"+f.run)
	wantErr(t, "TenantApps of an unknown tenant", err, tenants.ErrNotFound)
}

func testUpdateApp(t *testing.T, f *store) {
	tn := f.tenant(tenants.DefaultPlanID)
	a, k := f.createApp(tn.ID, "before")
	upd := *fullApp(f)
	upd.ID, upd.TenantID, upd.Keys = a.ID, "", []tenants.Key{{Key: "key-ignored-" + f.run, Secret: "x"}}
	got, err := f.s.UpdateApp(f.ctx, tn.ID, &upd, "test")
	if err != nil {
		t.Fatal(err)
	}
	want := fullApp(f)
	want.ID, want.TenantID, want.Keys = a.ID, tn.ID, []tenants.Key{k}
	for how, g := range map[string]*tenants.App{"returned": got, "by id": f.byID(a.ID), "by key": f.byKey(k.Key)} {
		if g.ID != want.ID || g.TenantID != want.TenantID || g.Name != want.Name || g.Enabled || !g.BatchWebhooks ||
			g.Limits != want.Limits || !slices.Equal(g.AllowedOrigins, want.AllowedOrigins) || len(g.Webhooks) != 2 ||
			g.Webhooks[1].Filter == nil || *g.Webhooks[1].Filter != *want.Webhooks[1].Filter || !slices.Equal(keysOf(g), keysOf(want)) {
			t.Fatalf("%s after update:\n got %+v\nwant %+v", how, g, want)
		}
	}
	f.wantNoKey("key-ignored-" + f.run)
	bad := upd
	bad.MaxEventPayloadInKB = 0
	_, err = f.s.UpdateApp(f.ctx, tn.ID, &bad, "test")
	wantErr(t, "UpdateApp with a bad limit", err, tenants.ErrInvalid)
	bad = upd
	bad.Name = " "
	_, err = f.s.UpdateApp(f.ctx, tn.ID, &bad, "test")
	wantErr(t, "UpdateApp without a name", err, tenants.ErrInvalid)
	if f.byID(a.ID).Name != want.Name {
		t.Fatal("a refused update changed the app")
	}
}

func testRemoveApp(t *testing.T, f *store) {
	tn := f.tenant(tenants.DefaultPlanID)
	a, k := f.createApp(tn.ID, "a")
	k2, err := f.s.CreateKey(f.ctx, tn.ID, a.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.createApp(tn.ID, "b")
	if err := f.s.RemoveApp(f.ctx, tn.ID, a.ID, "test"); err != nil {
		t.Fatal(err)
	}
	f.wantNoID(a.ID)
	f.wantNoKey(k.Key)
	f.wantNoKey(k2.Key)
	_, err = f.s.TenantApp(f.ctx, tn.ID, a.ID)
	wantErr(t, "removed app", err, tenants.ErrNotFound)
	wantErr(t, "removing twice", f.s.RemoveApp(f.ctx, tn.ID, a.ID, "test"), tenants.ErrNotFound)
	f.byID(b.ID)
}

func testKeyRotation(t *testing.T, f *store) {
	tn := f.tenant(tenants.DefaultPlanID)
	a, old := f.createApp(tn.ID, "a")
	wantErr(t, "revoking the only key", f.s.RevokeKey(f.ctx, tn.ID, a.ID, old.Key, "test"), tenants.ErrLastKey)
	neu, err := f.s.CreateKey(f.ctx, tn.ID, a.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	if neu.Key == old.Key || neu.Secret == "" {
		t.Fatalf("new key %+v", neu)
	}
	// Both work, the old one is still primary.
	for _, k := range []tenants.Key{old, neu} {
		got := f.byKey(k.Key)
		if s, ok := got.SecretFor(k.Key); got.ID != a.ID || !ok || s != k.Secret {
			t.Fatalf("key %s does not open the app during rotation", k.Key)
		}
		if !slices.Equal(keysOf(got), []string{old.Key, neu.Key}) {
			t.Fatalf("keys %v, want old first", keysOf(got))
		}
	}
	ks, err := f.s.Keys(f.ctx, tn.ID, a.ID)
	if err != nil || len(ks) != 2 || ks[0].Key != old.Key || ks[1].Key != neu.Key || ks[0].Status != tenants.KeyActive || ks[1].Status != tenants.KeyActive {
		t.Fatalf("Keys: %+v, %v", ks, err)
	}
	if ks[0].CreatedAt.IsZero() || ks[0].RevokedAt != nil || ks[0].LastUsedAt != nil {
		t.Fatalf("key info %+v", ks[0])
	}
	if err := f.s.RevokeKey(f.ctx, tn.ID, a.ID, old.Key, "test"); err != nil {
		t.Fatal(err)
	}
	f.wantNoKey(old.Key)
	got := f.byKey(neu.Key)
	if got.Key() != neu.Key || got.Secret() != neu.Secret || len(got.Keys) != 1 {
		t.Fatalf("after revoke: %+v", got.Keys)
	}
	if _, ok := f.byID(a.ID).SecretFor(old.Key); ok {
		t.Fatal("the revoked key still signs")
	}
	ks, _ = f.s.Keys(f.ctx, tn.ID, a.ID)
	if len(ks) != 2 || ks[0].Status != tenants.KeyRevoked || ks[0].RevokedAt == nil || ks[1].Status != tenants.KeyActive {
		t.Fatalf("Keys after revoke: %+v", ks)
	}
	wantErr(t, "revoking twice", f.s.RevokeKey(f.ctx, tn.ID, a.ID, old.Key, "test"), tenants.ErrNotFound)
	wantErr(t, "revoking the last active key", f.s.RevokeKey(f.ctx, tn.ID, a.ID, neu.Key, "test"), tenants.ErrLastKey)
	wantErr(t, "revoking an unknown key", f.s.RevokeKey(f.ctx, tn.ID, a.ID, "key-none-"+f.run, "test"), tenants.ErrNotFound)
	// A revoked key is not free for another app.
	if f.create(tenants.NewApp("id-reuse-"+f.run, old.Key, "s")) {
		t.Fatal("an app was created with a revoked key")
	}
}

func testMarkKeysUsed(t *testing.T, f *store) {
	tn := f.tenant(tenants.DefaultPlanID)
	a, k := f.createApp(tn.ID, "a")
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if err := f.s.MarkKeysUsed(f.ctx, map[string]time.Time{k.Key: at, "key-none-" + f.run: at}); err != nil {
		t.Fatal(err)
	}
	lastUsed := func() time.Time {
		ks, err := f.s.Keys(f.ctx, tn.ID, a.ID)
		if err != nil || len(ks) != 1 || ks[0].LastUsedAt == nil {
			t.Fatalf("Keys: %+v, %v", ks, err)
		}
		return *ks[0].LastUsedAt
	}
	if got := lastUsed(); !got.Equal(at) {
		t.Fatalf("last used %v, want %v", got, at)
	}
	if err := f.s.MarkKeysUsed(f.ctx, map[string]time.Time{k.Key: at.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.Equal(at) {
		t.Fatalf("an older use moved last used back to %v", got)
	}
}

func testTokens(t *testing.T, f *store) {
	tn := f.tenant(tenants.DefaultPlanID)
	tok, plain, err := f.s.CreateToken(f.ctx, tn.ID, "deploy", "test")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain, tenants.TokenPrefix) || len(plain) < 40 || tok.ID == "" || tok.TenantID != tn.ID || tok.Name != "deploy" {
		t.Fatalf("token %+v %q", tok, plain)
	}
	gt, gtok, err := f.s.TenantByToken(f.ctx, plain)
	if err != nil || gt.ID != tn.ID || gtok.ID != tok.ID {
		t.Fatalf("TenantByToken: %+v %+v %v", gt, gtok, err)
	}
	_, _, err = f.s.TenantByToken(f.ctx, plain+"x")
	wantErr(t, "a wrong token", err, tenants.ErrNotFound)
	tok2, _, err := f.s.CreateToken(f.ctx, tn.ID, "ci", "test")
	if err != nil {
		t.Fatal(err)
	}
	toks, err := f.s.Tokens(f.ctx, tn.ID)
	if err != nil || len(toks) != 2 || toks[0].ID != tok.ID || toks[1].ID != tok2.ID {
		t.Fatalf("Tokens: %+v %v", toks, err)
	}
	if err := f.s.RevokeToken(f.ctx, tn.ID, tok.ID, "test"); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.s.TenantByToken(f.ctx, plain)
	wantErr(t, "a revoked token", err, tenants.ErrNotFound)
	wantErr(t, "revoking twice", f.s.RevokeToken(f.ctx, tn.ID, tok.ID, "test"), tenants.ErrNotFound)
	if toks, _ := f.s.Tokens(f.ctx, tn.ID); len(toks) != 1 || toks[0].ID != tok2.ID {
		t.Fatalf("Tokens after revoke: %+v", toks)
	}
	_, _, err = f.s.CreateToken(f.ctx, "tn_none"+f.run, "x", "test")
	wantErr(t, "a token for an unknown tenant", err, tenants.ErrNotFound)
}

func testAudit(t *testing.T, f *store) {
	tn := f.tenant(tenants.DefaultPlanID)
	a, k := f.createApp(tn.ID, "audited")
	k2, _ := f.s.CreateKey(f.ctx, tn.ID, a.ID, "token:tok_1")
	if err := f.s.RevokeKey(f.ctx, tn.ID, a.ID, k.Key, "token:tok_1"); err != nil {
		t.Fatal(err)
	}
	upd := *a
	upd.Name = "renamed"
	if _, err := f.s.UpdateApp(f.ctx, tn.ID, &upd, "cli"); err != nil {
		t.Fatal(err)
	}
	_, plain, _ := f.s.CreateToken(f.ctx, tn.ID, "ci", "cli")
	if err := f.s.RemoveApp(f.ctx, tn.ID, a.ID, "cli"); err != nil {
		t.Fatal(err)
	}
	es, err := f.s.Audit(f.ctx, tn.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Action+" "+e.Actor)
		if e.TenantID != tn.ID || e.At.IsZero() || e.ID == 0 {
			t.Errorf("entry %+v", e)
		}
		for _, secret := range []string{k.Secret, k2.Secret, plain} {
			if strings.Contains(string(e.Detail), secret) || strings.Contains(e.Target, secret) {
				t.Errorf("audit entry %s holds a secret: %s", e.Action, e.Detail)
			}
		}
	}
	want := []string{"app.delete cli", "token.create cli", "app.update cli", "key.revoke token:tok_1", "key.create token:tok_1", "app.create test", "tenant.create test"}
	if !slices.Equal(got, want) {
		t.Fatalf("audit, newest first:\n got %q\nwant %q", got, want)
	}
	if es[1].Target == "" || es[3].Target != a.ID || !strings.Contains(string(es[3].Detail), k.Key) {
		t.Errorf("key.revoke entry %+v lacks app or key", es[3])
	}
	if es, _ := f.s.Audit(f.ctx, tn.ID, 2); len(es) != 2 || es[0].Action != "app.delete" {
		t.Fatalf("limit 2: %+v", es)
	}
}

// feedOf returns the store's change feed, or skips when it has none.
func feedOf(t *testing.T, s tenants.Store) tenants.ChangeFeed {
	feed, ok := s.(tenants.ChangeFeed)
	if !ok {
		t.Fatalf("%T is not a tenants.ChangeFeed", s)
	}
	return feed
}

// eventually polls cond until it holds or 10 s pass (generous: the
// machine is shared and noisy; the point is that it happens at all).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testChangeFeed(t *testing.T, f *store) {
	feed := feedOf(t, f.s)
	tn := f.tenant(tenants.DefaultPlanID)
	a, _ := f.createApp(tn.ID, "watched")
	var mu sync.Mutex
	var seen []tenants.Change
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() {
		done <- feed.Watch(ctx, func(c tenants.Change) { mu.Lock(); seen = append(seen, c); mu.Unlock() })
	}()
	saw := func(match func(tenants.Change) bool) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(seen, match)
	}
	reset := func() { mu.Lock(); seen = nil; mu.Unlock() }
	touches := func(c tenants.Change) bool { return !c.All && slices.Contains(c.AppIDs, a.ID) }
	// The watch starts asynchronously: repeat a change until it is seen.
	eventually(t, "the first change", func() bool {
		upd := *a
		if _, err := f.s.UpdateApp(f.ctx, tn.ID, &upd, "test"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		return saw(touches)
	})
	type step struct {
		name   string
		change func()
	}
	for _, st := range []step{ // in order: the revoke needs the created key
		{"CreateKey", func() { must(f.s.CreateKey(f.ctx, tn.ID, a.ID, "test")) }},
		{"RevokeKey", func() {
			ks := must(f.s.Keys(f.ctx, tn.ID, a.ID))
			if err := f.s.RevokeKey(f.ctx, tn.ID, a.ID, ks[0].Key, "test"); err != nil {
				t.Fatal(err)
			}
		}},
		{"PutApp", func() {
			b := f.app("put")
			b.ID = a.ID
			b.TenantID = tn.ID
			f.put(b)
		}},
	} {
		reset()
		st.change()
		eventually(t, st.name+"'s change", func() bool { return saw(touches) })
	}
	for _, st := range []step{
		{"SetTenantStatus", func() { _ = f.s.SetTenantStatus(f.ctx, tn.ID, tenants.TenantSuspended, "test") }},
		{"SetTenantPlan", func() { _ = f.s.SetTenantPlan(f.ctx, tn.ID, "pro", "test") }},
		{"PutPlan", func() { f.plan("feed", 1, 1) }},
	} {
		reset()
		st.change()
		eventually(t, st.name+"'s change", func() bool { return saw(func(c tenants.Change) bool { return c.All }) })
	}
	reset()
	if err := f.s.RemoveApp(f.ctx, tn.ID, a.ID, "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "RemoveApp's change", func() bool { return saw(touches) })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return when its context ended")
	}
}

// testDirectoryFollows checks the whole invalidation path: a Directory
// with a long TTL that follows the store's feed sees changes at once.
func testDirectoryFollows(t *testing.T, f *store) {
	feed := feedOf(t, f.s)
	dir := tenants.NewDirectory(f.s, time.Hour)
	var mu sync.Mutex
	var changes int
	dir.OnChange(func(tenants.Change) { mu.Lock(); changes++; mu.Unlock() })
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { dir.Follow(ctx, feed, nil); close(done) }()
	defer func() { cancel(); <-done }()
	// Follow starts watching asynchronously: repeat a change until seen.
	count := func() int { mu.Lock(); defer mu.Unlock(); return changes }
	eventually(t, "the feed to start", func() bool {
		f.plan("probe", 1, 1)
		time.Sleep(20 * time.Millisecond)
		return count() > 0
	})

	tn := f.tenant(tenants.DefaultPlanID)
	a, k := f.createApp(tn.ID, "cached")
	eventually(t, "the new app's key in the directory", func() bool {
		got, err := dir.AppByKey(f.ctx, k.Key)
		return err == nil && got.ID == a.ID
	})
	disabled := *a
	disabled.Enabled = false
	if _, err := f.s.UpdateApp(f.ctx, tn.ID, &disabled, "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the disabled app in the directory", func() bool {
		byID, err1 := dir.AppByID(f.ctx, a.ID)
		byKey, err2 := dir.AppByKey(f.ctx, k.Key)
		return err1 == nil && err2 == nil && !byID.Enabled && !byKey.Enabled
	})
	k2 := must(f.s.CreateKey(f.ctx, tn.ID, a.ID, "test"))
	if err := f.s.RevokeKey(f.ctx, tn.ID, a.ID, k.Key, "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the revoked key gone from the directory", func() bool {
		_, err := dir.AppByKey(f.ctx, k.Key)
		got, err2 := dir.AppByKey(f.ctx, k2.Key)
		return errors.Is(err, tenants.ErrNotFound) && err2 == nil && got.ID == a.ID
	})
	if err := f.s.SetTenantPlan(f.ctx, tn.ID, f.plan("dir", tenants.Unlimited, 7).ID, "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the plan change in the directory", func() bool {
		got, err := dir.AppByID(f.ctx, a.ID)
		return err == nil && got.MaxConnections == 7
	})
	// Key use recorded by lookups reaches the store.
	if err := dir.FlushKeyUsage(f.ctx); err != nil {
		t.Fatal(err)
	}
	ks := must(f.s.Keys(f.ctx, tn.ID, a.ID))
	if i := slices.IndexFunc(ks, func(ki tenants.KeyInfo) bool { return ki.Key == k2.Key }); i < 0 || ks[i].LastUsedAt == nil {
		t.Fatalf("key use not flushed: %+v", ks)
	}
}
