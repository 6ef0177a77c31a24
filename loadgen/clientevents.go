package loadgen

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"
)

// runClientEvents measures client events: --pairs socket pairs each
// subscribe to their own private channel (signed auth); the first of a
// pair sends client-bench events carrying a send timestamp, paced at
// --rate in total round-robin over the pairs, and the second times their
// arrival. The server must have client events enabled for the app; its
// per-socket rate limit (Pusher: 10/s) applies to --rate / --pairs.
func runClientEvents(ctx context.Context, cfg *Config, stderr io.Writer) (*Result, error) {
	res := newResult(cfg)
	r := newRunner(cfg)
	channels := make([]string, cfg.Pairs)
	for i := range channels {
		channels[i] = "private-bench-" + strconv.Itoa(i)
	}
	var rateLimited atomic.Int64
	r.hooks.pusherErr = func(_ *sock, code int, _ string) {
		if code == 4301 {
			rateLimited.Add(1)
		}
	}
	probe := &serverProbe{pid: cfg.ServerPID}
	probe.startRSS()
	socks, failures, err := setupSockets(ctx, cfg, r, stderr, 2*cfg.Pairs, func(ctx context.Context, s *sock) error {
		if err := s.subscribe(channels[s.idx/2], ""); err != nil {
			return err
		}
		return s.waitAck(ctx, 10*time.Second)
	})
	defer closeAll(socks)
	if err != nil {
		return nil, err
	}
	probe.sampleRSS()

	// Frames are built once per send in one buffer: the scheduler is the
	// only writer.
	frame := make([]byte, 0, cfg.Payload+128)
	prefix := make([][]byte, cfg.Pairs)
	for i, ch := range channels {
		prefix[i] = appendJSONString([]byte(`{"event":"client-bench","channel":`), []byte(ch))
	}
	seqs := make([]int64, cfg.Pairs)

	cpu0 := selfCPU()
	probe.startCPU()
	start := time.Now()
	var sent, sendErrors, noPair atomic.Int64
	var sentRate, recvRate rateMeter
	prog := startProgress(ctx, stderr, cfg.Quiet, func(_, since time.Duration) string {
		p99 := "-"
		if l := summarize(r.hist.merged()); l != nil {
			p99 = fmt.Sprintf("%.2fms", l.P99)
		}
		return fmt.Sprintf("sockets %d/%d  sent %.0f/s  recv %.0f/s  p99 %s  rate-limited %d  drops %d",
			r.open.Load(), 2*cfg.Pairs, sentRate.rate(sent.Load(), since), recvRate.rate(r.received(), since), p99, rateLimited.Load(), r.drops.Load())
	})
	pace(ctx, cfg.Duration, cfg.Rate, func(k int64) {
		p := int((k - 1) % int64(cfg.Pairs))
		from, to := socks[2*p], socks[2*p+1]
		if from == nil || to == nil {
			noPair.Add(1)
			return
		}
		seqs[p]++
		frame = append(frame[:0], prefix[p]...)
		frame = append(frame, `,"data":`...)
		frame = appendPayload(frame, time.Now().UnixNano(), seqs[p], cfg.Payload)
		frame = append(frame, '}')
		if from.write(frame) != nil {
			sendErrors.Add(1)
			return
		}
		sent.Add(1)
	})
	window := time.Since(start)
	inWindow := r.received()
	// Rejected events never arrive; only accepted ones are expected.
	drained := waitFor(ctx, cfg.Drain, func() bool { return r.received() >= sent.Load()-rateLimited.Load() })
	prog.stop()
	wall := time.Since(start)
	cpu := selfCPU().sub(cpu0)
	received := r.received()

	res.WallS = round3(window.Seconds())
	res.Counts = map[string]int64{
		"sockets":          r.open.Load(),
		"connect_failures": failures,
		"drops":            r.drops.Load(),
		"sent":             sent.Load(),
		"send_errors":      sendErrors.Load(),
		"skipped_no_pair":  noPair.Load(),
		"rate_limited":     rateLimited.Load(),
		"received":         received,
		"lost":             sent.Load() - rateLimited.Load() - received,
		"out_of_order":     r.reordered.Load(),
		"pusher_errors":    r.pusherErr.Load(),
	}
	res.Rates = map[string]float64{
		"sent_per_s":      round3(perSecond(sent.Load(), window)),
		"delivered_per_s": round3(perSecond(inWindow, window)),
		"target_per_s":    cfg.Rate,
	}
	res.LatencyMS = summarize(r.hist.merged())
	res.Errors = r.errs.snapshot()
	res.loadgenCPU(cpu, wall, received)
	probe.finish(res, received, 0, 0)
	if perSock := cfg.Rate / float64(cfg.Pairs); perSock > 10 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%.1f events/s per sending socket: above Pusher's default client-event limit of 10/s", perSock))
	}
	if sent.Load() > 0 && received == 0 && r.pusherErr.Load() > 0 {
		res.Warnings = append(res.Warnings, "nothing delivered and the server answered with pusher:error: are client events enabled for this app?")
	}
	if !drained {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d client events still missing after --drain %s", sent.Load()-rateLimited.Load()-received, cfg.Drain))
	}
	return res, nil
}
