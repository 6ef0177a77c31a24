package stripebilling_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/billing/stripebilling"
	"github.com/switchboard-rt/switchboard/internal/stripetest"
	"github.com/switchboard-rt/switchboard/tenants"
)

var plans = map[string]billing.PlanBilling{
	"pro":  {StripePriceID: "price_pro", StripeMeteredPriceID: "price_messages"},
	"free": {StripePriceID: "price_free"},
	"team": {StripePriceID: "price_team", StripeMeteredPriceID: "price_messages"},
}

func setup(t *testing.T, url string) (*stripebilling.Billing, *tenants.MemoryStore, *billing.MemoryAccounts, *tenants.Tenant) {
	t.Helper()
	s := tenants.NewMemoryStore()
	tn, err := s.CreateTenant(context.Background(), "Acme", "pro", tenants.ActorCLI)
	if err != nil {
		t.Fatal(err)
	}
	accts := &billing.MemoryAccounts{}
	b := stripebilling.New(s, accts, stripebilling.Options{Key: "sk_test_123", URL: url, WebhookSecret: "whsec_test", Plans: plans, GracePeriod: time.Hour})
	return b, s, accts, tn
}

func TestSubscribeAndReportUsage(t *testing.T) {
	ctx := context.Background()
	b, _, accts, tn := setup(t, stripetest.Start(t))
	a, err := b.Subscribe(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.CustomerID == "" || a.SubscriptionID == "" {
		t.Fatalf("account: %+v", a)
	}
	if a.PlanID != "pro" {
		t.Fatalf("account plan: %+v", a)
	}
	if got, _ := accts.Account(ctx, tn.ID); got != a {
		t.Fatalf("stored %+v, want %+v", got, a)
	}
	h := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	if err := b.ReportUsage(ctx, tn.ID, h, 12345); err != nil {
		t.Fatal(err)
	}
	if u, err := b.PortalURL(ctx, tn.ID); err != nil || !strings.HasPrefix(u, "https://") {
		t.Fatalf("portal url %q %v", u, err)
	}
	if _, err := b.PortalURL(ctx, "nobody"); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("portal of a tenant without a customer: %v", err)
	}
	if err := b.ReportUsage(ctx, "nobody", h, 1); err == nil {
		t.Fatal("usage of a tenant without an account was reported")
	}
	if id := stripebilling.MeterEventIdentifier(tn.ID, h); id != stripebilling.MeterEventIdentifier(tn.ID, h.Add(0)) || !strings.Contains(id, tn.ID) {
		t.Fatalf("identifier %q", id)
	}
}

func post(t *testing.T, h http.Handler, secret, typ, object string) int {
	t.Helper()
	body := fmt.Sprintf(`{"id":"evt_%d","object":"event","api_version":"2020-08-27","type":%q,"data":{"object":%s}}`,
		time.Now().UnixNano(), typ, object)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: secret})
	r := httptest.NewRequest(http.MethodPost, "/stripe/webhook", strings.NewReader(body))
	r.Header.Set("Stripe-Signature", sp.Header)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

func TestWebhookPaymentLifecycle(t *testing.T) {
	ctx := context.Background()
	b, s, accts, tn := setup(t, "")
	if err := accts.PutAccount(ctx, billing.Account{TenantID: tn.ID, CustomerID: "cus_1", SubscriptionID: "sub_1"}); err != nil {
		t.Fatal(err)
	}
	h := b.WebhookHandler()
	status := func() tenants.TenantStatus {
		t.Helper()
		got, err := s.Tenant(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Status
	}
	invoice := `{"id":"in_1","object":"invoice","customer":"cus_1"}`

	if code := post(t, h, "whsec_wrong", "invoice.paid", invoice); code != http.StatusBadRequest {
		t.Fatalf("bad signature: %d", code)
	}
	if code := post(t, h, "whsec_test", "invoice.payment_failed", invoice); code != http.StatusOK {
		t.Fatalf("payment_failed: %d", code)
	}
	if status() != tenants.TenantPastDue {
		t.Fatalf("after payment_failed: %s", status())
	}
	// Within the grace period nothing more happens.
	if n, err := b.SuspendOverdue(ctx); err != nil || n != 0 || status() != tenants.TenantPastDue {
		t.Fatalf("within grace: %d %v %s", n, err, status())
	}
	stripebilling.SetNow(b, func() time.Time { return time.Now().Add(2 * time.Hour) })
	if n, err := b.SuspendOverdue(ctx); err != nil || n != 1 || status() != tenants.TenantSuspended {
		t.Fatalf("after grace: %d %v %s", n, err, status())
	}
	// Stripe's retry fails again: still suspended.
	post(t, h, "whsec_test", "invoice.payment_failed", invoice)
	if status() != tenants.TenantSuspended {
		t.Fatalf("after a second failure: %s", status())
	}
	if code := post(t, h, "whsec_test", "invoice.paid", invoice); code != http.StatusOK || status() != tenants.TenantActive {
		t.Fatalf("after paid: %d %s", code, status())
	}
	if a, _ := accts.Account(ctx, tn.ID); !a.PastDueSince.IsZero() {
		t.Fatalf("grace not cleared: %+v", a)
	}
	// An unknown customer is acknowledged and ignored.
	if code := post(t, h, "whsec_test", "invoice.paid", `{"id":"in_2","object":"invoice","customer":"cus_other"}`); code != http.StatusOK {
		t.Fatalf("unknown customer: %d", code)
	}
}

func TestWebhookPlanChanges(t *testing.T) {
	ctx := context.Background()
	b, s, accts, tn := setup(t, "")
	if err := accts.PutAccount(ctx, billing.Account{TenantID: tn.ID, CustomerID: "cus_1", SubscriptionID: "sub_1"}); err != nil {
		t.Fatal(err)
	}
	h := b.WebhookHandler()
	plan := func() string {
		t.Helper()
		got, _ := s.Tenant(ctx, tn.ID)
		return got.PlanID
	}
	sub := func(price string) string {
		return fmt.Sprintf(`{"id":"sub_2","object":"subscription","customer":"cus_1","items":{"object":"list","data":[{"id":"si_1","object":"subscription_item","price":{"id":%q,"object":"price"}}]}}`, price)
	}
	if code := post(t, h, "whsec_test", "customer.subscription.updated", sub("price_free")); code != http.StatusOK || plan() != "free" {
		t.Fatalf("downgrade: %d %s", code, plan())
	}
	if code := post(t, h, "whsec_test", "customer.subscription.updated", sub("price_pro")); code != http.StatusOK || plan() != "pro" {
		t.Fatalf("upgrade: %d %s", code, plan())
	}
	if a, _ := accts.Account(ctx, tn.ID); a.SubscriptionID != "sub_2" {
		t.Fatalf("subscription id: %+v", a)
	}
	if code := post(t, h, "whsec_test", "customer.subscription.updated", sub("price_unknown")); code != http.StatusOK || plan() != "pro" {
		t.Fatalf("unknown price: %d %s", code, plan())
	}
	if code := post(t, h, "whsec_test", "customer.subscription.deleted", sub("price_pro")); code != http.StatusOK || plan() != tenants.FreePlanID {
		t.Fatalf("deleted: %d %s", code, plan())
	}
}
