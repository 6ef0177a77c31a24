package stripebilling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/switchboard-rt/switchboard/tenants"
)

// maxWebhookBody bounds what is read from Stripe; its events are a few
// KB, Stripe's own examples stay under 64 KB.
const maxWebhookBody = 64 << 10

// ErrBadSignature is a webhook request whose Stripe-Signature does not
// verify.
var ErrBadSignature = errors.New("stripebilling: bad webhook signature")

// WebhookHandler is the endpoint Stripe posts events to: 400 for a bad
// signature or body, 500 when applying the event failed (Stripe then
// retries), 200 otherwise, including for events it ignores.
func (b *Billing) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			http.Error(w, "body too large", http.StatusBadRequest)
			return
		}
		if err := b.HandleWebhook(r.Context(), body, r.Header.Get("Stripe-Signature")); err != nil {
			if errors.Is(err, ErrBadSignature) {
				http.Error(w, "bad signature", http.StatusBadRequest)
				return
			}
			b.opts.Log.Error("billing: stripe webhook", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// HandleWebhook verifies and applies one Stripe event.
func (b *Billing) HandleWebhook(ctx context.Context, body []byte, signature string) error {
	// Events carry the account's API version; the few fields read here
	// are the same across versions, so a mismatch is not an error.
	ev, err := webhook.ConstructEventWithOptions(body, signature, b.opts.WebhookSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	switch ev.Type {
	case stripe.EventTypeInvoicePaid, stripe.EventTypeInvoicePaymentFailed:
		var inv stripe.Invoice
		if err := json.Unmarshal(ev.Data.Raw, &inv); err != nil {
			return fmt.Errorf("stripebilling: %s: %w", ev.Type, err)
		}
		if inv.Customer == nil {
			return nil
		}
		return b.payment(ctx, inv.Customer.ID, ev.Type == stripe.EventTypeInvoicePaid)
	case stripe.EventTypeCustomerSubscriptionUpdated, stripe.EventTypeCustomerSubscriptionDeleted:
		var sub stripe.Subscription
		if err := json.Unmarshal(ev.Data.Raw, &sub); err != nil {
			return fmt.Errorf("stripebilling: %s: %w", ev.Type, err)
		}
		if sub.Customer == nil {
			return nil
		}
		return b.subscription(ctx, &sub, ev.Type == stripe.EventTypeCustomerSubscriptionDeleted)
	}
	return nil
}

// payment applies invoice.paid (back to active, grace cleared) and
// invoice.payment_failed (past_due from the first failure on; the
// grace period is not restarted by Stripe's retries).
func (b *Billing) payment(ctx context.Context, customerID string, paid bool) error {
	a, err := b.accounts.AccountByCustomer(ctx, customerID)
	if errors.Is(err, tenants.ErrNotFound) {
		b.opts.Log.Warn("billing: invoice of an unknown Stripe customer", "customer_id", customerID)
		return nil
	}
	if err != nil {
		return err
	}
	status := tenants.TenantActive
	if paid {
		a.PastDueSince = time.Time{}
	} else {
		status = tenants.TenantPastDue
		if a.PastDueSince.IsZero() {
			a.PastDueSince = b.now().UTC()
		}
	}
	if err := b.accounts.PutAccount(ctx, a); err != nil {
		return err
	}
	t, err := b.tenants.Tenant(ctx, a.TenantID)
	if err != nil {
		return err
	}
	// A suspended tenant stays suspended on a further failure.
	if !paid && t.Status == tenants.TenantSuspended {
		return nil
	}
	if t.Status == status {
		return nil
	}
	return b.tenants.SetTenantStatus(ctx, a.TenantID, status, tenants.ActorSystem)
}

// subscription applies a plan change made in Stripe (the customer
// portal, the Stripe dashboard) at once, and on deletion moves the tenant
// to the free plan.
//
// Account.PlanID, the plan the subscription was last set for, tells
// which side changed: a price that differs from it is Stripe's change and
// wins; a price equal to it means Stripe did not change the plan (the
// event is about something else, or predates our own update), so a
// tenant plan changed here in the meantime stands and SyncPlans pushes
// it. Applying our own update's event is then a no-op: no ping-pong.
func (b *Billing) subscription(ctx context.Context, sub *stripe.Subscription, deleted bool) error {
	a, err := b.accounts.AccountByCustomer(ctx, sub.Customer.ID)
	if errors.Is(err, tenants.ErrNotFound) {
		b.opts.Log.Warn("billing: subscription of an unknown Stripe customer", "customer_id", sub.Customer.ID)
		return nil
	}
	if err != nil {
		return err
	}
	planID := ""
	switch {
	case deleted && sub.ID != a.SubscriptionID:
		// Not the account's subscription: one SyncPlans cancelled when the
		// tenant moved to a plan without a Stripe price, or one replaced
		// since. The tenant's plan stays.
		return nil
	case deleted:
		planID = tenants.FreePlanID
		a.SubscriptionID = ""
	case sub.Status == stripe.SubscriptionStatusCanceled:
		// The last updates of a cancelled subscription; its deletion
		// event is what counts.
		return nil
	default:
		planID = b.planOf(sub)
		a.SubscriptionID = sub.ID
	}
	if planID == "" || planID == a.PlanID {
		return b.accounts.SetSubscription(ctx, a.TenantID, a.SubscriptionID, a.PlanID)
	}
	// The tenant first, then the account: a failure in between leaves
	// the tenant on Stripe's plan and PlanID behind, which SyncPlans
	// settles without a change (the subscription has the prices already)
	// and Stripe's retry of this event settles too.
	t, err := b.tenants.Tenant(ctx, a.TenantID)
	if err != nil {
		return err
	}
	if t.PlanID != planID {
		if err := b.tenants.SetTenantPlan(ctx, a.TenantID, planID, tenants.ActorSystem); err != nil {
			return err
		}
	}
	return b.accounts.SetSubscription(ctx, a.TenantID, a.SubscriptionID, planID)
}

// planOf finds the configured plan whose flat price is on sub; "" when
// none is (then the plan is left alone).
func (b *Billing) planOf(sub *stripe.Subscription) string {
	if sub.Items == nil {
		return ""
	}
	for _, it := range sub.Items.Data {
		if it.Price == nil {
			continue
		}
		for id, pb := range b.opts.Plans {
			if pb.StripePriceID == it.Price.ID {
				return id
			}
		}
	}
	return ""
}
