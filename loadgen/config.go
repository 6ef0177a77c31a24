package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Hard caps: every run is bounded in time and count whatever the flags say.
const (
	maxDuration    = 10 * time.Minute
	maxSockets     = 1_000_000 // across every process of a run
	maxRate        = 1_000_000 // events or operations per second
	maxProcs       = 64
	maxPublishers  = 256
	maxConcurrency = 1024
	maxPayload     = 10 << 10 // Pusher's data limit
	minPayload     = 64       // room for the stamp and sequence
	fdReserve      = 64       // files kept free per process (HTTP pool, /proc, logs)
)

// scenarios lists what `switchboard bench` runs, in usage order.
var scenarios = []string{"connections", "fanout", "channels", "publish", "presence", "client-events"}

// Config is every setting of one scenario run. Each scenario registers
// only the flags it reads, with its own defaults.
type Config struct {
	Scenario string

	Host        string
	Port        int
	AppID       string
	Key         string
	Secret      string
	AllowRemote bool
	// Baseline publishes unsigned, for the shared baseline server (which
	// ignores signatures) and refuses the scenarios it cannot serve.
	Baseline bool

	Duration  time.Duration
	Out       string
	ServerPID int
	SourceIPs []net.IP
	// WSPorts spreads the sockets round-robin over several nodes' ports
	// (publishes still go to Port); empty means Port.
	WSPorts []int
	Payload int
	Label   string
	Quiet   bool
	// Reconnect opens a dropped socket again (fanout, channels, publish).
	Reconnect bool

	SetupTimeout       time.Duration
	ConnectConcurrency int
	ConnectRate        float64

	// connections
	Sockets int
	Hold    time.Duration
	Procs   int

	// fanout, channels, publish
	Subs           int
	Channels       int
	SubsPerChannel int
	Rate           float64
	Publishers     int
	Concurrency    int
	Drain          time.Duration

	// presence
	Observers         int
	MembersPerChannel int

	// client-events
	Pairs int

	// child is set on processes started by --procs: the result goes to
	// stdout as JSON and setup is synchronised with the parent.
	child bool
	// sync makes a child wait at the start barrier (see childLink).
	sync bool
}

