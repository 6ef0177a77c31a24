package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffyaml"
)

// serveConfig is every setting of `switchboard serve`. Each flag has a
// SWITCHBOARD_* environment variable (upper case, dashes as underscores)
// and a key of the same name in the optional JSON config file; flags beat
// the environment, which beats the file, which beats the defaults.
type serveConfig struct {
	Roles             roles // roles.go
	Host              string
	Port              int
	AppsFile          string
	MetricsAddr       string
	PprofAddr         string
	TLSCert           string
	TLSKey            string
	TLSReloadInterval time.Duration
	LogLevel          slog.Level
	LogFormat         string

	ActivityTimeout          time.Duration
	PongTimeout              time.Duration
	MaxQueueBytes            int
	MaxFrameBytes            int
	MaxChannelsPerConnection int
	PresenceGrace            time.Duration
	SubscriptionCountDelay   time.Duration
	CacheTTL                 time.Duration
	DrainTimeout             time.Duration
	TimestampWindow          time.Duration
	MaxRequestBytes          int64

	// webhooks (webhooks.go)
	WebhooksAllowPrivate bool
	WebhooksClaimAfter   time.Duration

	// bus (redis.go)
	RedisURL      string
	RedisMode     string
	RedisPrefix   string
	NodeTimeout   time.Duration
	HistoryLength int
	HistoryMaxAge time.Duration

	// web dashboard
	DashboardSignUp        bool
	DashboardSecureCookies bool
	DashboardSessionTTL    time.Duration

	// metering, quotas and Stripe (billing.go)
	Billing billingConfig

	// control plane (database.go)
	DB          dbConfig
	Migrate     bool
	AppCacheTTL time.Duration
}

func (c serveConfig) addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

