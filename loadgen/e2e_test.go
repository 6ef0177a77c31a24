package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/testwait"
)

// TestMain lets the test binary stand in for `switchboard bench` when the
// code under test starts children (--procs, compare).
func TestMain(m *testing.M) {
	if os.Getenv("LOADGEN_TEST_CHILD") == "1" {
		if err := Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	selfArgv = func() ([]string, error) { return []string{os.Args[0]}, nil }
	os.Setenv("LOADGEN_TEST_CHILD", "1") // inherited by children only: checked above
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
	bins    = map[string]error{}
)

// buildOnce builds a command into a shared temporary directory, once per
// test binary; it returns the binary's path or the build's error.
func buildOnce(t *testing.T, name, dir string, args ...string) (string, error) {
	t.Helper()
	binOnce.Do(func() { binDir, binErr = os.MkdirTemp("", "loadgen-test-") })
	if binErr != nil {
		t.Fatal(binErr)
	}
	out := filepath.Join(binDir, name)
	if err, done := bins[name]; done {
		return out, err
	}
	cmd := exec.Command("go", append([]string{"build", "-o", out}, args...)...)
	cmd.Dir = dir
	msg, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("go build %s: %v\n%s", name, err, msg)
	}
	bins[name] = err
	return out, err
}

// baselineBinary builds the shared baseline server. Without ../shared the
// test skips, except under CI=true where it fails.
func baselineBinary(t *testing.T) string {
	t.Helper()
	src, _ := filepath.Abs(filepath.Join("..", "..", "shared", "bench", "baseline"))
	if _, err := os.Stat(filepath.Join(src, "main.go")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("baseline server source missing at %s (shared/ must sit beside the repository): %v", src, err)
		}
		t.Skipf("baseline server source missing at %s (shared/ beside the repository): %v", src, err)
	}
	bin, err := buildOnce(t, "sbbase", src, ".")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// switchboardBinary builds this repository's server, or skips while it
