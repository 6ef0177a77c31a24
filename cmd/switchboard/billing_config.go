package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v2"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/tenants"
)

// billingConfig is the metering, quota and Stripe part of serveConfig
// (billing.go, docs/configuration.md).
type billingConfig struct {
	FlushInterval  time.Duration
	RollupInterval time.Duration
	QuotaRefresh   time.Duration
	PlansFile      string

	StripeKey           string
	StripeAPIBase       string
	StripeWebhookSecret string
	StripeMeterEvent    string
	GracePeriod         time.Duration
	ReportInterval      time.Duration
	ReportSettle        time.Duration
}

func (c *billingConfig) register(fs *flag.FlagSet) {
	fs.DurationVar(&c.FlushInterval, "usage-flush-interval", 5*time.Second, "how often a node moves its usage counts to the shared counters (Redis, or memory): a crashed node loses at most this much of its metering")
	fs.DurationVar(&c.RollupInterval, "usage-rollup-interval", time.Minute, "with --database-url: how often usage is rolled up into PostgreSQL per app per hour and day (one node at a time)")
	fs.DurationVar(&c.QuotaRefresh, "quota-refresh-interval", 5*time.Second, "how often each node rereads plans and the day's shared message counts; a plan change limits messages within this")
	fs.StringVar(&c.PlansFile, "plans-file", "", "JSON (or .yaml) file with the plans (limits, soft or hard cap, Stripe prices), written into the store at start-up; without it the default plans free, startup, pro and unlimited are added where missing")
	fs.StringVar(&c.StripeKey, "stripe-key", "", "Stripe secret key: tenants get a Stripe customer and subscription and usage is reported as Billing Meter events; empty: billing off, plans still limit usage")
	fs.StringVar(&c.StripeAPIBase, "stripe-api-base", "", "Stripe API address instead of https://api.stripe.com (stripe-mock in tests)")
	fs.StringVar(&c.StripeWebhookSecret, "stripe-webhook-secret", "", "signing secret (whsec_…) of the Stripe webhook endpoint POST /billing/stripe/webhook; without it the endpoint is not mounted")
	fs.StringVar(&c.StripeMeterEvent, "stripe-meter-event", "switchboard_messages", "event_name of the Stripe Billing Meter that messages are reported to")
	fs.DurationVar(&c.GracePeriod, "billing-grace-period", 7*24*time.Hour, "how long a tenant whose payment failed (past_due) keeps working before it is suspended")
	fs.DurationVar(&c.ReportInterval, "stripe-report-interval", 5*time.Minute, "how often closed hours of usage are reported to Stripe")
	fs.DurationVar(&c.ReportSettle, "stripe-report-settle", 10*time.Minute, "how long after an hour ends its usage is reported (room for the last flush and rollup)")
}

func (c billingConfig) validate() error {
	switch {
	case c.FlushInterval < 10*time.Millisecond:
		return fmt.Errorf("--usage-flush-interval: must be at least 10ms, got %s", c.FlushInterval)
	case c.FlushInterval > time.Hour:
		return fmt.Errorf("--usage-flush-interval: must be at most 1h (the crash-loss bound), got %s", c.FlushInterval)
	case c.RollupInterval < 10*time.Millisecond:
		return fmt.Errorf("--usage-rollup-interval: must be at least 10ms, got %s", c.RollupInterval)
	case c.RollupInterval > time.Hour:
		return fmt.Errorf("--usage-rollup-interval: must be at most 1h (it re-copies the 2 hours before the current one), got %s", c.RollupInterval)
	case c.QuotaRefresh < 10*time.Millisecond:
		return fmt.Errorf("--quota-refresh-interval: must be at least 10ms, got %s", c.QuotaRefresh)
	case c.GracePeriod <= 0:
		return fmt.Errorf("--billing-grace-period: must be positive, got %s", c.GracePeriod)
	case c.ReportInterval < time.Second:
		return fmt.Errorf("--stripe-report-interval: must be at least 1s, got %s", c.ReportInterval)
	case c.ReportSettle < 0:
		return fmt.Errorf("--stripe-report-settle: must not be negative, got %s", c.ReportSettle)
	case c.StripeMeterEvent == "":
		return errors.New("--stripe-meter-event: must not be empty")
	case c.StripeKey == "" && (c.StripeAPIBase != "" || c.StripeWebhookSecret != ""):
		return errors.New("--stripe-api-base and --stripe-webhook-secret: need --stripe-key")
	}
	if c.StripeAPIBase != "" {
		if u, err := url.Parse(c.StripeAPIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--stripe-api-base: %q is not an http(s) URL", c.StripeAPIBase)
		}
	}
	if c.PlansFile != "" {
		if _, err := loadPlansFile(c.PlansFile); err != nil {
			return err
		}
	}
	return nil
}