func parseServeConfig(args []string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("switchboard serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rolesFlag := fs.String("roles", defaultRoles, "roles this node runs, comma-separated: edge (WebSockets, HTTP fallbacks, SSE), api (Pusher HTTP API), control (management API, dashboard, webhook delivery, background jobs)")
	fs.StringVar(&c.Host, "host", "", "address to listen on (empty: every interface, IPv4 and IPv6)")
	fs.IntVar(&c.Port, "port", 6001, "port for WebSockets (/app/{key}) and the HTTP API (/apps/{id}/…)")
	fs.StringVar(&c.AppsFile, "apps-file", "", "JSON file with an array of apps to load at start-up")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve /metrics on this address instead of the main port")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) file: serve wss:// and https:// on the main port; reloaded when it changes, open sockets keep theirs")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file for --tls-cert")
	fs.DurationVar(&c.TLSReloadInterval, "tls-reload-interval", 10*time.Second, "how often --tls-cert and --tls-key are checked for a change")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "serve net/http/pprof on this loopback address (off by default)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.String("config", "", "optional config file (YAML or JSON) whose keys are these flags' names")

	fs.DurationVar(&c.ActivityTimeout, "activity-timeout", 120*time.Second, "ping a client silent this long; sent to clients as activity_timeout (whole seconds)")
	fs.DurationVar(&c.PongTimeout, "pong-timeout", 30*time.Second, "close a pinged client with 4201 if it does not answer within this")
	fs.IntVar(&c.MaxQueueBytes, "max-queue-bytes", 1<<20, "bytes queued for one socket before it is closed with 4100 as a slow consumer")
	fs.IntVar(&c.MaxFrameBytes, "max-frame-bytes", 64<<10, "largest frame a client may send; larger ones close the socket with 1009")
	fs.IntVar(&c.MaxChannelsPerConnection, "max-channels-per-connection", 1000, "channels one socket may subscribe to")
	fs.DurationVar(&c.PresenceGrace, "presence-grace", 3*time.Second, "hold member_removed and watchlist offline this long (a reload within it produces neither); 0 disables")
	fs.DurationVar(&c.SubscriptionCountDelay, "subscription-count-delay", 250*time.Millisecond, "coalesce subscription_count broadcasts of a channel over this window")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", 30*time.Minute, "how long cache channels keep their last event")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 10*time.Second, "on SIGTERM, how long clients get to leave after 4200 before the process exits")
	fs.DurationVar(&c.TimestampWindow, "timestamp-window", 600*time.Second, "HTTP API: accepted distance of auth_timestamp from the server clock")
	fs.Int64Var(&c.MaxRequestBytes, "max-request-bytes", 256<<10, "HTTP API: largest request body")
	fs.BoolVar(&c.WebhooksAllowPrivate, "webhooks-allow-private", false, "let webhook URLs set through the management API or CLI reach private, loopback and link-local addresses (apps-file URLs always may)")
	fs.DurationVar(&c.WebhooksClaimAfter, "webhooks-claim-after", 30*time.Second, "with --redis-url: a webhook job a node took and did not finish in this long (the node died) is delivered by another node; keep it above the 10 s request timeout")
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis URL (redis://host:6379/0) for the bus and shared channel state of several nodes; empty: in memory, one node")
	fs.StringVar(&c.RedisMode, "redis-mode", "single", "how to read --redis-url: single (one Redis), cluster (Redis Cluster, sharded pub/sub; more nodes as ?addr=host:port) or sentinel (the URL names Sentinels, ?master_name= the primary)")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "sb:", "prefix of every Redis key and channel, so deployments can share a Redis")
	fs.IntVar(&c.HistoryLength, "history-length", 10_000, "the most events any channel keeps for gap-fill and the history API, whatever its app's history_max_events and plan allow (history is per app and opt-in); 0 turns history off on this server")
	fs.DurationVar(&c.HistoryMaxAge, "history-max-age", 24*time.Hour, "the longest any channel keeps an event, whatever its app's history_max_age_seconds and plan allow; 0: no server-wide age limit")
	fs.DurationVar(&c.NodeTimeout, "node-timeout", 15*time.Second, "with --redis-url: a node silent this long is taken for dead and its sockets are removed from the shared state (member_removed sent); nodes heartbeat every third of it")
	fs.BoolVar(&c.DashboardSignUp, "dashboard-sign-up", false, "let anyone create a tenant (free plan) and its owner at /dashboard/sign-up; off, tenants come from the operator and users from their owners")
	fs.BoolVar(&c.DashboardSecureCookies, "dashboard-secure-cookies", false, "mark dashboard cookies Secure even on plain HTTP: set it behind a proxy that terminates TLS (requests over TLS get Secure cookies anyway)")
	fs.DurationVar(&c.DashboardSessionTTL, "dashboard-session-ttl", 12*time.Hour, "how long a dashboard sign-in lasts")
	c.DB.register(fs)
	c.Billing.register(fs)
	fs.BoolVar(&c.Migrate, "migrate", false, "apply pending database migrations at start-up (needs --database-url)")
	fs.DurationVar(&c.AppCacheTTL, "app-cache-ttl", 30*time.Second, "with a database: longest a node serves a cached app; changes reach every node at once through LISTEN/NOTIFY, this only bounds a broken feed")

	err := ff.Parse(fs, args,
		ff.WithEnvVarPrefix("SWITCHBOARD"),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(parseConfigFile),
	)
	if errors.Is(err, flag.ErrHelp) {
		return c, errHelp
	}
	if err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", *level)
	}
	if c.Roles, err = parseRoles(*rolesFlag); err != nil {
		return c, err
	}
	return c, c.validate()
}

// parseConfigFile reads the config file as JSON when it starts with "{",
// else as YAML, which operators usually write.
func parseConfigFile(r io.Reader, set func(name, value string) error) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		return ff.JSONParser(bytes.NewReader(b), set)
	}
	return ffyaml.Parser(bytes.NewReader(b), set)
}

