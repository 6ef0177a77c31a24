package billing

// PlanBilling is what billing adds to a tenants.Plan, from configuration:
// how it caps messages and how it maps to Stripe. Plans without an entry
// are hard-capped and not billed.
type PlanBilling struct {
	// SoftCap lets messages past MaxMessagesPerDay keep flowing; they are
	// recorded (and billed) as overage. False: a hard cap, publishes
	// refused with ErrOverQuota.
	SoftCap bool `json:"soft_cap" yaml:"soft_cap"`
	// OverageCentsPerMillion is the price of overage messages, for the
	// docs and the dashboard; Stripe's price (StripeMeteredPriceID) is
	// what is charged.
	OverageCentsPerMillion int64 `json:"overage_cents_per_million" yaml:"overage_cents_per_million"`
	// StripePriceID is the plan's flat monthly price.
	StripePriceID string `json:"stripe_price_id" yaml:"stripe_price_id"`
	// StripeMeteredPriceID is the metered price attached to the Billing
	// Meter that usage is reported to; "" when the plan bills no usage.
	StripeMeteredPriceID string `json:"stripe_metered_price_id" yaml:"stripe_metered_price_id"`
}
