// Package periodic runs the background loops of the node (sweeps,
// flushes, rollups, refreshes): one shape, so each owner states only what
// it does and how often.
package periodic

import (
	"context"
	"time"
)

// Every calls f every interval until ctx ends; the first call is one
// interval after the start.
func Every(ctx context.Context, interval time.Duration, f func(ctx context.Context)) {
	run(ctx, interval, false, f)
}

// NowAndEvery calls f at once and then every interval until ctx ends.
func NowAndEvery(ctx context.Context, interval time.Duration, f func(ctx context.Context)) {
	run(ctx, interval, true, f)
}

func run(ctx context.Context, interval time.Duration, now bool, f func(ctx context.Context)) {
	if now && ctx.Err() == nil {
		f(ctx)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}