// parseConfig parses the flags of one scenario.
func parseConfig(scenario string, args []string, stderr io.Writer) (*Config, error) {
	c := &Config{Scenario: scenario, Procs: 1}
	fs := flag.NewFlagSet("switchboard bench "+scenario, flag.ContinueOnError)
	fs.SetOutput(stderr)

	fs.StringVar(&c.Host, "host", "127.0.0.1", "server host; must be loopback unless --allow-remote")
	fs.IntVar(&c.Port, "port", 6001, "server port (WebSockets and HTTP API)")
	wsPorts := fs.String("ws-ports", "", "comma-separated ports of several nodes: sockets are spread over them round-robin, publishes go to --port")
	fs.StringVar(&c.AppID, "app-id", "app-id", "app id (HTTP API path)")
	fs.StringVar(&c.Key, "key", "app-key", "app key (WebSocket path, signatures)")
	fs.StringVar(&c.Secret, "secret", "app-secret", "app secret (signs HTTP requests and channel auth)")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a non-loopback --host (only for hosts you run)")
	fs.BoolVar(&c.Baseline, "baseline", false, "target the shared baseline server: unsigned publishes, public channels only")
	fs.StringVar(&c.Out, "out", "", "append one JSON object per run to this file (e.g. results.jsonl)")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "server process id: report its CPU time and RSS from /proc")
	srcIPs := fs.String("source-ips", "", "comma-separated loopback source addresses (127.0.0.2,127.0.0.3…); the next is used when one runs out of ports")
	fs.StringVar(&c.Label, "label", "", "free text stored with the result")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress line")
	fs.BoolVar(&c.Reconnect, "reconnect", false, "open a socket the server closes again and resubscribe, as Pusher's clients do (fanout, channels, publish); what it misses meanwhile counts as lost")
	fs.DurationVar(&c.SetupTimeout, "setup-timeout", 60*time.Second, "time allowed to open and subscribe every socket")
	fs.IntVar(&c.ConnectConcurrency, "connect-concurrency", 64, "sockets being opened at once")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 0, "new sockets per second (0: as fast as --connect-concurrency allows)")
	fs.BoolVar(&c.child, "child", false, "internal: print the result as JSON on stdout (children of --procs and compare)")
	fs.BoolVar(&c.sync, "sync", false, "internal: wait for the parent's go after opening the sockets")

	duration := func(def time.Duration) {
		fs.DurationVar(&c.Duration, "duration", def, "length of the measured phase (cap 10m)")
	}
	payload := func() {
		fs.IntVar(&c.Payload, "payload", 128, "event data size in bytes (64–10240)")
	}
	drain := func() {
		fs.DurationVar(&c.Drain, "drain", 2*time.Second, "after the last send, wait at most this long for outstanding messages")
	}
	publishers := func() {
		fs.IntVar(&c.Publishers, "publishers", 4, "HTTP publishing connections (keep-alive pool)")
	}

	switch scenario {
	case "connections":
		fs.IntVar(&c.Sockets, "sockets", 1000, "idle sockets to open (across every process)")
		fs.DurationVar(&c.Hold, "hold", 10*time.Second, "how long to hold them open (cap 10m)")
		fs.IntVar(&c.Procs, "procs", 1, "load-generator processes (each holds at most ~19.9k sockets)")
	case "fanout":
		fs.IntVar(&c.Subs, "subs", 100, "subscribers of the one channel")
		fs.Float64Var(&c.Rate, "rate", 20, "events published per second")
		duration(10 * time.Second)
		payload()
		drain()
		publishers()
	case "channels":
		fs.IntVar(&c.Channels, "channels", 100, "channels")
		fs.IntVar(&c.SubsPerChannel, "subs-per-channel", 2, "subscribers per channel")
		fs.Float64Var(&c.Rate, "rate", 100, "events published per second, round-robin over the channels")
		duration(10 * time.Second)
		payload()
		drain()
		publishers()
	case "publish":
		fs.IntVar(&c.Concurrency, "concurrency", 32, "HTTP requests in flight (one keep-alive connection each)")
		fs.IntVar(&c.Subs, "subs", 5, "subscribers of the channel (delivery is measured too)")
		duration(10 * time.Second)
		payload()
		drain()
	case "presence":
		fs.IntVar(&c.Sockets, "sockets", 100, "churning sockets")
		fs.IntVar(&c.MembersPerChannel, "members-per-channel", 50, "churning sockets per presence channel (Pusher caps members at 100)")
		fs.IntVar(&c.Observers, "observers", 2, "sockets per channel that stay subscribed and count member_added/member_removed")
		fs.Float64Var(&c.Rate, "rate", 100, "subscribe or unsubscribe operations per second, round-robin over the sockets")
		duration(10 * time.Second)
		fs.DurationVar(&c.Drain, "drain", 5*time.Second, "after the last operation, wait at most this long for member events (longer than the server's presence grace)")
	case "client-events":
		fs.IntVar(&c.Pairs, "pairs", 50, "socket pairs, each on its own private channel; one sends, the other receives")
		fs.Float64Var(&c.Rate, "rate", 100, "client events per second in total (Pusher's default limit is 10/s per socket)")
		duration(10 * time.Second)
		payload()
		drain()
	default:
		return nil, fmt.Errorf("unknown scenario %q (one of %s)", scenario, strings.Join(scenarios, ", "))
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *wsPorts != "" {
		for _, s := range strings.Split(*wsPorts, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 || n > 65535 {
				return nil, fmt.Errorf("--ws-ports: %q is not a port number", s)
			}
			c.WSPorts = append(c.WSPorts, n)
		}
	}
	if *srcIPs != "" {
		for _, s := range strings.Split(*srcIPs, ",") {
			ip := net.ParseIP(strings.TrimSpace(s))
			if ip == nil {
				return nil, fmt.Errorf("--source-ips: %q is not an IP address", s)
			}
			c.SourceIPs = append(c.SourceIPs, ip)
		}
	}
	if scenario == "connections" {
		c.Duration = c.Hold
	}
	return c, c.validate()
}