// does not build (other packages may be mid-change).
func switchboardBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce(t, "switchboard", "..", "./cmd/switchboard")
	if err != nil {
		t.Skipf("switchboard does not build yet; only the baseline is tested: %v", err)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs a server and waits for its port; it is stopped (by
// PID) when the test ends.
func startServer(t *testing.T, port int, argv ...string) int {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	logf, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	eventually(t, 20*time.Second, func() error {
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s exited: %s", argv[0], b)
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	return cmd.Process.Pid
}

func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	testwait.Eventually(t, d, f)
}

func startBaseline(t *testing.T) (port, pid int) {
	bin := baselineBinary(t)
	port = freePort(t)
	return port, startServer(t, port, bin, "-addr", "127.0.0.1:"+strconv.Itoa(port))
}

func startSwitchboard(t *testing.T) (port, pid int) {
	bin := switchboardBinary(t)
	port = freePort(t)
	return port, startServer(t, port, bin, "serve", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--presence-grace", "0", "--log-level", "warn")
}

// bench runs Main and returns the one result it appended to --out.
func bench(t *testing.T, args ...string) *Result {
	t.Helper()
	out := filepath.Join(t.TempDir(), "results.jsonl")
	var stdout, stderr strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := Main(ctx, append(args, "--out", out), &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench %v: %v\nstderr:\n%s", args, err, stderr.String())
	}
	rs := readResults(t, out)
	if len(rs) != 1 {
		t.Fatalf("%d results in --out, want 1", len(rs))
	}
	if !strings.Contains(stdout.String(), "== "+args[0]) {
		t.Errorf("no summary on stdout:\n%s", stdout.String())
	}
	t.Logf("%s\n%s", stderr.String(), stdout.String())
	return rs[0]
}

func readResults(t *testing.T, path string) []*Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rs []*Result
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, &r)
	}
	return rs
}

// checkDelivery asserts what must hold for any fanout on loopback,
// whatever the timings: everything published arrived, once, and was timed.
func checkDelivery(t *testing.T, r *Result, subs int64) {
	t.Helper()
	c := r.Counts
	if c["sockets"] != subs || c["connect_failures"] != 0 || c["drops"] != 0 {
		t.Errorf("sockets %d (want %d), failures %d, drops %d; errors %v", c["sockets"], subs, c["connect_failures"], c["drops"], r.Errors)
	}
	if c["published"] == 0 || c["publish_errors"] != 0 {
		t.Errorf("published %d, errors %d: %v", c["published"], c["publish_errors"], r.Errors)
	}
	if c["expected"] != c["published"]*subs {
		t.Errorf("expected %d, want published×subs = %d", c["expected"], c["published"]*subs)
	}
	if c["lost"] != 0 || c["received"] != c["expected"] {
		t.Errorf("received %d of %d (lost %d)", c["received"], c["expected"], c["lost"])
	}
	if r.LatencyMS == nil || r.LatencyMS.Count != c["received"] {
		t.Errorf("latency %+v, want one sample per received message (%d)", r.LatencyMS, c["received"])
	}
	if r.Loadgen.CPUS <= 0 || r.Loadgen.Procs != 1 {
		t.Errorf("loadgen stats %+v", r.Loadgen)
	}
}

func TestFanoutBaseline(t *testing.T) {
	port, pid := startBaseline(t)
	r := bench(t, "fanout", "--port", strconv.Itoa(port), "--baseline", "--subs", "50", "--rate", "20",
		"--duration", "1s", "--drain", "10s", "--server-pid", strconv.Itoa(pid))
	checkDelivery(t, r, 50)
	if !r.Target.Baseline || r.Server == nil || r.Server.PID != pid || r.Server.RSSAfterKiB == 0 {
		t.Errorf("target %+v server %+v", r.Target, r.Server)
	}
}

func TestFanoutBaselineSigned(t *testing.T) {
	// The baseline ignores signatures: a signed run works against it too.
	port, _ := startBaseline(t)
	r := bench(t, "fanout", "--port", strconv.Itoa(port), "--subs", "10", "--rate", "10", "--duration", "1s", "--drain", "10s", "--quiet")
	checkDelivery(t, r, 10)
}

func TestConnectionsBaseline(t *testing.T) {
	port, pid := startBaseline(t)
	r := bench(t, "connections", "--port", strconv.Itoa(port), "--sockets", "100", "--hold", "1s", "--server-pid", strconv.Itoa(pid))
	c := r.Counts
	if c["sockets"] != 100 || c["connect_failures"] != 0 || c["drops"] != 0 || c["open_at_end"] != 100 {
		t.Errorf("counts %v errors %v", c, r.Errors)
	}
	if r.Rates["connects_per_s"] <= 0 || r.ConnectLatencyMS == nil || r.ConnectLatencyMS.Count != 100 {
		t.Errorf("rates %v connect latency %+v", r.Rates, r.ConnectLatencyMS)
	}
	if r.Server == nil || r.Server.RSSAfterKiB < r.Server.RSSBeforeKiB {
		t.Errorf("server %+v", r.Server)
	}
}

func TestConnectionsProcsBaseline(t *testing.T) {
	port, pid := startBaseline(t)
	r := bench(t, "connections", "--port", strconv.Itoa(port), "--sockets", "60", "--procs", "2", "--hold", "1s", "--server-pid", strconv.Itoa(pid))
	c := r.Counts
	if c["sockets"] != 60 || c["connect_failures"] != 0 || c["drops"] != 0 {
		t.Errorf("counts %v errors %v warnings %v", c, r.Errors, r.Warnings)
	}
	if r.Loadgen.Procs != 2 || r.ConnectLatencyMS == nil || r.ConnectLatencyMS.Count != 60 {
		t.Errorf("loadgen %+v connect latency %+v", r.Loadgen, r.ConnectLatencyMS)
	}
}

func TestConnectionsRefusedPortFails(t *testing.T) {
	port := freePort(t) // nothing listens
	var stdout, stderr strings.Builder
	err := Main(context.Background(), []string{"connections", "--port", strconv.Itoa(port), "--sockets", "3", "--hold", "1s", "--quiet"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "no socket") {
		t.Fatalf("err = %v, want no socket could be set up", err)
	}
}

func TestSwitchboardScenarios(t *testing.T) {
	port, pid := startSwitchboard(t)
	p, sp := strconv.Itoa(port), strconv.Itoa(pid)
	t.Run("fanout", func(t *testing.T) {
		r := bench(t, "fanout", "--port", p, "--subs", "50", "--rate", "20", "--duration", "1s", "--drain", "10s", "--server-pid", sp, "--quiet")
		checkDelivery(t, r, 50)
		if r.Server == nil || r.Server.CPUUSPerMsg <= 0 && r.Server.CPUS > 0 {
			t.Errorf("server %+v", r.Server)
		}
	})
	t.Run("channels", func(t *testing.T) {
		r := bench(t, "channels", "--port", p, "--channels", "10", "--subs-per-channel", "3", "--rate", "50", "--duration", "1s", "--drain", "10s", "--quiet")
		if c := r.Counts; c["sockets"] != 30 || c["lost"] != 0 || c["received"] != c["published"]*3 {
			t.Errorf("counts %v errors %v", c, r.Errors)
		}
	})
	t.Run("publish", func(t *testing.T) {
		r := bench(t, "publish", "--port", p, "--concurrency", "4", "--subs", "3", "--duration", "1s", "--drain", "10s", "--quiet")
		if c := r.Counts; c["published"] == 0 || c["publish_errors"] != 0 || c["lost"] != 0 {
			t.Errorf("counts %v errors %v", c, r.Errors)
		}
		if r.PublishLatencyMS == nil || r.PublishLatencyMS.Count != r.Counts["published"] {
			t.Errorf("publish latency %+v", r.PublishLatencyMS)
		}
	})
	t.Run("presence", func(t *testing.T) {
		// Twenty sockets at 20 ops/s: each joins, then leaves a second
		// later; the node runs with --presence-grace 0.
		r := bench(t, "presence", "--port", p, "--sockets", "20", "--observers", "2", "--rate", "20", "--duration", "1500ms", "--drain", "10s", "--quiet")
		c := r.Counts
		if c["joins"] == 0 || c["join_errors"] != 0 || c["member_added"] != c["member_added_expected"] || c["member_removed"] != c["member_removed_expected"] {
			t.Errorf("counts %v errors %v", c, r.Errors)
		}
		if r.SubscribeLatencyMS == nil || r.LatencyMS == nil {
			t.Errorf("latencies: subscribe %+v member_added %+v", r.SubscribeLatencyMS, r.LatencyMS)
		}
	})
	t.Run("client-events", func(t *testing.T) {
		r := bench(t, "client-events", "--port", p, "--pairs", "5", "--rate", "20", "--duration", "1s", "--drain", "10s", "--quiet")
		if c := r.Counts; c["sent"] == 0 || c["received"] != c["sent"] || c["rate_limited"] != 0 || c["sockets"] != 10 {
			t.Errorf("counts %v errors %v", c, r.Errors)
		}
	})
}

func TestCompare(t *testing.T) {
	base := baselineBinary(t)
	sb := switchboardBinary(t)
	p1, p2 := freePort(t), freePort(t)
	out := filepath.Join(t.TempDir(), "compare.jsonl")
	args := []string{"--scenario", "fanout", "--subs", "10", "--rate", "10", "--duration", "1s", "--drain", "10s", "--quiet",
		"--runs", "1", "--out", out, "--log-dir", t.TempDir(), "--stop-grace", "5s",
		"--server", fmt.Sprintf("name=switchboard,cmd=%s serve --host 127.0.0.1 --port %d,port=%d", sb, p1, p1),
		"--server", fmt.Sprintf("name=baseline,cmd=%s -addr 127.0.0.1:%d,port=%d,baseline=true", base, p2, p2),
	}
	var stdout, stderr strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := Main(ctx, append([]string{"compare"}, args...), &stdout, &stderr); err != nil {
		t.Fatalf("compare: %v\n%s", err, stderr.String())
	}
	t.Log(stdout.String())
	rs := readResults(t, out)
	if len(rs) != 2 || rs[0].Compare == nil || rs[0].Compare.Server != "switchboard" || rs[1].Target.Name != "baseline" || !rs[1].Target.Baseline {
		t.Fatalf("results: %d, first %+v", len(rs), rs[0].Compare)
	}
	for _, r := range rs {
		if r.Counts["lost"] != 0 || r.Counts["received"] == 0 || r.Server == nil {
			t.Errorf("%s: counts %v server %+v", r.Target.Name, r.Counts, r.Server)
		}
	}
	if !strings.Contains(stdout.String(), "÷switchboard") || !strings.Contains(stdout.String(), "latency p99 ms") {
		t.Errorf("no comparison table:\n%s", stdout.String())
	}
	// Both servers were stopped: their ports are free again.
	for _, p := range []int{p1, p2} {
		if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			c.Close()
			t.Errorf("port %d still open after compare", p)
		}
	}
}