func (c serveConfig) validate() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("--port: %d is not a port number (0-65535)", c.Port)
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("--log-format: %q is not text or json", c.LogFormat)
	case c.ActivityTimeout < time.Second:
		return fmt.Errorf("--activity-timeout: %s is less than 1s (clients get it in whole seconds)", c.ActivityTimeout)
	case c.PongTimeout <= 0:
		return fmt.Errorf("--pong-timeout: must be positive, got %s", c.PongTimeout)
	case c.MaxQueueBytes < 64<<10:
		return fmt.Errorf("--max-queue-bytes: %d is below 65536", c.MaxQueueBytes)
	case c.MaxFrameBytes < 1024:
		return fmt.Errorf("--max-frame-bytes: %d is below 1024", c.MaxFrameBytes)
	case c.MaxChannelsPerConnection < 1:
		return fmt.Errorf("--max-channels-per-connection: must be at least 1, got %d", c.MaxChannelsPerConnection)
	case c.WebhooksClaimAfter < time.Second:
		return fmt.Errorf("--webhooks-claim-after: must be at least 1s, got %s", c.WebhooksClaimAfter)
	case c.HistoryLength < 0 || c.HistoryLength > 100_000:
		return fmt.Errorf("--history-length: must be between 0 and 100000, got %d", c.HistoryLength)
	case c.HistoryMaxAge < 0:
		return fmt.Errorf("--history-max-age: must not be negative, got %s", c.HistoryMaxAge)
	case c.NodeTimeout < time.Second:
		return fmt.Errorf("--node-timeout: must be at least 1s, got %s", c.NodeTimeout)
	case c.PresenceGrace < 0:
		return fmt.Errorf("--presence-grace: must not be negative, got %s", c.PresenceGrace)
	case c.SubscriptionCountDelay < 0:
		return fmt.Errorf("--subscription-count-delay: must not be negative, got %s", c.SubscriptionCountDelay)
	case c.CacheTTL <= 0:
		return fmt.Errorf("--cache-ttl: must be positive, got %s", c.CacheTTL)
	case c.DrainTimeout <= 0:
		return fmt.Errorf("--drain-timeout: must be positive, got %s", c.DrainTimeout)
	case c.TimestampWindow <= 0:
		return fmt.Errorf("--timestamp-window: must be positive, got %s", c.TimestampWindow)
	case c.MaxRequestBytes < 1024:
		return fmt.Errorf("--max-request-bytes: %d is below 1024", c.MaxRequestBytes)
	case c.Migrate && c.DB.DatabaseURL == "":
		return errors.New("--migrate: needs --database-url (or SWITCHBOARD_DATABASE_URL); the in-memory store has no migrations")
	case c.RedisMode != "single" && c.RedisMode != "cluster" && c.RedisMode != "sentinel":
		return fmt.Errorf("--redis-mode: %q is not single, cluster or sentinel", c.RedisMode)
	case c.RedisMode != "single" && c.RedisURL == "":
		return fmt.Errorf("--redis-mode: %s needs --redis-url", c.RedisMode)
	case c.DashboardSessionTTL < time.Minute:
		return fmt.Errorf("--dashboard-session-ttl: must be at least 1m, got %s", c.DashboardSessionTTL)
	case c.AppCacheTTL <= 0:
		return fmt.Errorf("--app-cache-ttl: must be positive, got %s", c.AppCacheTTL)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return fmt.Errorf("--tls-cert and --tls-key: give both or neither")
	case c.TLSReloadInterval < 100*time.Millisecond:
		return fmt.Errorf("--tls-reload-interval: must be at least 100ms, got %s", c.TLSReloadInterval)
	case c.MetricsAddr != "" && !strings.Contains(c.MetricsAddr, ":"):
		return fmt.Errorf("--metrics-addr: %q is not host:port", c.MetricsAddr)
	}
	if err := c.Billing.validate(); err != nil {
		return err
	}
	if c.RedisURL != "" {
		if _, err := parseRedis(c.RedisMode, c.RedisURL); err != nil {
			return err
		}
	}
	if c.PprofAddr != "" {
		host, _, err := net.SplitHostPort(c.PprofAddr)
		if err != nil {
			return fmt.Errorf("--pprof-addr: %q is not host:port", c.PprofAddr)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--pprof-addr: %q is not a loopback address; profiles expose internals, so only 127.0.0.0/8, ::1 or localhost are allowed", c.PprofAddr)
		}
	}
	return nil
}
