package restapi

import (
	"context"
	"log/slog"
	"net/http"
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
	Publish(ctx context.Context, appID string, history bus.HistoryOptions, channels []string, event string, data []byte, excludeSocketID string) error
	TerminateUser(ctx context.Context, appID, userID string) error
}

// channelState is the part of the shared channel state (bus.State) the
// queries read.
type channelState interface {
	Channel(ctx context.Context, appID, channel string) (bus.Counts, error)
	Channels(ctx context.Context, appID, prefix string) (map[string]bus.Counts, error)
	Members(ctx context.Context, appID, channel string) ([]protocol.Member, error)
	Cache(ctx context.Context, appID, channel string) (bus.CachedEvent, bool, error)
}

var (
	_ appFinder    = (*tenants.Directory)(nil)
	_ publisher    = (*bus.Publisher)(nil)
	_ channelState = (bus.State)(nil)
)

// Options configure the API. Apps, Publisher and State are required; the
// zero value of every other field works.
type Options struct {
	Apps      appFinder    // *tenants.Directory
	Publisher publisher    // *bus.Publisher
	State     channelState // bus.State
	// Logger receives request failures; nil discards them.
	Logger *slog.Logger
	// Registry receives the HTTP metrics; nil registers none.
	Registry prometheus.Registerer
	// TimestampWindow is how far auth_timestamp may be from the server
	// clock, either way. Default 600 s.
	TimestampWindow time.Duration
	// MaxBodyBytes caps a request body, as sent and after gunzip; larger
	// bodies get 413 before they are read whole. Default 256 KiB.
	MaxBodyBytes int64
	// KeyUsed, when set, is told the auth_key of every request whose
	// signature holds (tenants.Directory.KeyUsed: an atomic store, batched
	// to the database later). It must not block.
	KeyUsed func(key string)
	// History reads the events the bus keeps of each channel
	// (GET …/channels/{name}/history); nil answers that none are kept.
	History bus.History
	// SharedRates, when set, makes the backend and read rate limits hold
	// across the cluster instead of per node.
	SharedRates sharedRates
	// Now is the clock for timestamps and rate limits; default time.Now.
	Now func() time.Time
	// Usage meters requests and publishes and enforces the daily message
	// quota (usage.go); nil meters nothing.
	Usage Usage
}

// DefaultMaxBodyBytes is the default request body cap: room for a full
// batch of ten 10 KB events with their JSON escaping.
const DefaultMaxBodyBytes = 256 << 10

// DefaultTimestampWindow is Pusher's auth_timestamp tolerance.
const DefaultTimestampWindow = 600 * time.Second

func (o Options) withDefaults() Options {
	if o.TimestampWindow <= 0 {
		o.TimestampWindow = DefaultTimestampWindow
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Usage == nil {
		o.Usage = noUsage{}
	}
	return o
}

// API serves the Pusher HTTP API under /apps/. It starts no goroutines
// and holds nothing that needs closing.
type API struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics

	lmu      sync.Mutex
	limiters map[string]*appLimiters // by app id, created lazily
}

// New builds the API. It panics if Apps, Publisher or State is nil (a
// wiring bug) and, like prometheus.MustRegister, if the metrics are
// already registered on opts.Registry.
func New(opts Options) *API {
	if opts.Apps == nil || opts.Publisher == nil || opts.State == nil {
		panic("restapi: New needs Options.Apps, Options.Publisher and Options.State")
	}
	opts = opts.withDefaults()
	return &API{opts: opts, log: opts.Logger, metrics: newMetrics(opts.Registry), limiters: map[string]*appLimiters{}}
}

// Handler returns an http.Handler that serves the API: a fresh echo with
// Register applied and the API's error handler, so every other path
// (and every error echo raises itself) gets the JSON error body.
func (a *API) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.handleError
	a.Register(e)
	return e
}

// Routes under /apps/:app_id; the full template is the endpoint label of
// the request metric.
const (
	routeEvents    = "/events"
	routeBatch     = "/batch_events"
	routeChannels  = "/channels"
	routeChannel   = "/channels/:channel_name"
	routeUsers     = "/channels/:channel_name/users"
	routeHistory   = "/channels/:channel_name/history"
	routeTerminate = "/users/:user_id/terminate_connections"
)

// Register mounts the API on e under /apps/ only: it adds no global
// middleware and leaves e's error handler alone, so e can serve other
// paths too. Unknown paths under /apps/ answer a JSON 404 and known paths
// with the wrong method a JSON 405, without authentication.
func (a *API) Register(e *echo.Echo) {
	// Handlers are wrapped here, once: echo applies route and group
	// middleware anew on every request, allocating a closure per layer.
	common := func(h echo.HandlerFunc) echo.HandlerFunc { return a.requestID(a.observe(h)) }
	g := e.Group("/apps")
	g.RouteNotFound("", common(a.notFound))
	g.RouteNotFound("/*", common(a.notFound))
	app := g.Group("/:app_id")
	app.RouteNotFound("", common(a.notFound))
	app.RouteNotFound("/*", common(a.notFound))
	route := func(method, path string, h authedHandler) {
		// Any first: the method's own route, added next, replaces it.
		app.Any(path, common(methodNotAllowed(method)))
		app.Add(method, path, common(a.authenticate(h)))
	}
	route(http.MethodPost, routeEvents, a.triggerEvent)
	route(http.MethodPost, routeBatch, a.triggerBatch)
	route(http.MethodGet, routeChannels, a.listChannels)
	route(http.MethodGet, routeChannel, a.getChannel)
	route(http.MethodGet, routeUsers, a.channelUsers)
	route(http.MethodGet, routeHistory, a.channelHistory)
	route(http.MethodPost, routeTerminate, a.terminateUser)
}

func (a *API) notFound(c echo.Context) error {
	r := c.Request()
	return fail(http.StatusNotFound, codeNotFound, "no such endpoint: "+r.Method+" "+truncate(r.URL.Path, 200))
}

func methodNotAllowed(allow string) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Allow", allow)
		return fail(http.StatusMethodNotAllowed, codeMethodNotAllowed, c.Request().Method+" is not allowed here; use "+allow)
	}
}