// isLoopback reports whether host names this machine's loopback.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// fdBudget is how many sockets one process may open: the open-file limit
// (Go raises the soft limit to the hard one at start-up) less a reserve.
func fdBudget() int {
	limit := openFileLimit()
	if limit == 0 || limit > math.MaxInt32 {
		return 1 << 20
	}
	return max(int(limit)-fdReserve, 1)
}

// sockets is how many WebSockets this run opens in this process.
func (c *Config) sockets() int {
	switch c.Scenario {
	case "connections":
		return (c.Sockets + c.Procs - 1) / c.Procs
	case "fanout", "publish":
		return c.Subs
	case "channels":
		return c.Channels * c.SubsPerChannel
	case "presence":
		return c.Sockets + c.presenceChannels()*c.Observers
	case "client-events":
		return 2 * c.Pairs
	}
	return 0
}

func (c *Config) presenceChannels() int {
	return (c.Sockets + c.MembersPerChannel - 1) / max(c.MembersPerChannel, 1)
}

// validate checks every flag against its cap; the message names the flag.
func (c *Config) validate() error {
	switch {
	case c.Host == "":
		return errors.New("--host: empty")
	case !c.AllowRemote && !isLoopback(c.Host):
		return fmt.Errorf("--host: %q is not a loopback address; the load generator only targets this machine unless --allow-remote is given", c.Host)
	case c.Port <= 0 || c.Port > 65535:
		return fmt.Errorf("--port: %d is not a port number", c.Port)
	case c.AppID == "" || c.Key == "" || c.Secret == "":
		return errors.New("--app-id, --key and --secret must not be empty")
	case c.Duration <= 0 || c.Duration > maxDuration:
		name := "--duration"
		if c.Scenario == "connections" {
			name = "--hold"
		}
		return fmt.Errorf("%s: %s is not in (0, %s]", name, c.Duration, maxDuration)
	case c.SetupTimeout <= 0 || c.SetupTimeout > maxDuration:
		return fmt.Errorf("--setup-timeout: %s is not in (0, %s]", c.SetupTimeout, maxDuration)
	case c.Drain < 0 || c.Drain > time.Minute:
		return fmt.Errorf("--drain: %s is not in [0, 1m]", c.Drain)
	case c.ConnectConcurrency < 1 || c.ConnectConcurrency > 4096:
		return fmt.Errorf("--connect-concurrency: %d is not in [1, 4096]", c.ConnectConcurrency)
	case c.ConnectRate < 0 || c.ConnectRate > maxRate:
		return fmt.Errorf("--connect-rate: %g is not in [0, %d]", c.ConnectRate, maxRate)
	case c.ServerPID < 0:
		return fmt.Errorf("--server-pid: %d is negative", c.ServerPID)
	case c.Procs < 1 || c.Procs > maxProcs:
		return fmt.Errorf("--procs: %d is not in [1, %d]", c.Procs, maxProcs)
	}
	for _, ip := range c.SourceIPs {
		if !c.AllowRemote && !ip.IsLoopback() {
			return fmt.Errorf("--source-ips: %s is not a loopback address", ip)
		}
	}
	if c.Baseline && (c.Scenario == "presence" || c.Scenario == "client-events") {
		return fmt.Errorf("--baseline: the baseline server has no %s (it serves public channels and HTTP publishes only)", c.Scenario)
	}
	if c.Payload != 0 && (c.Payload < minPayload || c.Payload > maxPayload) {
		return fmt.Errorf("--payload: %d is not in [%d, %d]", c.Payload, minPayload, maxPayload)
	}
	if err := c.validateScenario(); err != nil {
		return err
	}
	if n, budget := c.sockets(), fdBudget(); n > budget {
		hint := ""
		if c.Scenario == "connections" {
			hint = "; use --procs to split them over several processes"
		}
		return fmt.Errorf("%d sockets in one process exceed the open-file budget of %d%s", n, budget, hint)
	}
	return nil
}

