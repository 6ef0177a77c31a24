package loadgen

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestConfigRefusesNonLoopback(t *testing.T) {
	for _, host := range []string{"10.0.0.1", "192.168.1.10", "8.8.8.8", "example.com", "0.0.0.0"} {
		_, err := parseConfig("fanout", []string{"--host", host}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--host") {
			t.Errorf("--host %s: err = %v, want a refusal naming --host", host, err)
		}
	}
	for _, host := range []string{"127.0.0.1", "127.0.0.5", "localhost", "::1", "[::1]"} {
		if _, err := parseConfig("fanout", []string{"--host", host}, io.Discard); err != nil {
			t.Errorf("--host %s: %v, want accepted", host, err)
		}
	}
	if _, err := parseConfig("fanout", []string{"--host", "10.0.0.1", "--allow-remote"}, io.Discard); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
	if _, err := parseConfig("connections", []string{"--source-ips", "127.0.0.2,10.1.1.1"}, io.Discard); err == nil || !strings.Contains(err.Error(), "--source-ips") {
		t.Errorf("non-loopback source ip: err = %v", err)
	}
	if _, err := parseConfig("connections", []string{"--source-ips", "127.0.0.2,nope"}, io.Discard); err == nil {
		t.Error("bad source ip accepted")
	}
}

