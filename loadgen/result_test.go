package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func sampleResult() *Result {
	h := newHistogram()
	for i := 1; i <= 100; i++ {
		h.record(i, int64(i)*100)
	}
	return &Result{
		Scenario:  "fanout",
		Start:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Target:    Target{Host: "127.0.0.1", Port: 6001, AppID: "app-id", Key: "app-key"},
		Params:    map[string]any{"subs": 100, "rate": 20.0, "duration_s": 10.0},
		WallS:     10,
		Counts:    map[string]int64{"expected": 20000, "received": 19990, "lost": 10},
		Rates:     map[string]float64{"delivered_per_s": 1999},
		LatencyMS: summarize(h.merged()),
		Loadgen:   LoadgenStats{Procs: 1, CPUs: 2, CPUS: 1.5, CPUUtil: 0.15},
		Server:    &ServerStats{PID: 42, CPUS: 2, RSSBeforeKiB: 1000, RSSAfterKiB: 3000, RSSKiBPerSocket: 20},
	}
}

// TestResultJSONShape pins the field names downstream tools read.
func TestResultJSONShape(t *testing.T) {
	b, err := json.Marshal(sampleResult())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var v any = m
		for _, k := range strings.Split(path, ".") {
			obj, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = obj[k]
		}
		return v
	}
	for _, path := range []string{
		"scenario", "start", "target.host", "target.port", "target.app_id", "target.key",
		"params.subs", "params.rate", "params.duration_s", "wall_s",
		"counts.expected", "counts.received", "counts.lost", "rates.delivered_per_s",
		"latency_ms.count", "latency_ms.p50", "latency_ms.p90", "latency_ms.p99", "latency_ms.p999", "latency_ms.max", "latency_ms.mean",
		"loadgen.procs", "loadgen.cpus", "loadgen.cpu_user_s", "loadgen.cpu_sys_s", "loadgen.cpu_s", "loadgen.cpu_util", "loadgen.max_rss_kib",
		"server.pid", "server.cpu_s", "server.rss_before_kib", "server.rss_after_kib", "server.rss_kib_per_socket",
	} {
		if get(path) == nil {
			t.Errorf("%s missing from %s", path, b)
		}
	}
	for _, absent := range []string{"hist", "publish_latency_ms", "compare", "warnings", "errors", "label"} {
		if _, ok := m[absent]; ok {
			t.Errorf("%s present although empty", absent)
		}
	}
	if got := get("latency_ms.p99").(float64); got < 9.8 || got > 10 {
		t.Errorf("latency_ms.p99 = %v, want ≈9.9 (milliseconds, not µs)", got)
	}
	if get("start") != "2026-01-02T03:04:05Z" {
		t.Errorf("start = %v", get("start"))
	}
}

func TestAppendResultJSONL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	for i := 0; i < 2; i++ {
		if err := appendResult(path, sampleResult()); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v", lines+1, err)
		}
		lines++
	}
	if lines != 2 {
		t.Fatalf("%d lines, want 2 (one per run)", lines)
	}
	if err := appendResult("", sampleResult()); err != nil {
		t.Errorf("no --out: %v", err)
	}
}

func TestSummaryAndWarnings(t *testing.T) {
	r := sampleResult()
	// Every CPU busy for the whole run: the load generator was the limit.
	n := time.Duration(runtime.NumCPU())
	r.loadgenCPU(cpuTimes{user: n * 5 * time.Second, sys: n * 5 * time.Second}, 10*time.Second, 1000)
	var buf bytes.Buffer
	printSummary(&buf, r)
	out := buf.String()
	for _, want := range []string{"fanout", "p99", "loadgen", "server", "KiB/socket", "WARNING"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if want := float64(n) * 10000; r.Loadgen.CPUUSPerMsg != want {
		t.Errorf("cpu µs/msg = %v, want %v", r.Loadgen.CPUUSPerMsg, want)
	}
}
