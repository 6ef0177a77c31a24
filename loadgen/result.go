package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/internal/selfusage"
)

// Result is one run, as appended to --out (one JSON object per line).
type Result struct {
	Scenario string    `json:"scenario"`
	Label    string    `json:"label,omitempty"`
	Start    time.Time `json:"start"`
	Target   Target    `json:"target"`
	// Params are the scenario's settings (sockets, rate, duration_s, …).
	Params map[string]any `json:"params"`
	// WallS is the length of the measured phase in seconds.
	WallS float64 `json:"wall_s"`
	// Counts are totals: sockets, connect_failures, drops, published,
	// publish_errors, expected, received, lost, … (per scenario).
	Counts map[string]int64 `json:"counts"`
	// Rates are per second: connects_per_s, publish_per_s, delivered_per_s, …
	Rates map[string]float64 `json:"rates"`
	// LatencyMS is end-to-end delivery latency: send timestamp in the
	// payload to receipt; for presence, a join's subscribe to an
	// observer's member_added.
	LatencyMS *Latency `json:"latency_ms,omitempty"`
	// SubscribeLatencyMS is pusher:subscribe → subscription_succeeded.
	SubscribeLatencyMS *Latency `json:"subscribe_latency_ms,omitempty"`
	// ConnectLatencyMS is dial to pusher:connection_established.
	ConnectLatencyMS *Latency `json:"connect_latency_ms,omitempty"`
	// PublishLatencyMS is the HTTP publish request's round trip.
	PublishLatencyMS *Latency     `json:"publish_latency_ms,omitempty"`
	Loadgen          LoadgenStats `json:"loadgen"`
	Server           *ServerStats `json:"server,omitempty"`
	Warnings         []string     `json:"warnings,omitempty"`
	// Compare is set on runs made by `bench compare`.
	Compare *CompareRun `json:"compare,omitempty"`
	// Errors counts failures by a short reason (first words of the error).
	Errors map[string]int64 `json:"errors,omitempty"`

	// hist carries the latency histogram from a child process to its
	// parent; only present in child output.
	Hist string `json:"hist,omitempty"`
}

// Target is the server a run measured.
type Target struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	AppID    string `json:"app_id"`
	Key      string `json:"key"`
	Baseline bool   `json:"baseline,omitempty"`
	Name     string `json:"name,omitempty"`
}

// LoadgenStats is the load generator's own cost. When CPUUtil approaches
// CPUs the figures are the load generator's limit, not the server's.
type LoadgenStats struct {
	Procs    int     `json:"procs"`
	CPUs     int     `json:"cpus"`
	CPUUserS float64 `json:"cpu_user_s"`
	CPUSysS  float64 `json:"cpu_sys_s"`
	CPUS     float64 `json:"cpu_s"`
	// CPUUtil is CPU seconds per wall second (1.0 = one core busy).
	CPUUtil     float64 `json:"cpu_util"`
	CPUUSPerMsg float64 `json:"cpu_us_per_msg,omitempty"`
	MaxRSSKiB   int64   `json:"max_rss_kib"`
}

// ServerStats is what /proc said about the server (--server-pid).
type ServerStats struct {
	PID             int     `json:"pid"`
	CPUUserS        float64 `json:"cpu_user_s"`
	CPUSysS         float64 `json:"cpu_sys_s"`
	CPUS            float64 `json:"cpu_s"`
	CPUUSPerMsg     float64 `json:"cpu_us_per_msg,omitempty"`
	CPUUSPerPublish float64 `json:"cpu_us_per_publish,omitempty"`
	RSSBeforeKiB    int64   `json:"rss_before_kib"`
	RSSAfterKiB     int64   `json:"rss_after_kib"`
	RSSKiBPerSocket float64 `json:"rss_kib_per_socket,omitempty"`
}

