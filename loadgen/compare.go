package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// serverSpec is one --server of bench compare.
type serverSpec struct {
	Name     string
	Cmd      []string
	Host     string
	Port     int
	Baseline bool
}

var specKey = regexp.MustCompile(`^(name|cmd|port|host|baseline)=`)

// parseServerSpec reads 'name=NAME,cmd=COMMAND ARGS,port=PORT' (plus
// optional host=, baseline=true). The command is split on spaces, with
// no shell; a comma inside it is kept when what follows is not a key.
func parseServerSpec(s string) (serverSpec, error) {
	sp := serverSpec{Host: "127.0.0.1"}
	var parts []string
	for _, f := range strings.Split(s, ",") {
		if len(parts) > 0 && !specKey.MatchString(f) {
			parts[len(parts)-1] += "," + f
			continue
		}
		parts = append(parts, f)
	}
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return sp, fmt.Errorf("--server %q: %q is not key=value", s, p)
		}
		switch k {
		case "name":
			sp.Name = v
		case "cmd":
			sp.Cmd = strings.Fields(v)
		case "host":
			sp.Host = v
		case "port":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > 65535 {
				return sp, fmt.Errorf("--server %q: port %q is not a port number", s, v)
			}
			sp.Port = n
		case "baseline":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return sp, fmt.Errorf("--server %q: baseline=%q is not true or false", s, v)
			}
			sp.Baseline = b
		default:
			return sp, fmt.Errorf("--server %q: unknown key %q (name, cmd, port, host, baseline)", s, k)
		}
	}
	switch {
	case sp.Name == "":
		return sp, fmt.Errorf("--server %q: name= is required", s)
	case len(sp.Cmd) == 0:
		return sp, fmt.Errorf("--server %q: cmd= is required", s)
	case sp.Port == 0:
		return sp, fmt.Errorf("--server %q: port= is required (the port the command listens on)", s)
	case !isLoopback(sp.Host):
		return sp, fmt.Errorf("--server %q: host %q is not loopback; compare starts servers on this machine", s, sp.Host)
	}
	return sp, nil
}

type compareConfig struct {
	scenario      string
	scenarioArgs  []string
	servers       []serverSpec
	runs          int
	reference     string
	tasksetServer string
	tasksetClient string
	out           string
	restart       bool
	startTimeout  time.Duration
	stopGrace     time.Duration
	logDir        string
}

type serverList []serverSpec

func (l *serverList) String() string { return fmt.Sprint(len(*l), " servers") }
func (l *serverList) Set(s string) error {
	sp, err := parseServerSpec(s)
	if err != nil {
		return err
	}
	for _, o := range *l {
		if o.Name == sp.Name {
			return fmt.Errorf("--server: name %q given twice", sp.Name)
		}
		if o.Port == sp.Port {
			return fmt.Errorf("--server: port %d given twice", sp.Port)
		}
	}
	*l = append(*l, sp)
	return nil
}

// compareFlags are compare's own flags; every other flag belongs to the
// scenario. Boolean flags are listed so their value is not taken from
// the next argument.
var compareFlags = map[string]bool{ // name → takes a value
	"scenario": true, "runs": true, "server": true, "reference": true,
	"taskset-server": true, "taskset-client": true, "out": true,
	"restart": false, "start-timeout": true, "stop-grace": true, "log-dir": true,
}

// splitCompareArgs separates compare's flags from the scenario's.
func splitCompareArgs(args []string) (own, scenario []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		takesValue, ok := compareFlags[name]
		if !strings.HasPrefix(a, "-") || !ok {
			scenario = append(scenario, a)
			continue
		}
		own = append(own, a)
		if takesValue && !hasValue && i+1 < len(args) {
			i++
			own = append(own, args[i])
		}
	}
	return own, scenario
}

