package billing

import (
	"context"
	"log/slog"
	"time"
)

// FlusherOptions configure a Flusher; the zero value works.
type FlusherOptions struct {
	// Interval between flushes; default 5s. A node that crashes loses
	// what it counted since its last flush: at most one Interval.
	Interval time.Duration
	// Retries of one batch before it is dropped (and its usage lost);
	// default 3. The batch keeps its Seq, so a retry that the counters
	// had in fact booked counts once.
	Retries int
	Log     *slog.Logger
}

func (o FlusherOptions) withDefaults() FlusherOptions {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 3
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Flusher moves a Meter's counts into Counters every Interval.
type Flusher struct {
	node     string
	meter    *Meter
	counters Counters
	opts     FlusherOptions
	seq      int64
	now      func() time.Time
}

// NewFlusher flushes meter into counters as node (a name unique in the
// cluster and stable for the life of the process).
func NewFlusher(node string, meter *Meter, counters Counters, opts FlusherOptions) *Flusher {
	// Seq starts at the start time so that a restarted node with the same
	// name never reuses the (node, seq) of its previous life.
	return &Flusher{node: node, meter: meter, counters: counters, opts: opts.withDefaults(),
		seq: time.Now().UnixNano(), now: time.Now}
}

// Run flushes every Interval until ctx ends, then flushes once more
// (with a short context of its own, since ctx is done) and returns.
func (f *Flusher) Run(ctx context.Context) error {
	t := time.NewTicker(f.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return f.Flush(fctx)
		case <-t.C:
			if err := f.Flush(ctx); err != nil && ctx.Err() == nil {
				f.opts.Log.Error("billing: flush", "err", err)
			}
		}
	}
}

// Flush drains the meter and books it as one batch. On error the usage is
// lost after Retries attempts (the documented bound: one interval).
func (f *Flusher) Flush(ctx context.Context) error {
	now := f.now()
	ds := f.meter.Drain(now)
	if len(ds) == 0 {
		return nil
	}
	f.seq++
	// Booked to the hour the interval ends in: an interval straddling an
	// hour boundary lands wholly in the later hour (at most one interval
	// off, documented).
	b := Batch{Node: f.node, Seq: f.seq, Hour: HourOf(now), Deltas: ds}
	defer f.meter.settle(ds)
	var err error
	for range f.opts.Retries {
		if err = f.counters.Add(ctx, b); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}
