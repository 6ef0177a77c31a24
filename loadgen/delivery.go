package loadgen

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"
)

// runDelivery runs fanout, channels and publish: sockets subscribe to
// public channels, events go in through the HTTP API, and every delivery
// is timed from the send timestamp in its payload.
//
//   - fanout: Subs sockets on one channel, events paced at Rate.
//   - channels: Channels × SubsPerChannel sockets, events paced at Rate
//     round-robin over the channels.
//   - publish: Concurrency requests back to back (the server's publish
//     throughput), with Subs sockets on the channel.
func runDelivery(ctx context.Context, cfg *Config, stderr io.Writer) (*Result, error) {
	res := newResult(cfg)
	var channels []string
	switch cfg.Scenario {
	case "fanout":
		channels = []string{"bench-fanout"}
	case "publish":
		channels = []string{"bench-publish"}
	case "channels":
		channels = make([]string, cfg.Channels)
		for i := range channels {
			channels[i] = "bench-ch-" + strconv.Itoa(i)
		}
	}
	nSocks := cfg.sockets()
	r := newRunner(cfg)
	probe := &serverProbe{pid: cfg.ServerPID}
	probe.startRSS()

	setup := func(ctx context.Context, s *sock) error {
		if err := s.subscribe(channels[s.idx%len(channels)], ""); err != nil {
			return err
		}
		return s.waitAck(ctx, 10*time.Second)
	}
	socks, failures, err := setupSockets(ctx, cfg, r, stderr, nSocks, setup)
	if err != nil {
		closeAll(socks)
		return nil, err
	}
	if cfg.Reconnect {
		k := r.keep(ctx, socks, setup)
		defer k.close()
	} else {
		defer closeAll(socks)
	}
	subsOn := make([]int64, len(channels))
	var subscribed int64
	for _, s := range socks {
		if s != nil {
			subsOn[s.idx%len(channels)]++
			subscribed++
		}
	}
	probe.sampleRSS()

	workers := cfg.Publishers
	if cfg.Scenario == "publish" {
		workers = cfg.Concurrency
	}
	pub := newPublisher(cfg, channels, &r.errs)

	cpu0 := selfCPU()
	probe.startCPU()
	start := time.Now()
	var pubRate, recvRate rateMeter
	lastCPU := cpu0
	prog := startProgress(ctx, stderr, cfg.Quiet, func(_, since time.Duration) string {
		cpu := selfCPU()
		util := (cpu.total() - lastCPU.total()).Seconds() / since.Seconds()
		lastCPU = cpu
		p99 := "-"
		if l := summarize(r.hist.merged()); l != nil {
			p99 = fmt.Sprintf("%.2fms", l.P99)
		}
		return fmt.Sprintf("sockets %d/%d  pub %.0f/s  recv %.0f/s  p99 %s  pub-err %d  drops %d  loadgen-cpu %.0f%%",
			r.open.Load(), nSocks, pubRate.rate(pub.sent.Load(), since), recvRate.rate(r.received(), since),
			p99, pub.failed.Load(), r.drops.Load(), util*100)
	})
	if cfg.Scenario == "publish" {
		pub.runClosed(ctx, cfg.Duration, cfg.Concurrency)
	} else {
		pub.runPaced(ctx, cfg.Duration, cfg.Rate, cfg.Publishers)
	}
	window := time.Since(start)
	inWindow := r.received()
	var expected int64
	for i := range channels {
		expected += subsOn[i] * pub.sentOn(i)
	}
	drained := waitFor(ctx, cfg.Drain, func() bool { return r.received() >= expected })
	prog.stop()
	wall := time.Since(start)
	cpu := selfCPU().sub(cpu0)
	received := r.received()

	res.WallS = round3(window.Seconds())
	res.Counts = map[string]int64{
		"sockets":          subscribed,
		"connect_failures": failures,
		"drops":            r.drops.Load(),
		"reconnects":       r.reopened.Load(),
		"published":        pub.totalOK(),
		"publish_errors":   pub.failed.Load(),
		"expected":         expected,
		"received":         received,
		"lost":             expected - received,
		"out_of_order":     r.reordered.Load(),
		"pusher_errors":    r.pusherErr.Load(),
	}
	if cfg.Scenario != "publish" {
		res.Counts["publish_skipped"] = pub.skipped.Load()
	}
	res.Rates = map[string]float64{
		"publish_per_s":   round3(perSecond(pub.totalOK(), window)),
		"delivered_per_s": round3(perSecond(inWindow, window)),
	}
	if cfg.Scenario != "publish" {
		res.Rates["target_publish_per_s"] = cfg.Rate
	}
	res.LatencyMS = summarize(r.hist.merged())
	res.PublishLatencyMS = summarize(pub.hist.merged())
	res.Errors = r.errs.snapshot()
	res.loadgenCPU(cpu, wall, received)
	probe.finish(res, received, pub.totalOK(), subscribed)
	if !drained {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d messages still missing after --drain %s", expected-received, cfg.Drain))
	}
	if sk := pub.skipped.Load(); cfg.Scenario != "publish" && sk > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"%d scheduled publishes skipped because all %d publishers were busy: the offered rate was %.0f/s, not %.0f/s (raise --publishers)",
			sk, cfg.Publishers, res.Rates["publish_per_s"], cfg.Rate))
	}
	if workers > 1 && r.reordered.Load() > 0 {
		res.Warnings = append(res.Warnings, "out_of_order counts events overtaken on the way; with several requests in flight they race each other, so only --publishers 1 makes it a server property")
	}
	return res, nil
}

// setupSockets opens n sockets with a progress line and the setup
// timeout. It fails when no socket could be set up at all.
func setupSockets(ctx context.Context, cfg *Config, r *runner, stderr io.Writer, n int, setup func(context.Context, *sock) error) ([]*sock, int64, error) {
	if n == 0 {
		return nil, 0, nil
	}
	setupCtx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	defer cancel()
	var m rateMeter
	prog := startProgress(setupCtx, stderr, cfg.Quiet, func(_, since time.Duration) string {
		open := r.open.Load()
		return fmt.Sprintf("setup: sockets %d/%d  (%.0f/s)", open, n, m.rate(open, since))
	})
	socks, failures := r.openSockets(setupCtx, 0, n, setup)
	prog.stop()
	if ctx.Err() != nil {
		return socks, failures, ctx.Err()
	}
	if failures == int64(n) {
		return socks, failures, fmt.Errorf("no socket could be set up against %s: %s", r.wsURL, formatMap(r.errs.snapshot()))
	}
	return socks, failures, nil
}

// waitFor polls cond every 5 ms until it holds, d passes or ctx ends.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-t.C:
		}
	}
	return true
}

func newResult(cfg *Config) *Result {
	return &Result{
		Scenario: cfg.Scenario,
		Label:    cfg.Label,
		Start:    time.Now().UTC(),
		Target:   cfg.target(),
		Params:   cfg.params(),
		Loadgen:  LoadgenStats{Procs: 1},
	}
}
