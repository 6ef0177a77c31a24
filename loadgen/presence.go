package loadgen

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Churner states.
const (
	churnIdle int32 = iota
	churnPending
	churnMember
)

type churner struct {
	s       *sock
	channel string
	data    string // signed channel_data
	state   atomic.Int32
	sentAt  atomic.Int64 // unix ns of the last subscribe
}

// runPresence measures presence churn: --sockets sockets join and leave
// presence channels (signed channel_data, one user per socket) at --rate
// operations per second, while observers that stay subscribed count the
// member_added / member_removed frames they receive.
//
// Latency is join → member_added at an observer; the subscribe →
// subscription_succeeded round trip is reported separately. Expected
// member events assume no presence grace period: a server that holds
// member_removed (Switchboard's --presence-grace, 3s by default) and
// sees the same user rejoin within it sends neither frame, which shows as
// fewer events than expected — run with the grace off, or with
// --sockets/--rate × 2 longer than the grace, to count every one.
func runPresence(ctx context.Context, cfg *Config, stderr io.Writer) (*Result, error) {
	res := newResult(cfg)
	r := newRunner(cfg)
	nCh := cfg.presenceChannels()
	channels := make([]string, nCh)
	for i := range channels {
		channels[i] = "presence-bench-" + strconv.Itoa(i)
	}
	nObs := nCh * cfg.Observers
	churners := make([]*churner, cfg.Sockets)
	for i := range churners {
		ch := channels[i%nCh]
		churners[i] = &churner{channel: ch, data: `{"user_id":"churn-` + strconv.Itoa(i) + `","user_info":{"bench":true}}`}
	}
	subHist := newHistogram()
	var added, removed, joinErrors atomic.Int64
	churnerOf := func(s *sock) *churner {
		if i := s.idx - nObs; i >= 0 && i < len(churners) {
			return churners[i]
		}
		return nil
	}
	r.hooks.subscribed = func(s *sock, _ string) {
		if c := churnerOf(s); c != nil && c.state.CompareAndSwap(churnPending, churnMember) {
			subHist.record(s.idx, (time.Now().UnixNano()-c.sentAt.Load())/1000)
		}
	}
	r.hooks.pusherErr = func(s *sock, _ int, _ string) {
		if c := churnerOf(s); c != nil && c.state.CompareAndSwap(churnPending, churnIdle) {
			joinErrors.Add(1)
		}
	}
	r.hooks.member = func(s *sock, _ string, userID string, isAdded bool) {
		id, ok := strings.CutPrefix(userID, "churn-")
		if !ok || s.idx >= nObs {
			return
		}
		if !isAdded {
			removed.Add(1)
			return
		}
		added.Add(1)
		if i, err := strconv.Atoi(id); err == nil && i >= 0 && i < len(churners) {
			r.hist.record(s.idx, (time.Now().UnixNano()-churners[i].sentAt.Load())/1000)
		}
	}

	probe := &serverProbe{pid: cfg.ServerPID}
	probe.startRSS()
	socks, failures, err := setupSockets(ctx, cfg, r, stderr, nObs+cfg.Sockets, func(ctx context.Context, s *sock) error {
		if s.idx >= nObs {
			churnerOf(s).s = s
			return nil
		}
		ch := s.idx / cfg.Observers
		if err := s.subscribe(channels[ch], `{"user_id":"obs-`+strconv.Itoa(s.idx)+`"}`); err != nil {
			return err
		}
		return s.waitAck(ctx, 10*time.Second)
	})
	defer closeAll(socks)
	if err != nil {
		return nil, err
	}
	// Observers per channel that actually subscribed.
	obsOn := make(map[string]int64, nCh)
	for i := 0; i < nObs; i++ {
		if socks[i] != nil {
			obsOn[channels[i/cfg.Observers]]++
		}
	}
	probe.sampleRSS()

	cpu0 := selfCPU()
	probe.startCPU()
	start := time.Now()
	var joins, leaves, busy, expAdded, expRemoved atomic.Int64
	var opsRate, addRate rateMeter
	prog := startProgress(ctx, stderr, cfg.Quiet, func(_, since time.Duration) string {
		p99 := "-"
		if l := summarize(r.hist.merged()); l != nil {
			p99 = fmt.Sprintf("%.2fms", l.P99)
		}
		return fmt.Sprintf("sockets %d  ops %.0f/s  member_added %.0f/s  removed %d  join→added p99 %s  errors %d",
			r.open.Load(), opsRate.rate(joins.Load()+leaves.Load(), since), addRate.rate(added.Load(), since), removed.Load(), p99, joinErrors.Load())
	})
	pace(ctx, cfg.Duration, cfg.Rate, func(k int64) {
		c := churners[(k-1)%int64(len(churners))]
		if c.s == nil {
			return
		}
		switch c.state.Load() {
		case churnIdle:
			c.sentAt.Store(time.Now().UnixNano())
			c.state.Store(churnPending)
			if c.s.subscribe(c.channel, c.data) == nil {
				joins.Add(1)
				expAdded.Add(obsOn[c.channel])
			}
		case churnMember:
			c.state.Store(churnIdle)
			if c.s.unsubscribe(c.channel) == nil {
				leaves.Add(1)
				expRemoved.Add(obsOn[c.channel])
			}
		default:
			busy.Add(1) // still waiting for subscription_succeeded
		}
	})
	window := time.Since(start)
	drained := waitFor(ctx, cfg.Drain, func() bool {
		return added.Load() >= expAdded.Load() && removed.Load() >= expRemoved.Load()
	})
	prog.stop()
	wall := time.Since(start)
	cpu := selfCPU().sub(cpu0)

	var subscribedObs int64
	for _, n := range obsOn {
		subscribedObs += n
	}
	res.WallS = round3(window.Seconds())
	res.Counts = map[string]int64{
		"sockets":                 r.open.Load(),
		"observers":               subscribedObs,
		"connect_failures":        failures,
		"drops":                   r.drops.Load(),
		"joins":                   joins.Load(),
		"leaves":                  leaves.Load(),
		"join_errors":             joinErrors.Load(),
		"ops_skipped_pending":     busy.Load(),
		"member_added":            added.Load(),
		"member_added_expected":   expAdded.Load(),
		"member_removed":          removed.Load(),
		"member_removed_expected": expRemoved.Load(),
		"pusher_errors":           r.pusherErr.Load(),
	}
	res.Rates = map[string]float64{
		"ops_per_s":           round3(perSecond(joins.Load()+leaves.Load(), window)),
		"member_events_per_s": round3(perSecond(added.Load()+removed.Load(), wall)),
		"target_ops_per_s":    cfg.Rate,
	}
	res.LatencyMS = summarize(r.hist.merged())
	res.SubscribeLatencyMS = summarize(subHist.merged())
	res.Errors = r.errs.snapshot()
	res.loadgenCPU(cpu, wall, added.Load()+removed.Load())
	probe.finish(res, added.Load()+removed.Load(), 0, 0)
	if !drained {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"member events short of expected after --drain %s (added %d/%d, removed %d/%d); a presence grace period on the server suppresses quick leave-rejoin pairs",
			cfg.Drain, added.Load(), expAdded.Load(), removed.Load(), expRemoved.Load()))
	}
	return res, nil
}
