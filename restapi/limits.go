package restapi

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// limit is an app's effective count limit: negative (tenants.Unlimited)
// is no limit, zero (a field a store left unset) is the protocol default.
func limit(n, def int) int {
	switch {
	case n < 0:
		return math.MaxInt
	case n == 0:
		return def
	}
	return n
}

func maxChannels(app *tenants.App) int {
	return limit(app.MaxEventChannelsAtOnce, protocol.DefaultMaxEventChannels)
}

func maxBatch(app *tenants.App) int {
	return limit(app.MaxEventBatchSize, protocol.DefaultMaxEventBatchSize)
}

func maxEventName(app *tenants.App) int {
	return limit(app.MaxEventNameLength, protocol.DefaultMaxEventNameLength)
}

func maxChannelName(app *tenants.App) int {
	return limit(app.MaxChannelNameLength, protocol.DefaultMaxChannelNameLength)
}

func maxPayload(app *tenants.App) int {
	if app.MaxEventPayloadInKB < 0 {
		return math.MaxInt // still bounded by Options.MaxBodyBytes
	}
	return limit(app.MaxEventPayloadBytes(), protocol.DefaultMaxEventPayloadKB*1024)
}

// appLimiters are one app's per-second rate limiters, built for the rates
// (and batch size) they were made with; limitersFor replaces them when the
// app's configuration changes. A nil limiter is unlimited.
type appLimiters struct {
	backendRate, readRate, batch int
	backend, read                *rate.Limiter
}

// newLimiter is a token bucket refilled at perSecond with room for burst
// tokens. Zero allows nothing; negative allows everything.
func newLimiter(perSecond, burst int) *rate.Limiter {
	if perSecond < 0 {
		return nil
	}
	if perSecond == 0 {
		return rate.NewLimiter(0, 0)
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(perSecond, burst, 1))
}

func (a *API) limitersFor(app *tenants.App) *appLimiters {
	batch := min(maxBatch(app), 1000)
	a.lmu.Lock()
	defer a.lmu.Unlock()
	l := a.limiters[app.ID]
	if l == nil || l.backendRate != app.MaxBackendEventsPerSecond || l.readRate != app.MaxReadRequestsPerSecond || l.batch != batch {
		l = &appLimiters{
			backendRate: app.MaxBackendEventsPerSecond, readRate: app.MaxReadRequestsPerSecond, batch: batch,
			// The backend bucket holds at least one full batch, so a batch
			// larger than the per-second rate is delayed, never refused
			// for ever.
			backend: newLimiter(app.MaxBackendEventsPerSecond, batch),
			read:    newLimiter(app.MaxReadRequestsPerSecond, 1),
		}
		a.limiters[app.ID] = l
	}
	return l
}

// take spends n tokens or returns a 429 whose Retry-After says when n
// tokens will be there. n is capped at the bucket size. The limit's name
// and value only go into the message of a refusal.
func take(l *rate.Limiter, n int, name string, perSecond int, now time.Time) error {
	if l == nil {
		return nil
	}
	n = min(n, max(l.Burst(), 1))
	if l.AllowN(now, n) {
		return nil
	}
	retry := 1
	if r := l.ReserveN(now, n); r.OK() {
		if d := r.DelayFrom(now); d > 0 {
			retry = max(1, int(math.Ceil(d.Seconds())))
		}
		r.CancelAt(now)
	}
	return rateLimited(name, perSecond, retry)
}

// rateLimited is the 429 for a limit, with Retry-After in seconds.
func rateLimited(name string, perSecond, retry int) error {
	e := fail(http.StatusTooManyRequests, codeRateLimited, fmt.Sprintf(
		"Rate limit exceeded: %s is %d; retry after %d s", name, perSecond, retry))
	e.RetryAfter = retry
	return e
}

// sharedRates shares an app's per-second limits among the nodes
// (redisbus.Rates): n tokens of the limit name, perSecond across the
// cluster; retry is the wait before a refused request may succeed.
type sharedRates interface {
	Take(ctx context.Context, appID, name string, n, perSecond int) (ok bool, retry time.Duration, err error)
}

// allowPublish takes one token per event from the app's
// max_backend_events_per_second.
func (a *API) allowPublish(ctx context.Context, app *tenants.App, events int) error {
	if app.MaxBackendEventsPerSecond < 0 {
		return nil
	}
	const name = "max_backend_events_per_second"
	if err, ok := a.takeShared(ctx, app, name, events, app.MaxBackendEventsPerSecond); ok {
		return err
	}
	return take(a.limitersFor(app).backend, events, name, app.MaxBackendEventsPerSecond, a.opts.Now())
}

// allowRead takes one token from the app's max_read_requests_per_second.
func (a *API) allowRead(ctx context.Context, app *tenants.App) error {
	if app.MaxReadRequestsPerSecond < 0 {
		return nil
	}
	const name = "max_read_requests_per_second"
	if err, ok := a.takeShared(ctx, app, name, 1, app.MaxReadRequestsPerSecond); ok {
		return err
	}
	return take(a.limitersFor(app).read, 1, name, app.MaxReadRequestsPerSecond, a.opts.Now())
}

// takeShared applies a limit across the cluster; decided is false when
// there is no shared limit or it cannot be reached, and the node's own
// limiter decides instead (a node alone never admits more than the
// cluster would).
func (a *API) takeShared(ctx context.Context, app *tenants.App, name string, n, perSecond int) (err error, decided bool) {
	if a.opts.SharedRates == nil {
		return nil, false
	}
	ok, retry, err := a.opts.SharedRates.Take(ctx, app.ID, name, n, perSecond)
	if err != nil {
		a.log.Warn("shared rate limit unreachable; applying this node's own", "app_id", app.ID, "limit", name, "err", err)
		return nil, false
	}
	if ok {
		return nil, true
	}
	return rateLimited(name, perSecond, max(1, int(math.Ceil(retry.Seconds())))), true
}
