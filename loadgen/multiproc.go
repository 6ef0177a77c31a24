package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// One process may hold about 19,900 sockets here (the open-file limit is
// 20,000 and cannot be raised), and one source address has about 28,000
// ephemeral ports towards one server port. --procs therefore re-executes
// `switchboard bench connections` as child processes, gives each a share
// of the sockets and its own loopback source address, starts their hold
// together and adds their results up.

// selfArgv is the command line that runs `switchboard bench` again. Tests
// replace it with the test binary.
var selfArgv = func() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("--procs: cannot find own executable: %w", err)
	}
	return []string{exe, "bench"}, nil
}

// childLink is a child's side of the start barrier: it reports its
// sockets open and waits for the parent's go.
type childLink struct {
	out io.Writer
	in  io.Reader
}

func (l *childLink) ready(ctx context.Context, connected int64) error {
	fmt.Fprintf(l.out, "READY %d\n", connected)
	got := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(l.in).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "GO" {
			err = fmt.Errorf("unexpected %q", line)
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			return fmt.Errorf("child: parent went away before the hold: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// child is a load-generator process started by this one.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ready  chan int64 // sockets open, once
	done   chan struct{}
	result *Result // set before done closes, if the child printed one
	err    error   // set before done closes
}

// startChild runs prefix + argv + args, forwarding its stderr. Its stdout
// carries "READY n" lines and finally one JSON result.
func startChild(ctx context.Context, prefix, args []string, stderr io.Writer) (*child, error) {
	argv, err := selfArgv()
	if err != nil {
		return nil, err
	}
	argv = append(append(append([]string(nil), prefix...), argv...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	c := &child{cmd: cmd, stdin: stdin, ready: make(chan int64, 1), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case len(line) > 0 && line[0] == '{':
				var r Result
				if err := json.Unmarshal(line, &r); err != nil {
					c.err = fmt.Errorf("child result: %w", err)
				} else {
					c.result = &r
				}
			case strings.HasPrefix(string(line), "READY "):
				n, _ := strconv.ParseInt(strings.TrimSpace(string(line[6:])), 10, 64)
				select {
				case c.ready <- n:
				default:
				}
			}
		}
		if err := cmd.Wait(); err != nil && c.err == nil {
			c.err = fmt.Errorf("child %d: %w", cmd.Process.Pid, err)
		}
		if c.result == nil && c.err == nil {
			c.err = fmt.Errorf("child %d printed no result", cmd.Process.Pid)
		}
	}()
	return c, nil
}

// forwardArgs are the flags every child of this run shares.
func (c *Config) forwardArgs() []string {
	a := []string{
		"--host", c.Host, "--port", strconv.Itoa(c.Port),
		"--app-id", c.AppID, "--key", c.Key, "--secret", c.Secret,
		"--setup-timeout", c.SetupTimeout.String(),
		"--connect-concurrency", strconv.Itoa(c.ConnectConcurrency),
	}
	if c.AllowRemote {
		a = append(a, "--allow-remote")
	}
	if len(c.WSPorts) > 0 {
		ports := make([]string, len(c.WSPorts))
		for i, p := range c.WSPorts {
			ports[i] = strconv.Itoa(p)
		}
		a = append(a, "--ws-ports", strings.Join(ports, ","))
	}
	if c.Baseline {
		a = append(a, "--baseline")
	}
	if c.ConnectRate > 0 {
		a = append(a, "--connect-rate", strconv.FormatFloat(c.ConnectRate/float64(c.Procs), 'g', -1, 64))
	}
	return a
}

// childSourceIPs gives each child its source addresses: a disjoint share
// of --source-ips, or, when none are given and the target is IPv4
// loopback, 127.0.0.(2+i) — every 127/8 address is local on Linux, so no
// set-up is needed.
func childSourceIPs(cfg *Config) (ips [][]net.IP, warning string) {
	ips = make([][]net.IP, cfg.Procs)
	switch src := cfg.SourceIPs; {
	case len(src) >= cfg.Procs:
		for i, ip := range src {
			ips[i%cfg.Procs] = append(ips[i%cfg.Procs], ip)
		}
	case len(src) > 0:
		for i := range ips {
			ips[i] = []net.IP{src[i%len(src)]}
		}
		warning = fmt.Sprintf("%d source addresses for %d processes: some share one, and its ~28k ports", len(src), cfg.Procs)
	default:
		ip := net.ParseIP(cfg.Host)
		if cfg.Host == "localhost" {
			ip = net.IPv4(127, 0, 0, 1)
		}
		if ip == nil || ip.To4() == nil || !ip.IsLoopback() || cfg.Procs > 250 {
			return ips, "no --source-ips: every process shares the default source address"
		}
		for i := range ips {
			ips[i] = []net.IP{net.IPv4(127, 0, 0, byte(2+i))}
		}
	}
	return ips, warning
}

func joinIPs(ips []net.IP) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ",")
}

