package stripebilling

import (
	"context"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/internal/periodic"
)

// usageSource is where the Reporter reads billed figures: billing/pgusage,
// the same rows the management API shows.
type usageSource interface {
	TenantUsage(ctx context.Context, tenantID string, from, to time.Time, g billing.Granularity) ([]billing.Row, error)
}

// ReporterOptions configure a Reporter; the zero value works.
type ReporterOptions struct {
	// Interval between passes; default 5m.
	Interval time.Duration
	// Settle is how long after an hour ends it is reported, so that the
	// last flushes (FlusherOptions.Interval) and a rollup
	// (RollerOptions.Interval) have landed; default 10m.
	Settle time.Duration
	// Lookback is how many closed hours each pass considers; default 3.
	// After a restart they are sent again, and the meter event
	// identifier makes Stripe keep one of each.
	Lookback int
}

// Reporter sends each tenant's messages per closed UTC hour to Stripe.
// Run it on one node (or on every node: identifiers dedupe, at the cost
// of duplicate requests that Stripe refuses).
type Reporter struct {
	b     *Billing
	usage usageSource
	opts  ReporterOptions

	mu   sync.Mutex
	done map[string]time.Time // tenant → last hour reported by this process
}

// NewReporter returns a Reporter; Run starts it.
func NewReporter(b *Billing, usage usageSource, opts ReporterOptions) *Reporter {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Minute
	}
	if opts.Settle <= 0 {
		opts.Settle = 10 * time.Minute
	}
	if opts.Lookback <= 0 {
		opts.Lookback = 3
	}
	return &Reporter{b: b, usage: usage, opts: opts, done: map[string]time.Time{}}
}

// Run reports every Interval until ctx ends.
func (r *Reporter) Run(ctx context.Context) error {
	periodic.Every(ctx, r.opts.Interval, func(ctx context.Context) {
		if err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.b.opts.Log.Error("billing: report usage to Stripe", "err", err)
		}
	})
	return nil
}

// Once reports every settled hour not yet reported by this process.
func (r *Reporter) Once(ctx context.Context) error {
	accts, err := r.b.accounts.All(ctx)
	if err != nil {
		return err
	}
	last := billing.HourOf(r.b.now().Add(-r.opts.Settle)) // first hour not settled
	first := last.Add(-time.Duration(r.opts.Lookback) * time.Hour)
	for _, a := range accts {
		r.mu.Lock()
		from := r.done[a.TenantID]
		r.mu.Unlock()
		if from.Before(first) {
			from = first
		} else {
			from = from.Add(time.Hour)
		}
		if !from.Before(last) {
			continue
		}
		rows, err := r.usage.TenantUsage(ctx, a.TenantID, from, last, billing.ByHour)
		if err != nil {
			return err
		}
		for _, row := range rows {
			if row.Messages == 0 {
				continue
			}
			if err := r.b.ReportUsage(ctx, a.TenantID, row.Start, row.Messages); err != nil {
				return err
			}
		}
		r.mu.Lock()
		r.done[a.TenantID] = last.Add(-time.Hour)
		r.mu.Unlock()
	}
	return nil
}
