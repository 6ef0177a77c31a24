package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// Main runs `switchboard bench <scenario> [flags]` (args start at the
// scenario) and `switchboard bench compare …`. The summary goes to
// stdout, progress and diagnostics to stderr, and with --out one JSON
// object per run is appended to a file.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("bench: no scenario given")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "compare":
		return runCompare(ctx, args[1:], stdout, stderr)
	}
	cfg, err := parseConfig(args[0], args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bench %s: %w", args[0], err)
	}
	res, err := Run(ctx, cfg, stdout, stderr)
	if err != nil {
		return fmt.Errorf("bench %s: %w", cfg.Scenario, err)
	}
	if cfg.child {
		return json.NewEncoder(stdout).Encode(res)
	}
	printSummary(stdout, res)
	return appendResult(cfg.Out, res)
}

// Run runs one scenario and returns its result. Its time is bounded by
// the hard cap whatever ctx allows: setup, the measured phase, the drain
// and a margin for closing.
func Run(ctx context.Context, cfg *Config, stdout, stderr io.Writer) (*Result, error) {
	limit := cfg.SetupTimeout + cfg.Duration + cfg.Drain + 30*time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	switch cfg.Scenario {
	case "connections":
		if cfg.Procs > 1 {
			return runConnectionsMulti(ctx, cfg, stderr)
		}
		var link *childLink
		if cfg.sync {
			link = &childLink{out: stdout, in: os.Stdin}
		}
		return runConnections(ctx, cfg, stderr, link)
	case "fanout", "channels", "publish":
		return runDelivery(ctx, cfg, stderr)
	case "presence":
		return runPresence(ctx, cfg, stderr)
	case "client-events":
		return runClientEvents(ctx, cfg, stderr)
	}
	return nil, fmt.Errorf("unknown scenario %q", cfg.Scenario)
}

const usage = `usage: switchboard bench <scenario> [flags]
       switchboard bench compare --scenario <scenario> --server 'name=…,cmd=…,port=…' … [flags]

Load generator for any Pusher-compatible server on this machine (loopback
only unless --allow-remote). Every run is bounded (--duration and --hold
are capped at 10m), prints a progress line per second to stderr, a
summary to stdout, and with --out appends one JSON object per run.

scenarios:
  connections    open --sockets idle sockets, hold them --hold; connect rate,
                 failures, drops, server RSS per socket (--server-pid).
                 One process holds ~19.9k sockets: --procs N splits the work
                 over N processes, each with its own source address.
  fanout         --subs sockets on one channel, events published through the
                 signed HTTP API at --rate for --duration; delivered/s, loss,
                 end-to-end latency percentiles.
  channels       --channels channels × --subs-per-channel sockets; publishes
                 round-robin over the channels at --rate.
  publish        HTTP publish throughput and latency at --concurrency
                 requests in flight, with a few --subs subscribers.
  presence       --sockets sockets join and leave presence channels (signed
                 channel_data) at --rate operations/s; --observers count
                 member_added / member_removed.
  client-events  --pairs of sockets on private channels; one of each pair
                 sends client events (total --rate/s), the other times them.
  compare        start each --server, run a scenario against each in turn
                 (A B A B, --runs rounds), print medians and ratios.

common flags: --host 127.0.0.1 --port 6001 --app-id app-id --key app-key
  --secret app-secret --out results.jsonl --server-pid PID --baseline
  --source-ips 127.0.0.2,127.0.0.3 --label TEXT --quiet

See 'switchboard bench <scenario> -h' for a scenario's flags, and
docs/bench.md for methods and caveats.
`
