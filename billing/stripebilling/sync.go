package stripebilling

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stripe/stripe-go/v76"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/tenants"
)

// SyncPlans pushes plan changes made in the control plane (the
// dashboard's admin page, `switchboard tenants set-plan` in another
// process, a plans file) to Stripe: for every account whose tenant's plan
// differs from Account.PlanID, the plan the subscription was last set
// for, it
//
//   - moves the subscription to the plan's prices (one update, prorated),
//     when the plan is billed and the tenant has a subscription;
//   - subscribes the existing customer again, when the plan is billed and
//     the subscription was cancelled;
//   - cancels the subscription (prorated, invoiced now), when the plan has
//     no Stripe price: the tenant is no longer billed;
//
// then stores the plan as Account.PlanID. It compares stored state, not
// events, so it catches every way a plan changes, and it runs on every
// node: the idempotency keys, and the check that the subscription is not
// on the plan's prices already, make nodes racing each other send one
// change. It returns how many accounts it changed.
func (b *Billing) SyncPlans(ctx context.Context) (int, error) {
	all, err := b.accounts.All(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, a := range all {
		t, err := b.tenants.Tenant(ctx, a.TenantID)
		if errors.Is(err, tenants.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if t.PlanID == a.PlanID {
			continue
		}
		if err := b.syncPlan(ctx, a, t.PlanID); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// syncPlan brings a's subscription to planID and records it.
func (b *Billing) syncPlan(ctx context.Context, a billing.Account, planID string) error {
	pb := b.opts.Plans[planID]
	log := b.opts.Log.With("tenant_id", a.TenantID, "from_plan", a.PlanID, "plan", planID)
	switch {
	case pb.StripePriceID == "" && a.SubscriptionID == "":
		// Not billed, nothing to cancel.
	case pb.StripePriceID == "":
		p := &stripe.SubscriptionCancelParams{Prorate: stripe.Bool(true), InvoiceNow: stripe.Bool(true)}
		p.Context = ctx
		p.SetIdempotencyKey("switchboard-cancel-" + a.SubscriptionID)
		if _, err := b.api.Subscriptions.Cancel(a.SubscriptionID, p); err != nil {
			return fmt.Errorf("stripebilling: cancel subscription of %s (plan %s has no Stripe price): %w", a.TenantID, planID, err)
		}
		log.Info("billing: subscription cancelled: the tenant's plan is not billed", "subscription_id", a.SubscriptionID)
		a.SubscriptionID = ""
	case a.SubscriptionID == "":
		p := &stripe.SubscriptionParams{Customer: stripe.String(a.CustomerID), Items: newItems(pb)}
		p.Context = ctx
		p.AddMetadata("tenant_id", a.TenantID)
		// The key names the change (from → to) and the hour: a node racing
		// this one gets the same subscription, and moving back and forth
		// later is a new key. Within the hour a repeated change replays the
		// first, cancelled subscription: refused below, retried next hour.
		p.SetIdempotencyKey("switchboard-resubscribe-" + a.TenantID + "-" + a.PlanID + "-" + planID + "-" +
			strconv.FormatInt(b.now().Unix()/3600, 10))
		sub, err := b.api.Subscriptions.New(p)
		if err != nil {
			return fmt.Errorf("stripebilling: subscription for %s to plan %s: %w", a.TenantID, planID, err)
		}
		if sub.Status == stripe.SubscriptionStatusCanceled {
			return fmt.Errorf("stripebilling: subscription for %s to plan %s: Stripe replayed cancelled subscription %s; retried next hour", a.TenantID, planID, sub.ID)
		}
		log.Info("billing: tenant subscribed again in Stripe", "subscription_id", sub.ID)
		a.SubscriptionID = sub.ID
	default:
		gp := &stripe.SubscriptionParams{}
		gp.Context = ctx
		sub, err := b.api.Subscriptions.Get(a.SubscriptionID, gp)
		if err != nil {
			return fmt.Errorf("stripebilling: subscription of %s: %w", a.TenantID, err)
		}
		up := planChange(a.TenantID, planID, sub, pb)
		if up == nil {
			// Already on the plan's prices: another node pushed it, or the
			// change came from Stripe and its event is on its way.
			break
		}
		up.Context = ctx
		up.AddMetadata("plan_id", planID)
		if _, err := b.api.Subscriptions.Update(sub.ID, up); err != nil {
			return fmt.Errorf("stripebilling: move subscription of %s to plan %s: %w", a.TenantID, planID, err)
		}
		log.Info("billing: subscription moved to the tenant's plan", "subscription_id", sub.ID)
	}
	return b.accounts.SetSubscription(ctx, a.TenantID, a.SubscriptionID, planID)
}

// newItems are a new subscription's items for a plan: its flat price and,
// when it has one, its metered price.
func newItems(pb billing.PlanBilling) []*stripe.SubscriptionItemsParams {
	var items []*stripe.SubscriptionItemsParams
	for _, price := range planPrices(pb) {
		items = append(items, &stripe.SubscriptionItemsParams{Price: stripe.String(price)})
	}
	return items
}

func planPrices(pb billing.PlanBilling) []string {
	prices := []string{pb.StripePriceID}
	if pb.StripeMeteredPriceID != "" {
		prices = append(prices, pb.StripeMeteredPriceID)
	}
	return prices
}

// planChange is the update that moves sub to the prices of pb, nil when
// it is on exactly those already. Items whose price the plan keeps stay
// (a metered price shared by both plans keeps its usage); the others are
// deleted and the missing prices added, in one request prorated with
// create_prorations. Its idempotency key names the tenant, the plan and
// the items it replaces, so nodes that read the same subscription send
// one change, and a later change (new items) is a new key.
func planChange(tenantID, planID string, sub *stripe.Subscription, pb billing.PlanBilling) *stripe.SubscriptionParams {
	want := planPrices(pb)
	kept := map[string]bool{}
	var items []*stripe.SubscriptionItemsParams
	var ids []string
	if sub.Items != nil {
		for _, it := range sub.Items.Data {
			ids = append(ids, it.ID)
			if it.Price != nil && slices.Contains(want, it.Price.ID) && !kept[it.Price.ID] {
				kept[it.Price.ID] = true
				continue
			}
			items = append(items, &stripe.SubscriptionItemsParams{ID: stripe.String(it.ID), Deleted: stripe.Bool(true)})
		}
	}
	for _, price := range want {
		if !kept[price] {
			items = append(items, &stripe.SubscriptionItemsParams{Price: stripe.String(price)})
		}
	}
	if len(items) == 0 {
		return nil
	}
	p := &stripe.SubscriptionParams{Items: items, ProrationBehavior: stripe.String("create_prorations")}
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	p.SetIdempotencyKey("switchboard-plan-" + tenantID + "-" + planID + "-" + hex.EncodeToString(sum[:8]))
	return p
}
