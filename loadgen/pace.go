package loadgen

import (
	"context"
	"time"
)

// pace calls op(1), op(2), … at rate per second for d (or until ctx
// ends), from one goroutine. A ticker fires once per operation up to
// 1,000/s and every millisecond above that, calling op for the operations
// due by then, so the load is spread evenly at millisecond resolution.
// After a stall (a GC pause, a slow op) the operations due are issued at
// once rather than dropped; op must not block for long.
func pace(ctx context.Context, d time.Duration, rate float64, op func(k int64)) {
	interval := time.Duration(float64(time.Second) / rate)
	t := time.NewTicker(max(interval, time.Millisecond))
	defer t.Stop()
	start := time.Now()
	var done int64
	run := func(now time.Time) {
		due := int64(now.Sub(start).Seconds()*rate) + 1 // the first goes at once
		for ; done < due; done++ {
			op(done + 1)
		}
	}
	run(start)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if now.Sub(start) >= d {
				return
			}
			run(now)
		}
	}
}
