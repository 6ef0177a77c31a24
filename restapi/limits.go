package restapi

import (
	"math"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard-rt/switchboard/tenants"
)

// appLimiters are one app's per-second limits. They are rebuilt when the
// app's configured rates change.
type appLimiters struct {
	backendRate, readRate int
	backend, read         *rate.Limiter // nil when unlimited
}

func newLimiter(perSecond int) *rate.Limiter {
	if perSecond < 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(perSecond, 1))
}

func (a *API) limitersFor(app *tenants.App) *appLimiters {
	a.lmu.Lock()
	defer a.lmu.Unlock()
	l := a.limiters[app.ID]
	if l == nil || l.backendRate != app.MaxBackendEventsPerSecond || l.readRate != app.MaxReadRequestsPerSecond {
		l = &appLimiters{
			backendRate: app.MaxBackendEventsPerSecond, readRate: app.MaxReadRequestsPerSecond,
			backend: newLimiter(app.MaxBackendEventsPerSecond), read: newLimiter(app.MaxReadRequestsPerSecond),
		}
		a.limiters[app.ID] = l
	}
	return l
}

// take spends n tokens or returns a 429 saying when to retry.
func take(l *rate.Limiter, n int, what string, now time.Time) error {
	if l == nil || l.AllowN(now, n) {
		return nil
	}
	retry := 1
	if n <= l.Burst() {
		r := l.ReserveN(now, n)
		if d := r.DelayFrom(now); d > 0 {
			retry = int(math.Ceil(d.Seconds()))
		}
		r.CancelAt(now)
	}
	e := fail(http.StatusTooManyRequests, "rate_limited", what+" rate limit exceeded; retry later")
	e.RetryAfter = retry
	return e
}

func (a *API) allowPublish(app *tenants.App, events int) error {
	if app.MaxBackendEventsPerSecond == 0 {
		return take(rate.NewLimiter(0, 0), events, "max_backend_events_per_second", a.opts.Now())
	}
	return take(a.limitersFor(app).backend, events, "max_backend_events_per_second", a.opts.Now())
}

func (a *API) allowRead(app *tenants.App) error {
	if app.MaxReadRequestsPerSecond == 0 {
		return take(rate.NewLimiter(0, 0), 1, "max_read_requests_per_second", a.opts.Now())
	}
	return take(a.limitersFor(app).read, 1, "max_read_requests_per_second", a.opts.Now())
}
