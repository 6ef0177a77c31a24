package loadgen

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func parseIPs(t *testing.T, s string) []net.IP {
	t.Helper()
	var ips []net.IP
	for _, f := range strings.Split(s, ",") {
		ips = append(ips, net.ParseIP(f))
	}
	return ips
}

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "1234 (my (odd) server) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 1000000 500 18446744073709551615"
	c, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if c.user != 2500*time.Millisecond || c.sys != 750*time.Millisecond {
		t.Fatalf("user %s sys %s, want 2.5s 0.75s", c.user, c.sys)
	}
	if _, err := parseProcStat([]byte("1234 (x) S 1 2")); err == nil {
		t.Error("short stat accepted")
	}
}

func TestParseVmRSS(t *testing.T) {
	v, err := parseVmRSS([]byte("Name:\tx\nVmPeak:\t  9999 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n"))
	if err != nil || v != 12345 {
		t.Fatalf("VmRSS = %d, %v", v, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("missing VmRSS accepted")
	}
}

func TestProbeSelf(t *testing.T) {
	p := &serverProbe{pid: os.Getpid()}
	p.startRSS()
	p.startCPU()
	p.sampleRSS()
	r := &Result{}
	p.finish(r, 10, 0, 2)
	if r.Server == nil || r.Server.RSSBeforeKiB <= 0 || r.Server.RSSAfterKiB <= 0 || len(r.Warnings) != 0 {
		t.Fatalf("probe of this process: %+v, warnings %v", r.Server, r.Warnings)
	}
	gone := &serverProbe{pid: 1 << 30}
	gone.startRSS()
	r = &Result{}
	gone.finish(r, 1, 1, 1)
	if len(r.Warnings) == 0 {
		t.Error("a missing server process gave no warning")
	}
}