// CompareRun places a run in a comparison.
type CompareRun struct {
	Server string `json:"server"`
	Round  int    `json:"round"`
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// loadgenCPU fills r.Loadgen from a CPU delta over wall; perMsg divides it
// per received message (0: not reported).
func (r *Result) loadgenCPU(d cpuTimes, wall time.Duration, perMsg int64) {
	r.Loadgen.Procs = max(r.Loadgen.Procs, 1)
	r.Loadgen.CPUs = runtime.NumCPU()
	r.Loadgen.CPUUserS = round3(d.user.Seconds())
	r.Loadgen.CPUSysS = round3(d.sys.Seconds())
	r.Loadgen.CPUS = round3(d.total().Seconds())
	if wall > 0 {
		r.Loadgen.CPUUtil = round3(d.total().Seconds() / wall.Seconds())
	}
	if perMsg > 0 {
		r.Loadgen.CPUUSPerMsg = round3(float64(d.total().Microseconds()) / float64(perMsg))
	}
	r.Loadgen.MaxRSSKiB = max(r.Loadgen.MaxRSSKiB, selfusage.MaxRSSKiB())
	r.warnIfLoadgenBound()
}

// warnIfLoadgenBound flags a run whose load generator was close to using
// every CPU it may run on: its rates are then a floor for the server.
func (r *Result) warnIfLoadgenBound() {
	cpus := float64(r.Loadgen.CPUs * max(r.Loadgen.Procs, 1))
	if r.Loadgen.Procs > 1 {
		cpus = float64(r.Loadgen.CPUs) // children share the parent's CPUs
	}
	if cpus > 0 && r.Loadgen.CPUUtil >= 0.85*cpus {
		r.Warnings = append(r.Warnings, fmt.Sprintf(
			"load generator used %.2f CPUs of %.0f available: figures may be limited by the load generator, not the server",
			r.Loadgen.CPUUtil, cpus))
	}
}

// appendResult appends r as one JSON line to path (created if needed).
func appendResult(path string, r *Result) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// printSummary writes the human summary of a run.
func printSummary(w io.Writer, r *Result) {
	name := r.Target.Name
	if name == "" {
		name = fmt.Sprintf("%s:%d", r.Target.Host, r.Target.Port)
	}
	fmt.Fprintf(w, "\n== %s against %s (%.1fs)\n", r.Scenario, name, r.WallS)
	fmt.Fprintf(w, "params   %s\n", formatMap(r.Params))
	fmt.Fprintf(w, "counts   %s\n", formatMap(r.Counts))
	fmt.Fprintf(w, "rates    %s\n", formatMap(r.Rates))
	if l := r.LatencyMS; l != nil {
		fmt.Fprintf(w, "latency  %s\n", l)
	}
	if l := r.SubscribeLatencyMS; l != nil {
		fmt.Fprintf(w, "subscribe %s\n", l)
	}
	if l := r.ConnectLatencyMS; l != nil {
		fmt.Fprintf(w, "connect  %s\n", l)
	}
	if l := r.PublishLatencyMS; l != nil {
		fmt.Fprintf(w, "publish  %s\n", l)
	}
	g := r.Loadgen
	fmt.Fprintf(w, "loadgen  cpu %.2fs (user %.2f, sys %.2f) = %.2f of %d CPUs", g.CPUS, g.CPUUserS, g.CPUSysS, g.CPUUtil, g.CPUs)
	if g.CPUUSPerMsg > 0 {
		fmt.Fprintf(w, ", %.1f µs/msg", g.CPUUSPerMsg)
	}
	fmt.Fprintf(w, ", max rss %d KiB, %d proc(s)\n", g.MaxRSSKiB, g.Procs)
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "server   pid %d cpu %.2fs (user %.2f, sys %.2f)", s.PID, s.CPUS, s.CPUUserS, s.CPUSysS)
		if s.CPUUSPerMsg > 0 {
			fmt.Fprintf(w, ", %.1f µs/msg", s.CPUUSPerMsg)
		}
		if s.CPUUSPerPublish > 0 {
			fmt.Fprintf(w, ", %.1f µs/publish", s.CPUUSPerPublish)
		}
		fmt.Fprintf(w, ", rss %d → %d KiB", s.RSSBeforeKiB, s.RSSAfterKiB)
		if s.RSSKiBPerSocket != 0 {
			fmt.Fprintf(w, " (%.2f KiB/socket)", s.RSSKiBPerSocket)
		}
		fmt.Fprintln(w)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "errors   %s\n", formatMap(r.Errors))
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "WARNING  %s\n", s)
	}
}

func (l *Latency) String() string {
	return fmt.Sprintf("ms p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f  (n=%d)",
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean, l.Count)
}

// formatMap prints a map as "k=v k=v" in key order.
func formatMap[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch v := any(m[k]).(type) {
		case float64:
			b.WriteString(k + "=" + formatFloat(v))
		default:
			fmt.Fprintf(&b, "%s=%v", k, v)
		}
	}
	return b.String()
}

// formatFloat prints large values without decimals and small ones with at
// most three: 90210, 12.5, 0.042.
func formatFloat(v float64) string {
	if math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return strconv.FormatFloat(round3(v), 'f', -1, 64)
}
