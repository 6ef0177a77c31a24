package restapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// appFinder is the part of tenants.Directory the API needs.
type appFinder interface {
	AppByID(ctx context.Context, id string) (*tenants.App, error)
}

// publisher is where validated events go: the one publish path
// (bus.Publisher). Publishing never waits for subscribers.
type publisher interface {
	Publish(ctx context.Context, appID string, channels []string, event string, data []byte, excludeSocketID string) error
	TerminateUser(ctx context.Context, appID, userID string) error
}

// channelState is the shared channel state the queries read (bus.State).
type channelState interface {
	Channel(ctx context.Context, appID, channel string) (bus.Counts, error)
	Channels(ctx context.Context, appID, prefix string) (map[string]bus.Counts, error)
	Members(ctx context.Context, appID, channel string) ([]protocol.Member, error)
	Cache(ctx context.Context, appID, channel string) (bus.CachedEvent, bool, error)
}

// Options configure the API. Apps, Publisher and State are required.
type Options struct {
	Apps      appFinder
	Publisher publisher
	State     channelState
	Logger    *slog.Logger
	// Registry receives the HTTP metrics; nil registers none.
	Registry prometheus.Registerer
	// TimestampWindow is how far auth_timestamp may be from the server
	// clock. Default 600 s.
	TimestampWindow time.Duration
	// MaxBodyBytes caps a request body, compressed or not; larger bodies
	// get 413 before they are read whole. Default 256 KiB.
	MaxBodyBytes int64
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.TimestampWindow <= 0 {
		o.TimestampWindow = 600 * time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 256 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// API serves the Pusher HTTP API under /apps/.
type API struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics

	lmu      sync.Mutex
	limiters map[string]*appLimiters // by app id
}

// New builds the API.
func New(opts Options) *API {
	opts = opts.withDefaults()
	return &API{opts: opts, log: opts.Logger, metrics: newMetrics(opts.Registry), limiters: map[string]*appLimiters{}}
}

// Handler returns an http.Handler serving the API (and 404 for anything
// outside it).
func (a *API) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	a.Register(e)
	return e
}

// Register mounts the API's routes and error handling on e.
func (a *API) Register(e *echo.Echo) {
	e.HTTPErrorHandler = errorHandler(a.log)
	e.Use(a.requestID, a.observe)
	g := e.Group("/apps/:app_id", a.authenticate)
	g.POST("/events", a.triggerEvent)
	g.POST("/batch_events", a.triggerBatch)
	g.GET("/channels", a.listChannels)
	g.GET("/channels/:channel_name", a.getChannel)
	g.GET("/channels/:channel_name/users", a.channelUsers)
	g.POST("/users/:user_id/terminate_connections", a.terminateUser)
	notFound := func(c echo.Context) error {
		return fail(http.StatusNotFound, "not_found", "no such endpoint: "+c.Request().Method+" "+c.Request().URL.Path)
	}
	e.Any("/apps/*", notFound)
	e.RouteNotFound("/*", notFound)
}

const requestIDHeader = "X-Request-Id"

func (a *API) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(requestIDHeader)
		if id == "" || len(id) > 128 {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(requestIDHeader, id)
		c.Response().Header().Set(requestIDHeader, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(requestIDHeader).(string)
	return id
}

// observe counts requests by route and status and logs failures.
func (a *API) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		route := c.Path()
		if route == "" || route == "/*" || route == "/apps/*" {
			route = "other"
		}
		a.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		if status >= 400 {
			a.log.Info("request refused", "request_id", requestID(c), "method", c.Request().Method,
				"route", route, "status", status, "app_id", c.Param("app_id"))
		}
		return nil
	}
}

type metrics struct {
	requests *prometheus.CounterVec
	publish  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_api_requests_total", Help: "HTTP API requests by route and status.",
		}, []string{"endpoint", "status"}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "switchboard_api_publish_duration_seconds", Help: "Time to validate and hand a publish request's events to the bus.",
			Buckets: prometheus.ExponentialBuckets(0.00002, 2.5, 12),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.publish)
	}
	return m
}
