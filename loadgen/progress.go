package loadgen

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints one line per second to w until stopped: the scenario's
// line function sees the time since start and the time since its last
// call, so it can print rates.
type progress struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startProgress(ctx context.Context, w io.Writer, quiet bool, line func(elapsed, since time.Duration) string) *progress {
	ctx, cancel := context.WithCancel(ctx)
	p := &progress{cancel: cancel}
	if quiet {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start, last := time.Now(), time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				fmt.Fprintf(w, "[%5.1fs] %s\n", now.Sub(start).Seconds(), line(now.Sub(start), now.Sub(last)))
				last = now
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	p.cancel()
	p.wg.Wait()
}

// perSecond turns a counter delta over d into a rate.
func perSecond(delta int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(delta) / d.Seconds()
}

// rateMeter remembers a counter's last value to print its rate.
type rateMeter struct{ last int64 }

func (m *rateMeter) rate(now int64, d time.Duration) float64 {
	r := perSecond(now-m.last, d)
	m.last = now
	return r
}
