package loadgen

import (
	"context"
	"fmt"
	"io"
	"time"
)

// runConnections opens idle sockets, holds them, and reports how fast
// they opened, how many failed or were dropped during the hold, and how
// much server memory each one costs.
func runConnections(ctx context.Context, cfg *Config, stderr io.Writer, link *childLink) (*Result, error) {
	res := newResult(cfg)
	n := cfg.sockets()
	r := newRunner(cfg)
	r.connectHist = newHistogram()
	probe := &serverProbe{pid: cfg.ServerPID}
	probe.startRSS()
	probe.startCPU()

	cpu0 := selfCPU()
	start := time.Now()
	socks, failures, err := setupSockets(ctx, cfg, r, stderr, n, nil)
	defer closeAll(socks)
	if err != nil && link == nil {
		return nil, err
	}
	connectDur := time.Since(start)
	connected := r.open.Load()
	if link != nil {
		// Every child holds its sockets from the same instant, when the
		// parent has seen them all open and sampled the server's RSS.
		if err := link.ready(ctx, connected); err != nil {
			return nil, err
		}
	}
	probe.sampleRSS()

	holdStart := time.Now()
	prog := startProgress(ctx, stderr, cfg.Quiet, func(el, _ time.Duration) string {
		probe.sampleRSS()
		return fmt.Sprintf("holding: open %d  drops %d  (%.0fs of %s)", r.open.Load(), r.drops.Load(), time.Since(holdStart).Seconds(), cfg.Hold)
	})
	hold := time.NewTimer(cfg.Hold)
	select {
	case <-hold.C:
	case <-ctx.Done():
	}
	hold.Stop()
	prog.stop()
	probe.sampleRSS()
	openAtEnd := r.open.Load()
	wall := time.Since(start)
	cpu := selfCPU().sub(cpu0)

	res.WallS = round3(wall.Seconds())
	res.Counts = map[string]int64{
		"sockets":          connected,
		"connect_failures": failures,
		"drops":            r.drops.Load(),
		"open_at_end":      openAtEnd,
		"pusher_errors":    r.pusherErr.Load(),
	}
	res.Rates = map[string]float64{
		"connects_per_s": round3(perSecond(connected, connectDur)),
		"connect_s":      round3(connectDur.Seconds()),
	}
	ch := r.connectHist.merged()
	res.ConnectLatencyMS = summarize(ch)
	res.Errors = r.errs.snapshot()
	res.loadgenCPU(cpu, wall, 0)
	probe.finish(res, 0, 0, connected)
	if link != nil {
		res.Hist = encodeHist(ch)
	}
	if ctx.Err() != nil {
		res.Warnings = append(res.Warnings, "interrupted before the end of --hold")
	}
	return res, nil
}