func (c *Config) validateScenario() error {
	rate := func() error {
		if c.Rate <= 0 || c.Rate > maxRate {
			return fmt.Errorf("--rate: %g is not in (0, %d]", c.Rate, maxRate)
		}
		return nil
	}
	publishers := func() error {
		if c.Publishers < 1 || c.Publishers > maxPublishers {
			return fmt.Errorf("--publishers: %d is not in [1, %d]", c.Publishers, maxPublishers)
		}
		return nil
	}
	switch c.Scenario {
	case "connections":
		if c.Sockets < 1 || c.Sockets > maxSockets {
			return fmt.Errorf("--sockets: %d is not in [1, %d]", c.Sockets, maxSockets)
		}
		if c.Procs > c.Sockets {
			return fmt.Errorf("--procs: %d processes for %d sockets", c.Procs, c.Sockets)
		}
	case "fanout":
		if c.Subs < 1 || c.Subs > maxSockets {
			return fmt.Errorf("--subs: %d is not in [1, %d]", c.Subs, maxSockets)
		}
		if err := rate(); err != nil {
			return err
		}
		return publishers()
	case "channels":
		if c.Channels < 1 || c.Channels > 100_000 {
			return fmt.Errorf("--channels: %d is not in [1, 100000]", c.Channels)
		}
		if c.SubsPerChannel < 1 || c.SubsPerChannel > maxSockets {
			return fmt.Errorf("--subs-per-channel: %d is not in [1, %d]", c.SubsPerChannel, maxSockets)
		}
		if err := rate(); err != nil {
			return err
		}
		return publishers()
	case "publish":
		if c.Concurrency < 1 || c.Concurrency > maxConcurrency {
			return fmt.Errorf("--concurrency: %d is not in [1, %d]", c.Concurrency, maxConcurrency)
		}
		if c.Subs < 0 || c.Subs > 1000 {
			return fmt.Errorf("--subs: %d is not in [0, 1000]", c.Subs)
		}
	case "presence":
		if c.Sockets < 1 || c.Sockets > maxSockets {
			return fmt.Errorf("--sockets: %d is not in [1, %d]", c.Sockets, maxSockets)
		}
		if c.MembersPerChannel < 1 || c.MembersPerChannel > 100 {
			return fmt.Errorf("--members-per-channel: %d is not in [1, 100] (Pusher's member cap)", c.MembersPerChannel)
		}
		if c.Observers < 0 || c.Observers > 100-c.MembersPerChannel {
			return fmt.Errorf("--observers: %d is not in [0, %d] (members and observers share the 100-member cap)", c.Observers, 100-c.MembersPerChannel)
		}
		return rate()
	case "client-events":
		if c.Pairs < 1 || c.Pairs > maxSockets/2 {
			return fmt.Errorf("--pairs: %d is not in [1, %d]", c.Pairs, maxSockets/2)
		}
		return rate()
	}
	return nil
}

// params is the scenario's settings as stored in the result.
func (c *Config) params() map[string]any {
	p := map[string]any{}
	switch c.Scenario {
	case "connections":
		p["sockets"], p["hold_s"], p["procs"] = c.Sockets, c.Hold.Seconds(), c.Procs
	case "fanout":
		p["subs"], p["rate"], p["publishers"] = c.Subs, c.Rate, c.Publishers
	case "channels":
		p["channels"], p["subs_per_channel"], p["rate"], p["publishers"] = c.Channels, c.SubsPerChannel, c.Rate, c.Publishers
	case "publish":
		p["concurrency"], p["subs"] = c.Concurrency, c.Subs
	case "presence":
		p["sockets"], p["channels"], p["observers_per_channel"], p["rate"] = c.Sockets, c.presenceChannels(), c.Observers, c.Rate
	case "client-events":
		p["pairs"], p["rate"] = c.Pairs, c.Rate
	}
	if c.Scenario != "connections" {
		p["duration_s"] = c.Duration.Seconds()
	}
	if c.Payload > 0 {
		p["payload_bytes"] = c.Payload
	}
	if c.ConnectRate > 0 {
		p["connect_rate"] = c.ConnectRate
	}
	if len(c.SourceIPs) > 0 {
		ips := make([]string, len(c.SourceIPs))
		for i, ip := range c.SourceIPs {
			ips[i] = ip.String()
		}
		p["source_ips"] = strings.Join(ips, ",")
	}
	return p
}

func (c *Config) target() Target {
	return Target{Host: c.Host, Port: c.Port, AppID: c.AppID, Key: c.Key, Baseline: c.Baseline}
}