func TestConfigCaps(t *testing.T) {
	tests := []struct {
		scenario string
		args     []string
		want     string // in the error
	}{
		{"fanout", []string{"--duration", "11m"}, "--duration"},
		{"fanout", []string{"--duration", "0s"}, "--duration"},
		{"connections", []string{"--hold", "1h"}, "--hold"},
		{"fanout", []string{"--rate", "0"}, "--rate"},
		{"fanout", []string{"--rate", "2000000"}, "--rate"},
		{"fanout", []string{"--payload", "10"}, "--payload"},
		{"fanout", []string{"--payload", "20000"}, "--payload"},
		{"fanout", []string{"--publishers", "0"}, "--publishers"},
		{"fanout", []string{"--subs", "0"}, "--subs"},
		{"fanout", []string{"--drain", "2m"}, "--drain"},
		{"publish", []string{"--concurrency", "5000"}, "--concurrency"},
		{"channels", []string{"--channels", "0"}, "--channels"},
		{"connections", []string{"--sockets", "2000000"}, "--sockets"},
		{"connections", []string{"--procs", "100"}, "--procs"},
		{"connections", []string{"--sockets", "5", "--procs", "6"}, "--procs"},
		{"connections", []string{"--sockets", "900000"}, "--procs"}, // over one process's files
		{"presence", []string{"--members-per-channel", "101"}, "--members-per-channel"},
		{"presence", []string{"--observers", "60"}, "--observers"},
		{"presence", []string{"--baseline"}, "--baseline"},
		{"client-events", []string{"--baseline"}, "--baseline"},
		{"client-events", []string{"--pairs", "0"}, "--pairs"},
		{"fanout", []string{"--port", "70000"}, "--port"},
		{"fanout", []string{"--key", ""}, "--key"},
		{"fanout", []string{"extra"}, "unexpected argument"},
		{"nope", nil, "unknown scenario"},
	}
	for _, tt := range tests {
		_, err := parseConfig(tt.scenario, tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %v: err = %v, want one mentioning %q", tt.scenario, tt.args, err, tt.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig("fanout", nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "127.0.0.1" || c.Port != 6001 || c.AppID != "app-id" || c.Key != "app-key" || c.Secret != "app-secret" {
		t.Errorf("target defaults: %+v", c.target())
	}
	if c.Duration != 10*time.Second || c.Payload != 128 || c.Subs != 100 || c.Rate != 20 {
		t.Errorf("fanout defaults: duration %s payload %d subs %d rate %g", c.Duration, c.Payload, c.Subs, c.Rate)
	}
	c, err = parseConfig("connections", []string{"--sockets", "30000", "--procs", "2"}, io.Discard)
	if err != nil {
		t.Fatalf("30000 sockets over 2 processes: %v", err)
	}
	if c.sockets() != 15000 || c.Duration != c.Hold {
		t.Errorf("per-process sockets %d, duration %s (hold %s)", c.sockets(), c.Duration, c.Hold)
	}
}

func TestChildSourceIPs(t *testing.T) {
	c := &Config{Host: "127.0.0.1", Procs: 3}
	ips, warn := childSourceIPs(c)
	if warn != "" || len(ips) != 3 || ips[0][0].String() != "127.0.0.2" || ips[2][0].String() != "127.0.0.4" {
		t.Errorf("automatic: %v %q", ips, warn)
	}
	c.SourceIPs = parseIPs(t, "127.0.0.10,127.0.0.11,127.0.0.12,127.0.0.13")
	c.Procs = 2
	ips, _ = childSourceIPs(c)
	if joinIPs(ips[0]) != "127.0.0.10,127.0.0.12" || joinIPs(ips[1]) != "127.0.0.11,127.0.0.13" {
		t.Errorf("split: %v", ips)
	}
	c.Procs = 6
	if _, warn := childSourceIPs(c); warn == "" {
		t.Error("fewer addresses than processes: no warning")
	}
}

func TestServerSpec(t *testing.T) {
	sp, err := parseServerSpec("name=switchboard,cmd=/bin/switchboard serve --port 6101 --tags a,b,port=6101")
	if err != nil {
		t.Fatal(err)
	}
	if sp.Name != "switchboard" || sp.Port != 6101 || sp.Host != "127.0.0.1" ||
		strings.Join(sp.Cmd, " ") != "/bin/switchboard serve --port 6101 --tags a,b" {
		t.Errorf("parsed %+v", sp)
	}
	for _, bad := range []string{
		"cmd=x,port=1",            // no name
		"name=a,port=1",           // no cmd
		"name=a,cmd=x",            // no port
		"name=a,cmd=x,port=99999", // bad port
		"name=a,cmd=x,port=1,host=10.0.0.1",
		"name=a,cmd=x,port=1,colour=red",
	} {
		if _, err := parseServerSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCompareArgs(t *testing.T) {
	args := []string{"--scenario", "fanout", "--subs", "10", "--runs=2", "--restart",
		"--server", "name=a,cmd=/bin/a,port=6101", "--server", "name=b,cmd=/bin/b,port=6102", "--rate", "5", "--reference", "b"}
	c, err := parseCompare(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.scenario != "fanout" || c.runs != 2 || len(c.servers) != 2 || c.reference != "b" || !c.restart {
		t.Errorf("parsed %+v", c)
	}
	if got := strings.Join(c.scenarioArgs, " "); got != "--subs 10 --rate 5" {
		t.Errorf("scenario args %q", got)
	}
	got := strings.Join(c.runArgs(c.servers[1], 42), " ")
	if got != "fanout --subs 10 --rate 5 --host 127.0.0.1 --port 6102 --child --server-pid 42" {
		t.Errorf("run args %q", got)
	}
	for _, bad := range [][]string{
		{"--server", "name=a,cmd=/bin/a,port=1"}, // no scenario
		{"--scenario", "fanout"},                 // no server
		{"--scenario", "fanout", "--server", "name=a,cmd=/bin/a,port=1", "--port", "5"},                  // port is compare's
		{"--scenario", "fanout", "--server", "name=a,cmd=/bin/a,port=1", "--runs", "50"},                 // cap
		{"--scenario", "fanout", "--server", "name=a,cmd=/bin/a,port=1", "--rate", "0"},                  // bad scenario flag
		{"--scenario", "fanout", "--server", "name=a,cmd=/bin/a,port=1", "--reference", "zz"},            // unknown reference
		{"--scenario", "fanout", "--server", "name=a,cmd=/a,port=1", "--server", "name=a,cmd=/b,port=2"}, // duplicate
	} {
		if _, err := parseCompare(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("odd: %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("even: %v", m)
	}
}
