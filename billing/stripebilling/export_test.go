package stripebilling

import (
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/switchboard-rt/switchboard/billing"
)

// SetNow replaces b's clock, for tests of the grace period.
func SetNow(b *Billing, now func() time.Time) { b.now = now }

// PlanChange exposes planChange, the update SyncPlans sends.
func PlanChange(tenantID, planID string, sub *stripe.Subscription, pb billing.PlanBilling) *stripe.SubscriptionParams {
	return planChange(tenantID, planID, sub, pb)
}