// runConnectionsMulti is the parent of a --procs run.
func runConnectionsMulti(ctx context.Context, cfg *Config, stderr io.Writer) (*Result, error) {
	res := newResult(cfg)
	probe := &serverProbe{pid: cfg.ServerPID}
	probe.startRSS()
	probe.startCPU()
	ips, warning := childSourceIPs(cfg)
	if warning != "" {
		res.Warnings = append(res.Warnings, warning)
	}
	start := time.Now()
	childCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	children := make([]*child, 0, cfg.Procs)
	defer func() {
		for _, c := range children {
			_ = c.stdin.Close()
			<-c.done
		}
	}()
	for i := 0; i < cfg.Procs; i++ {
		share := cfg.Sockets / cfg.Procs
		if i < cfg.Sockets%cfg.Procs {
			share++
		}
		args := append([]string{"connections", "--child", "--quiet",
			"--sockets", strconv.Itoa(share), "--hold", cfg.Hold.String()}, cfg.forwardArgs()...)
		if len(ips[i]) > 0 {
			args = append(args, "--source-ips", joinIPs(ips[i]))
		}
		c, err := startChild(childCtx, nil, append(args, "--sync"), stderr)
		if err != nil {
			return nil, err
		}
		children = append(children, c)
	}

	// Barrier: every child has opened its sockets (or died trying).
	var open int64
	readyTimeout := time.NewTimer(cfg.SetupTimeout + 30*time.Second)
	defer readyTimeout.Stop()
	for i, c := range children {
		select {
		case n := <-c.ready:
			open += n
			if !cfg.Quiet {
				fmt.Fprintf(stderr, "[%5.1fs] process %d/%d ready: %d sockets (%d in all so far)\n", time.Since(start).Seconds(), i+1, len(children), n, open)
			}
		case <-c.done:
		case <-readyTimeout.C:
			return nil, fmt.Errorf("--procs: children not ready after %s", cfg.SetupTimeout+30*time.Second)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	probe.sampleRSS()
	for _, c := range children {
		_, _ = io.WriteString(c.stdin, "GO\n")
	}
	holdStart := time.Now()
	prog := startProgress(ctx, stderr, cfg.Quiet, func(_, _ time.Duration) string {
		held := time.Since(holdStart)
		if held >= cfg.Hold {
			// Closing: the server's RSS now includes teardown, not sockets.
			return fmt.Sprintf("closing %d sockets in %d processes", open, len(children))
		}
		probe.sampleRSS()
		return fmt.Sprintf("holding %d sockets in %d processes (%.0fs of %s); server rss %d KiB", open, len(children), held.Seconds(), cfg.Hold, probe.rssAfter)
	})
	var results []*Result
	var errs []error
	for _, c := range children {
		<-c.done
		if c.result != nil {
			results = append(results, c.result)
		}
		if c.err != nil {
			errs = append(errs, c.err)
		}
	}
	prog.stop()
	if len(results) == 0 {
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		res.Warnings = append(res.Warnings, err.Error())
	}
	if err := mergeConnections(res, results, time.Since(start)); err != nil {
		return nil, err
	}
	probe.finish(res, 0, 0, res.Counts["sockets"])
	return res, nil
}

// mergeConnections adds the children's results into res.
func mergeConnections(res *Result, results []*Result, wall time.Duration) error {
	res.Counts = map[string]int64{}
	res.Errors = nil
	h := newHDR()
	var connectS float64
	var cpu cpuTimes
	for _, r := range results {
		for k, v := range r.Counts {
			res.Counts[k] += v
		}
		for k, v := range r.Errors {
			if res.Errors == nil {
				res.Errors = map[string]int64{}
			}
			res.Errors[k] += v
		}
		connectS = max(connectS, r.Rates["connect_s"])
		cpu.user += time.Duration(r.Loadgen.CPUUserS * float64(time.Second))
		cpu.sys += time.Duration(r.Loadgen.CPUSysS * float64(time.Second))
		res.Loadgen.MaxRSSKiB = max(res.Loadgen.MaxRSSKiB, r.Loadgen.MaxRSSKiB)
		ch, err := decodeHist(r.Hist)
		if err != nil {
			return fmt.Errorf("child histogram: %w", err)
		}
		h.Merge(ch)
		for _, w := range r.Warnings {
			if !contains(res.Warnings, w) {
				res.Warnings = append(res.Warnings, w)
			}
		}
	}
	res.WallS = round3(wall.Seconds())
	res.Rates = map[string]float64{"connect_s": connectS}
	if connectS > 0 {
		res.Rates["connects_per_s"] = round3(float64(res.Counts["sockets"]) / connectS)
	}
	res.ConnectLatencyMS = summarize(h)
	procs := len(results)
	res.Loadgen = LoadgenStats{Procs: procs, MaxRSSKiB: res.Loadgen.MaxRSSKiB}
	res.loadgenCPU(cpu, wall, 0)
	res.Loadgen.Procs = procs
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
