package restapi

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

const requestIDHeader = "X-Request-Id"

// requestID takes the caller's X-Request-Id (if it is short and printable)
// or makes one, echoes it in the response and keeps it for the logs.
func (a *API) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(requestIDHeader)
		if !validRequestID(id) {
			// An id only has to tell requests apart in the logs, so the
			// runtime's per-thread generator does: crypto/rand cost a
			// third of a microsecond per request.
			var b [8]byte
			var h [16]byte
			binary.BigEndian.PutUint64(b[:], rand.Uint64())
			hex.Encode(h[:], b[:])
			id = string(h[:])
		}
		c.Response().Header()[requestIDHeader] = []string{id}
		return next(c)
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(requestIDHeader)
}

// observe is the request boundary: it turns a handler's error (or panic)
// into the response through handleError, counts the request by route and
// status, and logs refusals with the request id.
func (a *API) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := a.recovered(next, c)
		if err != nil {
			a.handleError(err, c)
		}
		status := c.Response().Status
		route := c.Path()
		switch route {
		case "/apps", "/apps/*", "/apps/:app_id", "/apps/:app_id/*", "":
			route = "other" // unknown paths: keep the label bounded
		}
		a.metrics.request(route, status).Inc()
		level := slog.LevelDebug
		if status >= 400 && status != http.StatusTooManyRequests && status != http.StatusNotFound {
			level = slog.LevelInfo
		}
		if a.log.Enabled(c.Request().Context(), level) {
			msg := "request"
			if status >= 400 {
				msg = "request refused"
			}
			attrs := []slog.Attr{
				slog.String("request_id", requestID(c)), slog.String("method", c.Request().Method),
				slog.String("route", route), slog.Int("status", status), slog.String("app_id", c.Param("app_id")),
			}
			var ae *apiError
			if errors.As(err, &ae) {
				attrs = append(attrs, slog.String("code", ae.Code))
			}
			a.log.LogAttrs(c.Request().Context(), level, msg, attrs...)
		}
		return nil
	}
}

// recovered runs next; a panic is a bug in this package, so it is logged
// with its stack and answered as a 500 for this request only.
func (a *API) recovered(next echo.HandlerFunc, c echo.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.log.Error("panic serving request", "request_id", requestID(c), "route", c.Path(),
				"err", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("restapi: panic: %v", p)
		}
	}()
	return next(c)
}

type metrics struct {
	requests *prometheus.CounterVec
	publish  prometheus.Histogram

	// counters caches requests' children: resolving labels hashes them
	// and formats the status on every request otherwise.
	mu       sync.RWMutex
	counters map[routeStatus]prometheus.Counter
}

type routeStatus struct {
	route  string
	status int
}

func (m *metrics) request(route string, status int) prometheus.Counter {
	k := routeStatus{route, status}
	m.mu.RLock()
	c := m.counters[k]
	m.mu.RUnlock()
	if c != nil {
		return c
	}
	c = m.requests.WithLabelValues(route, strconv.Itoa(status))
	m.mu.Lock()
	if m.counters == nil {
		m.counters = make(map[routeStatus]prometheus.Counter)
	}
	m.counters[k] = c // routes are templates and statuses few: bounded
	m.mu.Unlock()
	return c
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_api_requests_total",
			Help: "HTTP API requests by endpoint (route template) and status code.",
		}, []string{"endpoint", "status"}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "switchboard_api_publish_duration_seconds",
			Help: "Time from an authenticated publish request (events or batch_events) to its events being accepted by the bus.",
			// 20 µs … ~1.2 s: memory bus publishes take tens of µs, Redis ones ms.
			Buckets: prometheus.ExponentialBuckets(0.00002, 2.5, 13),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.publish)
	}
	return m
}
