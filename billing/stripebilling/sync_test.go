package stripebilling_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/billing/stripebilling"
	"github.com/switchboard-rt/switchboard/internal/stripetest"
	"github.com/switchboard-rt/switchboard/tenants"
)

// stripeRequest is one request stripe-go sent.
type stripeRequest struct {
	Method, Path, IdempotencyKey string
	Form                         url.Values
}

func (r stripeRequest) String() string { return r.Method + " " + r.Path }

// recorder sits between stripe-go and stripe-mock and keeps what was
// sent: stripe-mock answers fixtures, so the requests are what a test can
// check.
type recorder struct {
	mu   sync.Mutex
	reqs []stripeRequest
}

func record(t *testing.T, target string) (*recorder, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, stripeRequest{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: form})
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

// take returns the requests sent since the last take.
func (r *recorder) take() []stripeRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// syncSetup: the "pro" tenant of setup, subscribed through a recorder in
// front of stripe-mock, and the plans "team" (billed, sharing pro's
// metered price) and "unlimited" (not billed) to move it to.
func syncSetup(t *testing.T) (*stripebilling.Billing, *tenants.MemoryStore, *billing.MemoryAccounts, *tenants.Tenant, *recorder) {
	t.Helper()
	ctx := context.Background()
	rec, u := record(t, stripetest.Start(t))
	b, s, accts, tn := setup(t, u)
	if err := s.PutPlan(ctx, &tenants.Plan{ID: "team", Name: "Team", MaxApps: 5, MaxConnections: 50, MaxMessagesPerDay: 1000, MaxPresenceMembers: 10, MaxPayloadKB: 10}, tenants.ActorCLI); err != nil {
		t.Fatal(err)
	}
	a, err := b.Subscribe(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.PlanID != "pro" {
		t.Fatalf("subscribed account: %+v", a)
	}
	rec.take()
	return b, s, accts, tn, rec
}

func account(t *testing.T, accts billing.Accounts, tenantID string) billing.Account {
	t.Helper()
	a, err := accts.Account(context.Background(), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func tenantPlan(t *testing.T, s tenants.Store, id string) string {
	t.Helper()
	tn, err := s.Tenant(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tn.PlanID
}

func TestPlanChange(t *testing.T) {
	sub := func(items ...string) *stripe.Subscription {
		s := &stripe.Subscription{ID: "sub_1", Items: &stripe.SubscriptionItemList{}}
		for i, price := range items {
			s.Items.Data = append(s.Items.Data, &stripe.SubscriptionItem{ID: fmt.Sprintf("si_%d", i), Price: &stripe.Price{ID: price}})
		}
		return s
	}
	team := plans["team"]
	p := stripebilling.PlanChange("t1", "team", sub("price_pro", "price_messages"), team)
	if p == nil {
		t.Fatal("no change from pro to team")
	}
	var got []string
	for _, it := range p.Items {
		switch {
		case it.Deleted != nil && *it.Deleted:
			got = append(got, "-"+*it.ID)
		case it.Price != nil:
			got = append(got, "+"+*it.Price)
		default:
			t.Fatalf("item %+v", it)
		}
	}
	// The shared metered price stays (its usage with it); the flat price
	// is swapped.
	if strings.Join(got, " ") != "-si_0 +price_team" || p.ProrationBehavior == nil || *p.ProrationBehavior != "create_prorations" {
		t.Fatalf("change: %v, proration %v", got, p.ProrationBehavior)
	}
	key := *p.IdempotencyKey
	if !strings.HasPrefix(key, "switchboard-plan-t1-team-") {
		t.Fatalf("idempotency key %q", key)
	}
	if again := stripebilling.PlanChange("t1", "team", sub("price_pro", "price_messages"), team); *again.IdempotencyKey != key {
		t.Fatalf("same subscription, other key: %q", *again.IdempotencyKey)
	}
	// Later, from other items: a new key, not a replay of the first.
	later := sub("price_x", "price_messages")
	later.Items.Data[0].ID = "si_9"
	if other := stripebilling.PlanChange("t1", "team", later, team); *other.IdempotencyKey == key {
		t.Fatal("a change from other items reuses the key")
	}
	if p := stripebilling.PlanChange("t1", "team", sub("price_messages", "price_team"), team); p != nil {
		t.Fatalf("already on the plan: %+v", p.Items)
	}
	// pro has a metered price, free none: both of pro's go.
	p = stripebilling.PlanChange("t1", "free", sub("price_pro", "price_messages"), plans["free"])
	if len(p.Items) != 3 || *p.Items[2].Price != "price_free" {
		t.Fatalf("to free: %+v", p.Items)
	}
}

func TestSyncPlansMovesTheSubscription(t *testing.T) {
	ctx := context.Background()
	b, s, accts, tn, rec := syncSetup(t)
	subID := account(t, accts, tn.ID).SubscriptionID

	// In step: nothing is sent.
	if n, err := b.SyncPlans(ctx); err != nil || n != 0 {
		t.Fatalf("in step: %d %v", n, err)
	}
	if reqs := rec.take(); len(reqs) != 0 {
		t.Fatalf("in step, sent %v", reqs)
	}

	// The operator moves the tenant (the dashboard or the CLI: both only
	// write the store).
	if err := s.SetTenantPlan(ctx, tn.ID, "team", tenants.ActorCLI); err != nil {
		t.Fatal(err)
	}
	if n, err := b.SyncPlans(ctx); err != nil || n != 1 {
		t.Fatalf("sync: %d %v", n, err)
	}
	reqs := rec.take()
	if len(reqs) != 2 || reqs[0].String() != "GET /v1/subscriptions/"+subID || reqs[1].String() != "POST /v1/subscriptions/"+subID {
		t.Fatalf("sent %v", reqs)
	}
	up := reqs[1]
	if up.Form.Get("proration_behavior") != "create_prorations" || up.Form.Get("metadata[plan_id]") != "team" ||
		!strings.HasPrefix(up.IdempotencyKey, "switchboard-plan-"+tn.ID+"-team-") {
		t.Fatalf("update %s: %v key %q", up, up.Form, up.IdempotencyKey)
	}
	// stripe-mock's subscription holds its fixture's item: deleted, and
	// team's prices added.
	var deleted, added []string
	for k, v := range up.Form {
		switch {
		case strings.HasSuffix(k, "[deleted]") && v[0] == "true":
			deleted = append(deleted, up.Form.Get(strings.TrimSuffix(k, "[deleted]")+"[id]"))
		case strings.HasSuffix(k, "[price]"):
			added = append(added, v[0])
		}
	}
	if len(deleted) == 0 || strings.Join(slices.Sorted(slices.Values(added)), ",") != "price_messages,price_team" {
		t.Fatalf("items: deleted %v, added %v (%v)", deleted, added, up.Form)
	}
	if a := account(t, accts, tn.ID); a.PlanID != "team" || a.SubscriptionID != subID {
		t.Fatalf("account after sync: %+v", a)
	}
	if n, err := b.SyncPlans(ctx); err != nil || n != 0 || len(rec.take()) != 0 {
		t.Fatalf("second sync: %d %v", n, err)
	}
}

// TestNoPingPong: the event of our own update changes nothing and sends
// nothing; an event about the subscription sent before our update (the
// old price still on it) does not move the tenant back; a change made in
// Stripe reaches the tenant and is not pushed back.
func TestNoPingPong(t *testing.T) {
	ctx := context.Background()
	b, s, accts, tn, rec := syncSetup(t)
	h := b.WebhookHandler()
	a := account(t, accts, tn.ID)
	event := func(price string) string {
		return fmt.Sprintf(`{"id":%q,"object":"subscription","customer":%q,"status":"active","items":{"object":"list","data":[{"id":"si_1","object":"subscription_item","price":{"id":%q,"object":"price"}},{"id":"si_2","object":"subscription_item","price":{"id":"price_messages","object":"price"}}]}}`,
			a.SubscriptionID, a.CustomerID, price)
	}
	if err := s.SetTenantPlan(ctx, tn.ID, "team", tenants.ActorCLI); err != nil {
		t.Fatal(err)
	}
	// Before the sync, Stripe reports the subscription, still on pro (say
	// its payment method changed): the operator's change stands.
	if code := post(t, h, "whsec_test", "customer.subscription.updated", event("price_pro")); code != http.StatusOK {
		t.Fatalf("stale event: %d", code)
	}
	if p := tenantPlan(t, s, tn.ID); p != "team" {
		t.Fatalf("an event without a plan change moved the tenant back to %s", p)
	}
	if n, err := b.SyncPlans(ctx); err != nil || n != 1 {
		t.Fatalf("sync: %d %v", n, err)
	}
	rec.take()
	// The event of our update: nothing changes, nothing is sent.
	if code := post(t, h, "whsec_test", "customer.subscription.updated", event("price_team")); code != http.StatusOK {
		t.Fatalf("own event: %d", code)
	}
	if p, a := tenantPlan(t, s, tn.ID), account(t, accts, tn.ID); p != "team" || a.PlanID != "team" {
		t.Fatalf("after our own event: tenant %s, account %+v", p, a)
	}
	if n, err := b.SyncPlans(ctx); err != nil || n != 0 {
		t.Fatalf("sync after our own event: %d %v", n, err)
	}
	if reqs := rec.take(); len(reqs) != 0 {
		t.Fatalf("our own event made us call Stripe: %v", reqs)
	}
	// The customer goes back to pro in the portal: the tenant follows,
	// and the sync leaves Stripe alone.
	if code := post(t, h, "whsec_test", "customer.subscription.updated", event("price_pro")); code != http.StatusOK {
		t.Fatalf("stripe change: %d", code)
	}
	if p, a := tenantPlan(t, s, tn.ID), account(t, accts, tn.ID); p != "pro" || a.PlanID != "pro" {
		t.Fatalf("after a change in Stripe: tenant %s, account %+v", p, a)
	}
	if n, err := b.SyncPlans(ctx); err != nil || n != 0 {
		t.Fatalf("sync after a change in Stripe: %d %v", n, err)
	}
	if reqs := rec.take(); len(reqs) != 0 {
		t.Fatalf("a change from Stripe was pushed back: %v", reqs)
	}
}

// TestSyncPlansUnbilledPlan: a plan without a Stripe price cancels the
// subscription, whose deletion event then leaves the plan alone; back on
// a billed plan, the customer is subscribed again.
func TestSyncPlansUnbilledPlan(t *testing.T) {
	ctx := context.Background()
	b, s, accts, tn, rec := syncSetup(t)
	before := account(t, accts, tn.ID)
	if err := s.SetTenantPlan(ctx, tn.ID, tenants.DefaultPlanID, tenants.ActorCLI); err != nil {
		t.Fatal(err)
	}
	if n, err := b.SyncPlans(ctx); err != nil || n != 1 {
		t.Fatalf("sync: %d %v", n, err)
	}
	reqs := rec.take()
	if len(reqs) != 1 || reqs[0].String() != "DELETE /v1/subscriptions/"+before.SubscriptionID ||
		reqs[0].Form.Get("prorate") != "true" || reqs[0].Form.Get("invoice_now") != "true" {
		t.Fatalf("sent %v %v", reqs, reqs[0].Form)
	}
	if a := account(t, accts, tn.ID); a.SubscriptionID != "" || a.PlanID != tenants.DefaultPlanID || a.CustomerID != before.CustomerID {
		t.Fatalf("after cancel: %+v", a)
	}
	deleted := fmt.Sprintf(`{"id":%q,"object":"subscription","customer":%q,"status":"canceled"}`, before.SubscriptionID, before.CustomerID)
	if code := post(t, b.WebhookHandler(), "whsec_test", "customer.subscription.deleted", deleted); code != http.StatusOK {
		t.Fatalf("deleted: %d", code)
	}
	if p := tenantPlan(t, s, tn.ID); p != tenants.DefaultPlanID {
		t.Fatalf("our cancellation's event moved the tenant to %s", p)
	}

	stripebilling.SetNow(b, func() time.Time { return time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC) })
	if err := s.SetTenantPlan(ctx, tn.ID, "pro", tenants.ActorCLI); err != nil {
		t.Fatal(err)
	}
	if n, err := b.SyncPlans(ctx); err != nil || n != 1 {
		t.Fatalf("sync back: %d %v", n, err)
	}
	reqs = rec.take()
	if len(reqs) != 1 || reqs[0].String() != "POST /v1/subscriptions" || reqs[0].Form.Get("customer") != before.CustomerID ||
		reqs[0].IdempotencyKey != "switchboard-resubscribe-"+tn.ID+"-unlimited-pro-"+fmt.Sprint(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).Unix()/3600) {
		t.Fatalf("sent %v %v %q", reqs, reqs[0].Form, reqs[0].IdempotencyKey)
	}
	if a := account(t, accts, tn.ID); a.SubscriptionID == "" || a.PlanID != "pro" {
		t.Fatalf("after subscribing again: %+v", a)
	}
}