// configuredPlan is one entry of --plans-file: a plan's limits and how
// billing treats it.
type configuredPlan struct {
	Plan    *tenants.Plan
	Billing billing.PlanBilling
}

// planEntry is the JSON of one plan; limits left out are unlimited (-1).
type planEntry struct {
	ID                 string               `json:"id" yaml:"id"`
	Name               string               `json:"name" yaml:"name"`
	MaxApps            *int                 `json:"max_apps" yaml:"max_apps"`
	MaxConnections     *int                 `json:"max_connections" yaml:"max_connections"`
	MaxMessagesPerDay  *int64               `json:"max_messages_per_day" yaml:"max_messages_per_day"`
	MaxPresenceMembers *int                 `json:"max_presence_members" yaml:"max_presence_members"`
	MaxPayloadKB       *float64             `json:"max_payload_kb" yaml:"max_payload_kb"`
	Billing            *billing.PlanBilling `json:"billing" yaml:"billing"`
}

// loadPlansFile reads --plans-file: a JSON array of plans, or the same
// in YAML when the file is named .yaml or .yml. Unknown fields are
// errors. Every error names the flag and, where it can, the plan and
// field.
func loadPlansFile(path string) ([]configuredPlan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--plans-file: %w", err)
	}
	var entries []planEntry
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
		if err := yaml.UnmarshalStrict(b, &entries); err != nil {
			return nil, fmt.Errorf("--plans-file: %s: not a YAML list of plans: %w", path, err)
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&entries); err != nil {
			return nil, fmt.Errorf("--plans-file: %s: not a JSON array of plans: %w", path, err)
		}
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("--plans-file: %s lists no plans", path)
	}
	seen := map[string]bool{}
	out := make([]configuredPlan, 0, len(entries))
	for i, e := range entries {
		unlimited := func(p *int) int {
			if p == nil {
				return tenants.Unlimited
			}
			return *p
		}
		p := &tenants.Plan{ID: e.ID, Name: e.Name, MaxApps: unlimited(e.MaxApps), MaxConnections: unlimited(e.MaxConnections),
			MaxMessagesPerDay: tenants.Unlimited, MaxPresenceMembers: unlimited(e.MaxPresenceMembers), MaxPayloadKB: tenants.Unlimited}
		if e.MaxMessagesPerDay != nil {
			p.MaxMessagesPerDay = *e.MaxMessagesPerDay
		}
		if e.MaxPayloadKB != nil {
			p.MaxPayloadKB = *e.MaxPayloadKB
		}
		if p.Name == "" {
			p.Name = p.ID
		}
		if err := tenants.ValidatePlan(p); err != nil {
			return nil, fmt.Errorf("--plans-file: plan %d (%q): %w", i, e.ID, err)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("--plans-file: plan %q is listed twice", p.ID)
		}
		seen[p.ID] = true
		cp := configuredPlan{Plan: p}
		if e.Billing != nil {
			cp.Billing = *e.Billing
			if cp.Billing.OverageCentsPerMillion < 0 {
				return nil, fmt.Errorf("--plans-file: plan %q: billing.overage_cents_per_million must not be negative", p.ID)
			}
		}
		out = append(out, cp)
	}
	return out, nil
}

// defaultPlans are the plans added (where absent) when no --plans-file
// is given: the store's unlimited, free and pro, plus startup, with the
// paid ones on soft caps (overage billed) and free hard-capped.
func defaultPlans() []configuredPlan {
	u := tenants.Unlimited
	return []configuredPlan{
		{Plan: &tenants.Plan{ID: tenants.DefaultPlanID, Name: "Unlimited", MaxApps: u, MaxConnections: u, MaxMessagesPerDay: int64(u), MaxPresenceMembers: u, MaxPayloadKB: float64(u)}},
		{Plan: &tenants.Plan{ID: tenants.FreePlanID, Name: "Free", MaxApps: 3, MaxConnections: 100, MaxMessagesPerDay: 200_000, MaxPresenceMembers: 100, MaxPayloadKB: 10}},
		{Plan: &tenants.Plan{ID: "startup", Name: "Startup", MaxApps: 10, MaxConnections: 500, MaxMessagesPerDay: 1_000_000, MaxPresenceMembers: 100, MaxPayloadKB: 10},
			Billing: billing.PlanBilling{SoftCap: true, OverageCentsPerMillion: 100}},
		{Plan: &tenants.Plan{ID: "pro", Name: "Pro", MaxApps: 20, MaxConnections: 10_000, MaxMessagesPerDay: 10_000_000, MaxPresenceMembers: 100, MaxPayloadKB: 100},
			Billing: billing.PlanBilling{SoftCap: true, OverageCentsPerMillion: 80}},
	}
}