func parseCompare(args []string, stderr io.Writer) (*compareConfig, error) {
	own, rest := splitCompareArgs(args)
	c := &compareConfig{scenarioArgs: rest}
	var servers serverList
	fs := flag.NewFlagSet("switchboard bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.scenario, "scenario", "", "scenario to run against every server (required)")
	fs.IntVar(&c.runs, "runs", 3, "rounds; each round runs the scenario once per server, in --server order (1–20)")
	fs.Var(&servers, "server", "'name=NAME,cmd=COMMAND ARGS,port=PORT[,host=127.0.0.1][,baseline=true]'; repeat for each server (2–8)")
	fs.StringVar(&c.reference, "reference", "", "server the ratios are relative to (default: the first)")
	fs.StringVar(&c.tasksetServer, "taskset-server", "", "pin every server to these CPUs (taskset -c)")
	fs.StringVar(&c.tasksetClient, "taskset-client", "", "pin the load generator to these CPUs (taskset -c)")
	fs.StringVar(&c.out, "out", "", "append every run's JSON result to this file")
	fs.BoolVar(&c.restart, "restart", true, "start each server afresh for every run (false: start once, keep for every round)")
	fs.DurationVar(&c.startTimeout, "start-timeout", 20*time.Second, "time a server has to open its port")
	fs.DurationVar(&c.stopGrace, "stop-grace", 15*time.Second, "after SIGTERM, time before SIGKILL")
	fs.StringVar(&c.logDir, "log-dir", "", "directory for the servers' output (default: a new temporary directory)")
	if err := fs.Parse(own); err != nil {
		return nil, err
	}
	c.servers = servers
	switch {
	case c.scenario == "":
		return nil, errors.New("--scenario is required")
	case c.scenario == "compare":
		return nil, errors.New("--scenario: compare cannot compare itself")
	case len(c.servers) < 1 || len(c.servers) > 8:
		return nil, fmt.Errorf("--server: %d given, want 1 to 8", len(c.servers))
	case c.runs < 1 || c.runs > 20:
		return nil, fmt.Errorf("--runs: %d is not in [1, 20]", c.runs)
	case c.startTimeout <= 0 || c.startTimeout > 5*time.Minute:
		return nil, fmt.Errorf("--start-timeout: %s is not in (0, 5m]", c.startTimeout)
	case c.stopGrace < 0 || c.stopGrace > 5*time.Minute:
		return nil, fmt.Errorf("--stop-grace: %s is not in [0, 5m]", c.stopGrace)
	}
	if c.reference == "" {
		c.reference = c.servers[0].Name
	} else if c.serverIndex(c.reference) < 0 {
		return nil, fmt.Errorf("--reference: no --server named %q", c.reference)
	}
	for _, f := range []string{"host", "port", "server-pid", "out", "child", "sync"} {
		for _, a := range rest {
			if n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && n == f {
				return nil, fmt.Errorf("--%s: set by compare for each server; remove it", f)
			}
		}
	}
	// Fail now, not after starting servers, if the scenario flags are wrong.
	for _, sp := range c.servers {
		if _, err := parseConfig(c.scenario, c.runArgs(sp, 0)[1:], stderr); err != nil {
			return nil, fmt.Errorf("scenario flags for %s: %w", sp.Name, err)
		}
	}
	if (c.tasksetServer != "" || c.tasksetClient != "") && !hasTaskset() {
		return nil, errors.New("--taskset-server/--taskset-client: taskset not found (util-linux)")
	}
	return c, nil
}

func hasTaskset() bool { _, err := exec.LookPath("taskset"); return err == nil }

func (c *compareConfig) serverIndex(name string) int {
	for i, s := range c.servers {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// runArgs are the child's arguments for one run against sp.
func (c *compareConfig) runArgs(sp serverSpec, pid int) []string {
	a := append([]string{c.scenario}, c.scenarioArgs...)
	a = append(a, "--host", sp.Host, "--port", strconv.Itoa(sp.Port))
	a = append(a, "--child")
	if pid > 0 {
		a = append(a, "--server-pid", strconv.Itoa(pid))
	}
	if sp.Baseline && !contains(c.scenarioArgs, "--baseline") {
		a = append(a, "--baseline")
	}
	return a
}

// server is a running server process.
type server struct {
	spec serverSpec
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

func (c *compareConfig) startServer(ctx context.Context, sp serverSpec, stderr io.Writer) (*server, error) {
	addr := net.JoinHostPort(sp.Host, strconv.Itoa(sp.Port))
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%s: something already listens on %s; stop it first (compare must measure the server it started)", sp.Name, addr)
	}
	argv := sp.Cmd
	if c.tasksetServer != "" {
		argv = append([]string{"taskset", "-c", c.tasksetServer}, argv...)
	}
	logf, err := os.OpenFile(filepath.Join(c.logDir, sp.Name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("%s: start: %w", sp.Name, err)
	}
	s := &server{spec: sp, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(c.startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			fmt.Fprintf(stderr, "compare: %s up (pid %d) on %s\n", sp.Name, cmd.Process.Pid, addr)
			return s, nil
		}
		select {
		case <-s.done:
			_ = logf.Close()
			return nil, fmt.Errorf("%s: exited before opening %s (%s); see %s", sp.Name, addr, cmd.ProcessState, logf.Name())
		case <-ctx.Done():
			s.stop(0)
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop(0)
			return nil, fmt.Errorf("%s: port %s not open after %s; see %s", sp.Name, addr, c.startTimeout, logf.Name())
		}
	}
}

// stop sends SIGTERM to the server's PID, then SIGKILL after grace.
func (s *server) stop(grace time.Duration) {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-s.done:
		case <-t.C:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		t.Stop()
	}
	_ = s.log.Close()
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseCompare(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bench compare: %w", err)
	}
	if c.logDir == "" {
		if c.logDir, err = os.MkdirTemp("", "switchboard-bench-"); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "compare: %s × %d rounds over %d servers; server logs in %s\n", c.scenario, c.runs, len(c.servers), c.logDir)

	running := make([]*server, len(c.servers))
	defer func() {
		for _, s := range running {
			if s != nil {
				s.stop(c.stopGrace)
			}
		}
	}()
	var clientPrefix []string
	if c.tasksetClient != "" {
		clientPrefix = []string{"taskset", "-c", c.tasksetClient}
	}
	results := make([][]*Result, len(c.servers))
	for round := 1; round <= c.runs; round++ {
		for i, sp := range c.servers {
			if running[i] == nil {
				if running[i], err = c.startServer(ctx, sp, stderr); err != nil {
					return fmt.Errorf("bench compare: %w", err)
				}
			}
			fmt.Fprintf(stderr, "compare: round %d/%d: %s %s\n", round, c.runs, c.scenario, sp.Name)
			ch, err := startChild(ctx, clientPrefix, c.runArgs(sp, running[i].cmd.Process.Pid), stderr)
			if err != nil {
				return fmt.Errorf("bench compare: %w", err)
			}
			<-ch.done
			if c.restart {
				running[i].stop(c.stopGrace)
				running[i] = nil
			}
			if ch.result == nil {
				return fmt.Errorf("bench compare: %s round %d: %w", sp.Name, round, ch.err)
			}
			r := ch.result
			r.Hist = ""
			r.Target.Name = sp.Name
			r.Compare = &CompareRun{Server: sp.Name, Round: round}
			printSummary(stdout, r)
			if err := appendResult(c.out, r); err != nil {
				return err
			}
			results[i] = append(results[i], r)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	printComparison(stdout, c, results)
	return nil
}

// metric is one figure of the comparison table.
type metric struct {
	name string
	get  func(*Result) (float64, bool)
}

func count(k string) metric {
	return metric{k, func(r *Result) (float64, bool) { v, ok := r.Counts[k]; return float64(v), ok }}
}

func rateOf(k string) metric {
	return metric{k, func(r *Result) (float64, bool) { v, ok := r.Rates[k]; return v, ok }}
}

func lat(name string, pick func(*Result) *Latency, p func(*Latency) float64) metric {
	return metric{name, func(r *Result) (float64, bool) {
		if l := pick(r); l != nil {
			return p(l), true
		}
		return 0, false
	}}
}

func latencies(prefix string, pick func(*Result) *Latency) []metric {
	return []metric{
		lat(prefix+" p50 ms", pick, func(l *Latency) float64 { return l.P50 }),
		lat(prefix+" p90 ms", pick, func(l *Latency) float64 { return l.P90 }),
		lat(prefix+" p99 ms", pick, func(l *Latency) float64 { return l.P99 }),
		lat(prefix+" p99.9 ms", pick, func(l *Latency) float64 { return l.P999 }),
		lat(prefix+" max ms", pick, func(l *Latency) float64 { return l.Max }),
	}
}

func serverMetric(name string, f func(*ServerStats) float64) metric {
	return metric{name, func(r *Result) (float64, bool) {
		if r.Server == nil {
			return 0, false
		}
		v := f(r.Server)
		return v, v != 0
	}}
}

var loadgenMetrics = []metric{
	{"loadgen cpu util", func(r *Result) (float64, bool) { return r.Loadgen.CPUUtil, true }},
	{"loadgen µs/msg", func(r *Result) (float64, bool) { return r.Loadgen.CPUUSPerMsg, r.Loadgen.CPUUSPerMsg > 0 }},
}

func metricsFor(scenario string) []metric {
	var m []metric
	switch scenario {
	case "connections":
		m = append(m, count("sockets"), count("connect_failures"), count("drops"), rateOf("connects_per_s"))
		m = append(m, latencies("connect", func(r *Result) *Latency { return r.ConnectLatencyMS })...)
		m = append(m, serverMetric("server KiB/socket", func(s *ServerStats) float64 { return s.RSSKiBPerSocket }))
	case "presence":
		m = append(m, rateOf("ops_per_s"), rateOf("member_events_per_s"), count("member_added"), count("member_removed"), count("join_errors"))
		m = append(m, latencies("join→added", func(r *Result) *Latency { return r.LatencyMS })...)
		m = append(m, latencies("subscribe", func(r *Result) *Latency { return r.SubscribeLatencyMS })[:3]...)
	default:
		m = append(m, rateOf("delivered_per_s"), rateOf("publish_per_s"), rateOf("sent_per_s"), count("lost"), count("publish_errors"))
		m = append(m, latencies("latency", func(r *Result) *Latency { return r.LatencyMS })...)
		m = append(m, latencies("publish", func(r *Result) *Latency { return r.PublishLatencyMS })[:3]...)
		m = append(m, serverMetric("server µs/msg", func(s *ServerStats) float64 { return s.CPUUSPerMsg }),
			serverMetric("server µs/publish", func(s *ServerStats) float64 { return s.CPUUSPerPublish }),
			serverMetric("server KiB/socket", func(s *ServerStats) float64 { return s.RSSKiBPerSocket }))
	}
	m = append(m, serverMetric("server cpu s", func(s *ServerStats) float64 { return s.CPUS }))
	return append(m, loadgenMetrics...)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// printComparison prints, per metric, each server's median over its runs
// and its ratio to the reference server's median.
func printComparison(w io.Writer, c *compareConfig, results [][]*Result) {
	ref := c.serverIndex(c.reference)
	fmt.Fprintf(w, "\n== compare %s: medians of %d runs; ratios to %s\n", c.scenario, c.runs, c.reference)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "metric\t")
	for i, s := range c.servers {
		fmt.Fprintf(tw, "%s\t", s.Name)
		if i != ref {
			fmt.Fprintf(tw, "÷%s\t", c.reference)
		}
	}
	fmt.Fprintln(tw)
	for _, m := range metricsFor(c.scenario) {
		meds := make([]float64, len(c.servers))
		have := make([]bool, len(c.servers))
		seen := false
		for i := range c.servers {
			var vals []float64
			for _, r := range results[i] {
				if v, ok := m.get(r); ok {
					vals = append(vals, v)
				}
			}
			if len(vals) > 0 {
				meds[i], have[i], seen = median(vals), true, true
			}
		}
		if !seen {
			continue
		}
		fmt.Fprintf(tw, "%s\t", m.name)
		for i := range c.servers {
			if have[i] {
				fmt.Fprintf(tw, "%s\t", formatFloat(meds[i]))
			} else {
				fmt.Fprint(tw, "-\t")
			}
			if i != ref {
				if have[i] && have[ref] && meds[ref] != 0 {
					fmt.Fprintf(tw, "%.2f\t", meds[i]/meds[ref])
				} else {
					fmt.Fprint(tw, "-\t")
				}
			}
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
}
